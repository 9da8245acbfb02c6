import type { EntityManager } from '@mikro-orm/postgresql';

/** The two independent failure counters of an account. */
export type LockoutCounter = 'password' | 'mfa';

const COLUMNS: Record<LockoutCounter, { count: string; until: string }> = {
  password: { count: 'failed_login_count', until: 'locked_until' },
  mfa: { count: 'failed_mfa_count', until: 'mfa_locked_until' },
};

export interface LockoutPolicy {
  threshold: number;
  seconds: number;
}

/** Whether a lock is in force at `now`; a lock ends by time alone. */
export function isLocked(until: Date | null | undefined, now: Date): boolean {
  return !!until && until.getTime() > now.getTime();
}

/**
 * Counts one failure in a single UPDATE, so concurrent guesses cannot overwrite each other's
 * count. Reaching the threshold locks the account until `now + seconds` and restarts the count,
 * so the next lock needs a full run of failures again. Returns whether this failure locked it.
 */
export async function recordFailure(
  em: EntityManager,
  userId: string,
  counter: LockoutCounter,
  policy: LockoutPolicy,
  now: Date,
): Promise<boolean> {
  const { count, until } = COLUMNS[counter];
  const lockedUntilIso = new Date(now.getTime() + policy.seconds * 1000).toISOString();
  const rows = await em.execute<{ locked: boolean }[]>(
    `UPDATE users SET
       ${until} = CASE WHEN ${count} + 1 >= ? THEN ?::timestamptz ELSE ${until} END,
       ${count} = CASE WHEN ${count} + 1 >= ? THEN 0 ELSE ${count} + 1 END,
       updated_at = ?::timestamptz
     WHERE id = ?
     RETURNING ${until} = ?::timestamptz AS locked`,
    [policy.threshold, lockedUntilIso, policy.threshold, now.toISOString(), userId, lockedUntilIso],
  );
  return rows[0]?.locked === true;
}
