import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';

import type { Actor } from '../graphql/context';
import { AppError, badUserInput, notFound } from '../graphql/errors';
import type { PhiVault } from '../keys/phi-vault';
import { isUuid } from '../db/ids';
import { BreakGlassGrant } from './break-glass-grant.entity';
import { assertPatientExists } from './care-team.service';

/** A second factor at least this recent is needed to break the glass (for accounts with TOTP). */
export const BREAK_GLASS_MFA_MAX_AGE_MS = 10 * 60_000;
export const REASON_MIN_LENGTH = 10;
export const REASON_MAX_LENGTH = 500;
/** Most grants one listing returns, newest first. */
export const MAX_LISTED_GRANTS = 500;

type GrantRow = {
  id: string;
  patient_id: string;
  user_id: string;
  created_at: Date | string;
  expires_at: Date | string;
  revoked_at: Date | string | null;
  revoked_by: string | null;
};

const GRANT_COLUMNS = 'id, patient_id, user_id, created_at, expires_at, revoked_at, revoked_by';

function toDate(value: Date | string): Date {
  return value instanceof Date ? value : new Date(value);
}

/** A grant as the API shows it; the sealed reason is never read back. */
function toGrant(row: GrantRow): BreakGlassGrant {
  return Object.assign(new BreakGlassGrant(), {
    id: row.id,
    patientId: row.patient_id,
    userId: row.user_id,
    createdAt: toDate(row.created_at),
    expiresAt: toDate(row.expires_at),
    revokedAt: row.revoked_at === null ? null : toDate(row.revoked_at),
    revokedBy: row.revoked_by,
  });
}

/** The justification, trimmed and checked for length; the message never repeats it. */
export function validReason(reason: string): string {
  const trimmed = typeof reason === 'string' ? reason.trim() : '';
  const length = [...trimmed].length;
  if (length < REASON_MIN_LENGTH || length > REASON_MAX_LENGTH) {
    throw badUserInput(`reason must be ${REASON_MIN_LENGTH} to ${REASON_MAX_LENGTH} characters`, 'reason');
  }
  return trimmed;
}

/**
 * Break-glass: time-limited emergency access by a PHYSICIAN or NURSE outside the care team to one
 * patient. The access service honours a grant while it is neither expired nor revoked, checked on
 * every request, so revocation and expiry take effect at once. Times come from the database clock,
 * the same clock that check uses.
 */
export class BreakGlassService {
  constructor(
    private readonly vault: PhiVault,
    private readonly minutes: number,
  ) {}

  /**
   * Opens a grant for `actor` to one patient. `record` runs inside the transaction after the grant
   * row is written (security event, audit row): if it fails, the grant is rolled back, so no grant
   * exists without its records.
   */
  async grant(
    em: EntityManager,
    actor: Actor,
    patientId: string,
    reason: string,
    record: (grant: BreakGlassGrant, minutes: number, em: EntityManager) => Promise<void>,
  ): Promise<BreakGlassGrant> {
    const justification = validReason(reason);
    await this.assertFreshSecondFactor(em, actor);
    await assertPatientExists(em, patientId);
    const [member] = await em.execute('SELECT 1 FROM care_team_members WHERE patient_id = ? AND user_id = ?', [
      patientId,
      actor.userId,
    ]);
    if (member) throw badUserInput('You are on this patient’s care team; break-glass is not needed', 'patientId');

    return em.transactional(async (tem) => {
      const sealed = Object.assign(new BreakGlassGrant(), { id: randomUUID(), patientId, userId: actor.userId });
      await this.vault.assign(tem, sealed, { reason: justification });
      const [row] = await tem.execute<GrantRow[]>(
        `INSERT INTO break_glass_grants (id, patient_id, user_id, reason, created_at, expires_at)
         VALUES (?, ?, ?, ?, now(), now() + make_interval(mins => ?)) RETURNING ${GRANT_COLUMNS}`,
        [sealed.id, patientId, actor.userId, sealed.reason, this.minutes],
      );
      const grant = toGrant(row);
      await record(grant, this.minutes, tem);
      return grant;
    });
  }

  /**
   * Grants newest first, at most MAX_LISTED_GRANTS: every clinician's when `ownerId` is null, else
   * that clinician's only; `activeOnly` keeps those neither expired nor revoked.
   */
  async list(em: EntityManager, ownerId: string | null, activeOnly: boolean): Promise<BreakGlassGrant[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (ownerId !== null) {
      where.push('user_id = ?');
      params.push(ownerId);
    }
    if (activeOnly) where.push('revoked_at IS NULL AND expires_at > now()');
    const rows = await em.execute<GrantRow[]>(
      `SELECT ${GRANT_COLUMNS} FROM break_glass_grants ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY created_at DESC, id DESC LIMIT ${MAX_LISTED_GRANTS}`,
      params,
    );
    return rows.map(toGrant);
  }

  /** One grant, or null (also for ids that cannot exist). */
  async find(em: EntityManager, grantId: string): Promise<BreakGlassGrant | null> {
    if (!isUuid(grantId)) return null;
    const sql = `SELECT ${GRANT_COLUMNS} FROM break_glass_grants WHERE id = ?`;
    const [row] = await em.execute<GrantRow[]>(sql, [grantId]);
    return row ? toGrant(row) : null;
  }

  /**
   * Ends a grant at once: PRIVACY_OFFICER and ADMIN any grant, a clinician only their own (someone
   * else's answers like a missing one). Revoking an ended grant changes nothing; returns the grant.
   */
  async revoke(em: EntityManager, actor: Actor, grantId: string): Promise<BreakGlassGrant> {
    const grant = await this.find(em, grantId);
    const mayRevoke = actor.role === 'PRIVACY_OFFICER' || actor.role === 'ADMIN' || grant?.userId === actor.userId;
    if (!grant || !mayRevoke) throw notFound('Break-glass grant');
    await em.execute(
      'UPDATE break_glass_grants SET revoked_at = now(), revoked_by = ? WHERE id = ? AND revoked_at IS NULL',
      [actor.userId, grant.id],
    );
    return grant;
  }

  /** FORBIDDEN when the account has TOTP and the session's last second-factor check is too old. */
  private async assertFreshSecondFactor(em: EntityManager, actor: Actor): Promise<void> {
    type Row = { totp_enabled_at: unknown };
    const [user] = await em.execute<Row[]>('SELECT totp_enabled_at FROM users WHERE id = ?', [actor.userId]);
    if (!user?.totp_enabled_at) return;
    const fresh = actor.mfaAt !== undefined && Date.now() - actor.mfaAt.getTime() <= BREAK_GLASS_MFA_MAX_AGE_MS;
    if (!fresh) {
      const message = 'Break-glass needs a recent second factor: confirm it with stepUpMfa, then try again';
      throw new AppError(message, 'FORBIDDEN');
    }
  }
}
