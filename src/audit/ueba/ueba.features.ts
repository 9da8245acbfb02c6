import type { Baseline, HourActivity, Spread, UebaFacts, UserDay } from './ueba.types';

/** Folds hourly activity into user-days, sorted by user then day (pure). */
export function toUserDays(hours: Iterable<HourActivity>): UserDay[] {
  const byKey = new Map<string, { day: UserDay; patients: Set<string>; ips: Set<string> }>();
  for (const h of hours) {
    const key = `${h.userId}|${h.day}`;
    let entry = byKey.get(key);
    if (!entry) {
      const day: UserDay = {
        userId: h.userId,
        role: h.role,
        day: h.day,
        reads: 0,
        hourly: new Array<number>(24).fill(0),
        patientIds: [],
        ips: [],
      };
      entry = { day, patients: new Set(), ips: new Set() };
      byKey.set(key, entry);
    }
    entry.day.reads += h.reads;
    entry.day.hourly[h.hour] += h.reads;
    for (const p of h.patientIds) entry.patients.add(p);
    for (const ip of h.ips) entry.ips.add(ip);
  }
  const days = [...byKey.values()].map(({ day, patients, ips }) => ({
    ...day,
    patientIds: [...patients],
    ips: [...ips],
  }));
  return days.sort((a, b) => (a.userId === b.userId ? a.day.localeCompare(b.day) : a.userId.localeCompare(b.userId)));
}

/** Distinct patients of a user-day with no care-team relation, break-glass grant or treatment purpose. */
export function unrelatedCount(day: UserDay, facts: UebaFacts): number {
  let n = 0;
  for (const p of day.patientIds) if (!facts.related(day.userId, p)) n += 1;
  return n;
}

/** Median and median absolute deviation (pure; empty input gives zeros). */
export function spreadOf(values: number[]): Spread {
  if (values.length === 0) return { median: 0, mad: 0, days: 0 };
  const median = medianOf(values);
  return { median, mad: medianOf(values.map((v) => Math.abs(v - median))), days: values.length };
}

function medianOf(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Clock hours within one hour of any activity that day (a shift that starts at 07:40 covers 06:00 to 08:59). */
export function coveredHours(hourly: number[]): boolean[] {
  const covered = new Array<boolean>(24).fill(false);
  for (let h = 0; h < 24; h += 1) {
    if (hourly[h] === 0) continue;
    covered[(h + 23) % 24] = true;
    covered[h] = true;
    covered[(h + 1) % 24] = true;
  }
  return covered;
}

/**
 * A baseline from active user-days (one user's for `own`, a role's pooled days for `peer`). `unrelated` gives each
 * day's count of patients opened without a relation, so callers can memoise it.
 */
export function baselineOf(days: UserDay[], unrelated: (d: UserDay) => number, source: Baseline['source']): Baseline {
  const hourCount = new Array<number>(24).fill(0);
  const ips = new Set<string>();
  for (const d of days) {
    coveredHours(d.hourly).forEach((c, h) => (hourCount[h] += c ? 1 : 0));
    if (source === 'own') for (const ip of d.ips) ips.add(ip);
  }
  return {
    source,
    activeDays: days.length,
    reads: spreadOf(days.map((d) => d.reads)),
    peakHour: spreadOf(days.map((d) => Math.max(...d.hourly))),
    patients: spreadOf(days.map((d) => d.patientIds.length)),
    unrelated: spreadOf(days.map(unrelated)),
    hourShare: hourCount.map((n) => (days.length === 0 ? 0 : n / days.length)),
    ips,
  };
}

/**
 * How far `value` lies above a spread, in robust standard deviations (1.4826 MAD). The deviation has a floor of a
 * quarter of the median and of 2, so a user whose days are all alike is not flagged for a small rise.
 */
export function robustZ(value: number, spread: Spread): number {
  const sigma = Math.max(1.4826 * spread.mad, 0.25 * spread.median, 2);
  return (value - spread.median) / sigma;
}
