import type { Severity } from '../audit.service';
import { robustZ } from './ueba.features';
import type { Baseline, DetectorOptions, Finding, UebaFacts, UserDay } from './ueba.types';

/** What each check receives: one user-day, what is usual for that user, and the facts about its patients. */
export interface CheckInput {
  day: UserDay;
  baseline: Baseline;
  facts: UebaFacts;
  unrelated: number;
  options: DetectorOptions;
}

type Check = (input: CheckInput) => Finding | null;

/** Severity for triage from a score: 95+ CRITICAL, 85+ HIGH, 60+ MEDIUM, else LOW. */
export function severityOf(score: number): Severity {
  if (score >= 95) return 'CRITICAL';
  if (score >= 85) return 'HIGH';
  if (score >= 60) return 'MEDIUM';
  return 'LOW';
}

/** 55 at the threshold, rising to 100 at three times the threshold. */
function scoreFromZ(z: number, threshold: number): number {
  return clamp(Math.round(55 + (45 * (z - threshold)) / (2 * threshold)));
}

function clamp(score: number): number {
  return Math.max(0, Math.min(100, score));
}

const fmt = (n: number): string => (Number.isInteger(n) ? String(n) : n.toFixed(1));

function baselineWords(b: Baseline): string {
  return b.source === 'own'
    ? `own baseline over ${b.activeDays} active days`
    : `role baseline (under a week of own history) over ${b.activeDays} user-days`;
}

/** Hours with a share of at least `min`, as ranges such as "07:00-18:59". */
export function hourRanges(share: number[], min: number): string {
  const ranges: string[] = [];
  let start = -1;
  for (let h = 0; h <= 24; h += 1) {
    const on = h < 24 && share[h] >= min;
    if (on && start < 0) start = h;
    if (!on && start >= 0) {
      ranges.push(`${String(start).padStart(2, '0')}:00-${String(h - 1).padStart(2, '0')}:59`);
      start = -1;
    }
  }
  return ranges.length > 0 ? ranges.join(', ') : 'none';
}

/** Records far above the user's own volume: daily reads, busiest hour or distinct patients. */
export const volumeCheck: Check = ({ day, baseline, options }) => {
  if (baseline.activeDays < options.minHistoryDays || day.reads < options.minVolumeReads) return null;
  const peak = Math.max(...day.hourly);
  const metrics = [
    { name: 'records per day', value: day.reads, spread: baseline.reads },
    { name: 'records in the busiest hour', value: peak, spread: baseline.peakHour },
    { name: 'distinct patients per day', value: day.patientIds.length, spread: baseline.patients },
  ].map((m) => ({ ...m, z: robustZ(m.value, m.spread) }));
  const firing = metrics.filter(
    (m) => m.z >= options.zThreshold && m.value >= options.volumeRatio * Math.max(m.spread.median, 1),
  );
  if (firing.length === 0) return null;
  const worst = firing.reduce((a, b) => (b.z > a.z ? b : a));
  const parts = firing.map(
    (m) => `${m.value} ${m.name} (usual median ${fmt(m.spread.median)}, MAD ${fmt(m.spread.mad)})`,
  );
  return finding(day, 'VOLUME', scoreFromZ(worst.z, options.zThreshold), null, {
    explanation: `${parts.join('; ')} on ${day.day}, ${fmt(worst.z)} robust deviations above the ${baselineWords(baseline)}.`,
    figures: { reads: day.reads, peakHour: peak, patients: day.patientIds.length, z: round1(worst.z) },
  });
};

/** Reads in clock hours in which the user (or, when new, their role) is rarely active. */
export const offHoursCheck: Check = ({ day, baseline, options }) => {
  if (baseline.activeDays < options.minHistoryDays) return null;
  const usual = baseline.hourShare.map((share) => share >= options.unusualHourShare);
  const unusual = day.hourly.map((n, h) => (n > 0 && !usual[h] && !shiftExtension(day.hourly, usual, h) ? n : 0));
  const offReads = unusual.reduce((a, b) => a + b, 0);
  if (offReads < options.minOffHoursReads) return null;
  const hours = unusual.map((n) => (n > 0 ? 1 : 0));
  const seenOn = Math.max(...unusual.map((n, h) => (n > 0 ? baseline.hourShare[h] : 0)));
  const newAddress = baseline.source === 'own' && day.ips.some((ip) => !baseline.ips.has(ip));
  const score = clamp(50 + 4 * offReads + (seenOn === 0 ? 10 : 0) + (newAddress ? 10 : 0));
  return finding(day, 'OFF_HOURS', score, null, {
    explanation:
      `${offReads} records opened on ${day.day} at ${hourRanges(hours, 1)}, hours with activity on at most ` +
      `${Math.round(seenOn * 100)}% of days in the ${baselineWords(baseline)} (usual hours ` +
      `${hourRanges(baseline.hourShare, 0.25)})${newAddress ? ', from a client address not seen before' : ''}.`,
    figures: { offHoursReads: offReads, reads: day.reads, newAddress: newAddress ? 1 : 0 },
  });
};

