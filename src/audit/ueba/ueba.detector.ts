import { CHECKS } from './ueba.checks';
import { baselineOf, unrelatedCount } from './ueba.features';
import {
  DEFAULT_DETECTOR_OPTIONS,
  type Baseline,
  type DetectorOptions,
  type Finding,
  type UebaFacts,
  type UserDay,
} from './ueba.types';

/** Calendar arithmetic on YYYY-MM-DD strings. */
export function addDays(day: string, n: number): string {
  const t = Date.parse(`${day}T00:00:00Z`) + n * 86_400_000;
  return new Date(t).toISOString().slice(0, 10);
}

/**
 * The detector core, pure: user-days in (history and the days to judge), findings out. Each user-day from `fromDay`
 * to `toDay` (inclusive) is judged against a baseline of that user's previous `lookbackDays` days; a user with fewer
 * than `minHistoryDays` active days there is judged against the pooled days of the other users of their role.
 */
export function detect(
  days: UserDay[],
  range: { fromDay: string; toDay: string },
  facts: UebaFacts,
  options: DetectorOptions = DEFAULT_DETECTOR_OPTIONS,
): Finding[] {
  const byUser = new Map<string, UserDay[]>();
  const byRole = new Map<string, UserDay[]>();
  for (const d of days) {
    push(byUser, d.userId, d);
    push(byRole, d.role, d);
  }
  const unrelatedMemo = new Map<UserDay, number>();
  const unrelated = (d: UserDay): number => {
    let n = unrelatedMemo.get(d);
    if (n === undefined) {
      n = unrelatedCount(d, facts);
      unrelatedMemo.set(d, n);
    }
    return n;
  };
  const peerMemo = new Map<string, Baseline>();
  const peerBaseline = (role: string, day: string): Baseline => {
    const key = `${role}|${day}`;
    let b = peerMemo.get(key);
    if (!b) {
      // Pooled over users of the role who have their own history, so one new user's burst does not set the norm.
      const from = addDays(day, -options.lookbackDays);
      const pool = (byRole.get(role) ?? []).filter((d) => d.day >= from && d.day < day);
      const seasoned = new Set<string>();
      const counts = new Map<string, number>();
      for (const d of pool) counts.set(d.userId, (counts.get(d.userId) ?? 0) + 1);
      for (const [user, n] of counts) if (n >= options.minHistoryDays) seasoned.add(user);
      // A new deployment has no seasoned user yet: then every user-day of the role is the norm.
      b = baselineOf(seasoned.size > 0 ? pool.filter((d) => seasoned.has(d.userId)) : pool, unrelated, 'peer');
      peerMemo.set(key, b);
    }
    return b;
  };

  const findings: Finding[] = [];
  for (const [, userDays] of byUser) {
    for (const day of userDays) {
      if (day.day < range.fromDay || day.day > range.toDay) continue;
      const from = addDays(day.day, -options.lookbackDays);
      const history = userDays.filter((d) => d.day >= from && d.day < day.day);
      const baseline =
        history.length >= options.minHistoryDays
          ? baselineOf(history, unrelated, 'own')
          : peerBaseline(day.role, day.day);
      const input = { day, baseline, facts, unrelated: unrelated(day), options };
      for (const check of CHECKS) {
        const found = check(input);
        if (found) findings.push(found);
      }
    }
  }
  return findings;
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}