/** Many distinct patients opened without a care-team relation, break-glass grant or treatment purpose. */
export const noRelationCheck: Check = ({ day, baseline, unrelated, options }) => {
  if (unrelated < options.minUnrelated) return null;
  // Without any baseline (a new deployment), only a count three times the minimum is reported.
  const hasBaseline = baseline.activeDays >= options.minHistoryDays;
  if (!hasBaseline && unrelated < 3 * options.minUnrelated) return null;
  const z = hasBaseline ? robustZ(unrelated, baseline.unrelated) : Infinity;
  if (z < options.zThreshold) return null;
  const usual =
    z === Infinity
      ? 'no baseline to compare with'
      : `usual median ${fmt(baseline.unrelated.median)} per day, MAD ${fmt(baseline.unrelated.mad)}, ${baselineWords(baseline)}`;
  return finding(day, 'NO_RELATION', z === Infinity ? 70 : scoreFromZ(z, options.zThreshold), null, {
    explanation:
      `${unrelated} of ${day.patientIds.length} distinct patients opened on ${day.day} had no care-team relation, ` +
      `break-glass grant or treatment purpose (${usual}).`,
    figures: { unrelatedPatients: unrelated, patients: day.patientIds.length, z: z === Infinity ? 'n/a' : round1(z) },
  });
};

/** A patient record opened whose last name equals the user's own surname. */
export const surnameCheck: Check = ({ day, facts }) => {
  const matches = day.patientIds.filter((p) => facts.sameSurname(day.userId, p));
  if (matches.length === 0) return null;
  const unrelated = matches.filter((p) => !facts.related(day.userId, p));
  const subject = unrelated[0] ?? matches[0];
  return finding(day, 'SURNAME_MATCH', unrelated.length > 0 ? 80 : 60, subject, {
    explanation:
      `${matches.length} patient record(s) opened on ${day.day} with a last name equal to the surname in the ` +
      `user's display name; ${unrelated.length} without a care-team relation or break-glass grant.`,
    figures: { matches: matches.length, unrelatedMatches: unrelated.length },
  });
};

/** A record flagged VIP opened; lower score when the user is on the patient's care team. */
export const vipCheck: Check = ({ day, facts }) => {
  const vips = day.patientIds.filter((p) => facts.vip(p));
  if (vips.length === 0) return null;
  const unrelated = vips.filter((p) => !facts.related(day.userId, p));
  const subject = unrelated[0] ?? vips[0];
  return finding(day, 'VIP_ACCESS', unrelated.length > 0 ? 85 : 45, subject, {
    explanation:
      `${vips.length} record(s) flagged VIP opened on ${day.day}; ${unrelated.length} without a care-team relation ` +
      'or break-glass grant.',
    figures: { vipRecords: vips.length, unrelatedVipRecords: unrelated.length },
  });
};

/**
 * Whether hour `h` continues, without a break, a stretch of activity that reaches a usual hour at most two hours
 * away: a shift that runs late or starts early. Blind spot: misuse right after a normal shift looks the same; the
 * volume and relation rules still see it.
 */
function shiftExtension(hourly: number[], usual: boolean[], h: number): boolean {
  for (const step of [-1, 1]) {
    for (let k = 1; k <= 2; k += 1) {
      const at = h + step * k;
      if (at < 0 || at > 23 || hourly[at] === 0) break;
      if (usual[at]) return true;
    }
  }
  return false;
}

/** Every check, in the order findings are reported. */
export const CHECKS: Check[] = [volumeCheck, offHoursCheck, noRelationCheck, surnameCheck, vipCheck];

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}

function finding(
  day: UserDay,
  rule: Finding['rule'],
  score: number,
  patientId: string | null,
  rest: { explanation: string; figures: Finding['figures'] },
): Finding {
  return { userId: day.userId, role: day.role, rule, day: day.day, score, patientId, ...rest };
}
