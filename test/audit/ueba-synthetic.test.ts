import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { addDays, detect } from '../../src/audit/ueba/ueba.detector';
import { surnameOf } from '../../src/audit/ueba/ueba.facts';
import { toUserDays } from '../../src/audit/ueba/ueba.features';
import type { Finding, HourActivity, UebaFacts, UebaRule } from '../../src/audit/ueba/ueba.types';

/**
 * Synthetic weeks of hospital behaviour, seeded so every run sees the same data: 4 weeks x 200 staff of five roles
 * with diurnal patterns, day-to-day variance, weekends, night shifts, overtime, 2-3 client addresses each and a few
 * users who start in week 3 (judged against their role), plus injected incidents. The detector must flag every
 * incident with the right rule and fewer than 1% of the normal user-days.
 */

/** mulberry32: a small seeded PRNG, so the figures are reproducible. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const rand = prng(20261204);
const uniform = (lo: number, hi: number): number => lo + (hi - lo) * rand();
const pick = <T>(items: T[]): T => items[Math.floor(rand() * items.length)];
function normal(mean: number, sd: number): number {
  const u = Math.max(rand(), 1e-12);
  return mean + sd * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}
function poisson(lambda: number): number {
  if (lambda > 30) return Math.max(0, Math.round(normal(lambda, Math.sqrt(lambda))));
  const limit = Math.exp(-lambda);
  let k = 0;
  let p = rand();
  while (p > limit) {
    k += 1;
    p *= rand();
  }
  return k;
}

const START = '2026-10-05'; // a Monday
const DAYS = 28;
const JUDGE_FROM = 7;
const POPULATION = Array.from({ length: 6000 }, (_, i) => `patient-${i}`);
const VIP_PATIENTS = new Set(POPULATION.slice(0, 5));
const ORDINARY = POPULATION.slice(5);

type Kind = 'day' | 'night' | 'office';
interface SimUser {
  id: string;
  role: string;
  kind: Kind;
  start: number;
  length: number;
  rate: number;
  panel: string[];
  ips: string[];
  firstDay: number;
  weekends: boolean;
}

const related = new Set<string>();
const surnames = new Set<string>();

function makeUser(n: number, role: string, kind: Kind, firstDay = 0): SimUser {
  const clinician = role === 'PHYSICIAN' || role === 'NURSE';
  const panel = clinician ? Array.from({ length: Math.round(uniform(40, 120)) }, () => pick(ORDINARY)) : [];
  const id = `user-${role.toLowerCase()}-${n}`;
  for (const p of panel) related.add(`${id}|${p}`);
  const rates: Record<string, [number, number]> = {
    PHYSICIAN: [4, 9],
    NURSE: [6, 12],
    RECEPTIONIST: [3, 6],
    BILLING: [2, 5],
    ADMIN: [0.3, 1],
  };
  return {
    id,
    role,
    kind,
    start: kind === 'night' ? uniform(21.5, 23) : kind === 'day' ? uniform(6.5, 9) : uniform(8, 9.5),
    length: kind === 'office' ? uniform(7.5, 9) : uniform(8, 10),
    rate: uniform(...rates[role]),
    panel,
    ips: Array.from(
      { length: 2 + Math.floor(rand() * 2) },
      () => `10.${n % 200}.${Math.floor(rand() * 250)}.${Math.floor(rand() * 250)}`,
    ),
    firstDay,
    weekends: kind !== 'office' && rand() < 0.4,
  };
}

const users: SimUser[] = [];
let serial = 0;
const add = (count: number, role: string, kind: Kind, firstDay = 0): void => {
  for (let i = 0; i < count; i += 1) users.push(makeUser((serial += 1), role, kind, firstDay));
};
add(60, 'PHYSICIAN', 'day');
add(66, 'NURSE', 'day');
add(14, 'NURSE', 'night');
add(30, 'RECEPTIONIST', 'office');
add(20, 'BILLING', 'office');
add(10, 'ADMIN', 'office');
// New staff in week 3: judged against their role until they have a week of their own history.
add(2, 'NURSE', 'day', 18);
add(2, 'RECEPTIONIST', 'office', 18);
add(1, 'PHYSICIAN', 'day', 18);

const hours: HourActivity[] = [];
function emit(user: SimUser, dayIndex: number, hourOfShift: number, patients: string[], ip: string): void {
  if (patients.length === 0) return;
  const absolute = hourOfShift;
  const day = addDays(START, dayIndex + Math.floor(absolute / 24));
  hours.push({
    userId: user.id,
    role: user.role,
    day,
    hour: ((absolute % 24) + 24) % 24,
    reads: patients.length,
    patientIds: [...new Set(patients)],
    ips: [ip],
  });
}

function patientFor(user: SimUser): string {
  if (user.panel.length === 0) return pick(ORDINARY);
  // A clinician mostly re-opens a handful of today's patients: weight the head of the panel.
  return user.panel[Math.floor(user.panel.length * rand() ** 2)];
}

function works(user: SimUser, dayIndex: number): boolean {
  if (dayIndex < user.firstDay) return false;
  const weekday = dayIndex % 7; // 0 = Monday
  const weekend = weekday >= 5;
  if (user.kind === 'office') return !weekend && rand() > 0.05;
  if (weekend) return user.weekends && rand() < 0.6;
  return rand() < 0.8;
}

for (const user of users) {
  for (let d = 0; d < DAYS; d += 1) {
    if (!works(user, d)) continue;
    const dayFactor = Math.exp(normal(0, 0.25));
    const start = normal(user.start, 0.4);
    const overtime = rand() < 0.1 ? uniform(0.5, 2) : 0;
    const end = start + normal(user.length, 0.5) + overtime;
    const todayIps = [pick(user.ips), pick(user.ips)];
    for (let h = Math.floor(start); h < Math.ceil(end); h += 1) {
      const lunch = user.kind !== 'night' && h === Math.floor(start + 4.5) ? 0.4 : 1;
      const n = poisson(user.rate * dayFactor * lunch);
      emit(
        user,
        d,
        h,
        Array.from({ length: n }, () => patientFor(user)),
        pick(todayIps),
      );
    }
  }
}

const normalRows = hours.length;

/** Injected incidents: who, which day, and the rule that must flag it. */
interface Incident {
  name: string;
  user: SimUser;
  day: string;
  rule: UebaRule;
}
const incidents: Incident[] = [];
const byRole = (role: string, kind: Kind, n: number): SimUser =>
  users.filter((u) => u.role === role && u.kind === kind && u.firstDay === 0)[n];
const injectDay = (dayIndex: number): string => addDays(START, dayIndex);

{
  const user = byRole('PHYSICIAN', 'day', 3);
  for (let h = 9; h < 17; h += 1) {
    emit(
      user,
      22,
      h,
      Array.from({ length: Math.round(user.rate * 5) }, () => patientFor(user)),
      user.ips[0],
    );
  }
  incidents.push({
    name: 'volume spike (physician, 5x their hourly rate all day)',
    user,
    day: injectDay(22),
    rule: 'VOLUME',
  });
}
{
  const user = byRole('NURSE', 'day', 5);
  emit(
    user,
    23,
    2,
    Array.from({ length: 5 }, () => patientFor(user)),
    user.ips[0],
  );
  emit(
    user,
    23,
    3,
    Array.from({ length: 3 }, () => patientFor(user)),
    user.ips[0],
  );
  incidents.push({
    name: 'off-hours access (day nurse, 8 records at 02:00-03:59)',
    user,
    day: injectDay(23),
    rule: 'OFF_HOURS',
  });
}
{
  const user = byRole('ADMIN', 'office', 1);
  const snooped = Array.from({ length: 40 }, (_, i) => ORDINARY[3000 + i]);
  emit(user, 24, 13, snooped.slice(0, 20), user.ips[1]);
  emit(user, 24, 14, snooped.slice(20), user.ips[1]);
  incidents.push({
    name: 'snooper (administrator, 40 patients without relation)',
    user,
    day: injectDay(24),
    rule: 'NO_RELATION',
  });
}
{
  const user = byRole('RECEPTIONIST', 'office', 2);
  surnames.add(`${user.id}|${ORDINARY[4000]}`);
  emit(user, 25, 11, [ORDINARY[4000]], user.ips[0]);
  incidents.push({
    name: 'surname match (receptionist opens a namesake)',
    user,
    day: injectDay(25),
    rule: 'SURNAME_MATCH',
  });
}
{
  const user = byRole('NURSE', 'day', 10);
  emit(user, 26, 10, [[...VIP_PATIENTS][1]], user.ips[0]);
  incidents.push({ name: 'VIP access (nurse outside the care team)', user, day: injectDay(26), rule: 'VIP_ACCESS' });
}

const facts: UebaFacts = {
  related: (userId, patientId) => related.has(`${userId}|${patientId}`),
  vip: (patientId) => VIP_PATIENTS.has(patientId),
  sameSurname: (userId, patientId) => surnames.has(`${userId}|${patientId}`),
};

describe('UEBA detector on synthetic weeks', () => {
  const started = Date.now();
  const userDays = toUserDays(hours);
  const fromDay = injectDay(JUDGE_FROM);
  const toDay = injectDay(DAYS - 1);
  const findings = detect(userDays, { fromDay, toDay }, facts);
  const elapsedMs = Date.now() - started;

  const incidentKeys = new Set(incidents.map((i) => `${i.user.id}|${i.day}`));
  const judged = userDays.filter((d) => d.day >= fromDay && d.day <= toDay);
  const normalDays = judged.filter((d) => !incidentKeys.has(`${d.userId}|${d.day}`));
  const flaggedNormal = new Map<string, Finding[]>();
  for (const f of findings) {
    const key = `${f.userId}|${f.day}`;
    if (!incidentKeys.has(key)) flaggedNormal.set(key, [...(flaggedNormal.get(key) ?? []), f]);
  }
  const caught = incidents.filter((i) =>
    findings.some((f) => f.userId === i.user.id && f.day === i.day && f.rule === i.rule),
  );
  const rate = flaggedNormal.size / normalDays.length;

  beforeAll(() => {
    const lines = [
      `UEBA synthetic: ${users.length} users, ${DAYS} days, ${hours.reduce((a, h) => a + h.reads, 0)} reads, ` +
        `${judged.length} judged user-days (${fromDay}..${toDay}), detector ${elapsedMs} ms`,
      `UEBA incidents flagged: ${caught.length}/${incidents.length}`,
      ...incidents.map((i) => {
        const hit = findings.find((f) => f.userId === i.user.id && f.day === i.day && f.rule === i.rule);
        return `  ${hit ? 'flagged' : 'MISSED '} ${i.rule.padEnd(13)} ${i.name}${hit ? `: score ${hit.score}: ${hit.explanation}` : ''}`;
      }),
      `UEBA false-positive user-days: ${flaggedNormal.size}/${normalDays.length} = ${(rate * 100).toFixed(2)}%`,
      ...[...flaggedNormal.values()]
        .slice(0, 10)
        .map((fs) => `  ${fs.map((f) => `${f.rule} ${f.score}`).join(', ')}: ${fs[0].explanation}`),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    // The figures for `npm run compliance:report` (reports/ is not committed).
    const reports = join(__dirname, '..', '..', 'reports');
    mkdirSync(reports, { recursive: true });
    const figures = { falsePositiveUserDays: flaggedNormal.size, normalUserDays: normalDays.length };
    const run = { incidentsFlagged: caught.length, incidents: incidents.length, writtenAt: new Date().toISOString() };
    writeFileSync(join(reports, 'ueba-synthetic.json'), `${JSON.stringify({ ...figures, ...run })}\n`);
  });

  it('flags every injected incident with the rule made for it', () => {
    expect(caught.map((i) => i.name)).toEqual(incidents.map((i) => i.name));
  });

  it('flags fewer than 1% of normal user-days', () => {
    expect(normalDays.length).toBeGreaterThan(2500);
    expect(rate).toBeLessThan(0.01);
  });

  it('judges new users against their role until they have a week of their own history', () => {
    const newcomers = users.filter((u) => u.firstDay > 0).map((u) => u.id);
    const newcomerDays = judged.filter((d) => newcomers.includes(d.userId));
    expect(newcomerDays.length).toBeGreaterThan(10);
    const flaggedNewcomers = newcomerDays.filter((d) => flaggedNormal.has(`${d.userId}|${d.day}`));
    expect(flaggedNewcomers.length / newcomerDays.length).toBeLessThan(0.05);
  });

  it('gives every finding a score from 0 to 100 and an explanation with figures', () => {
    expect(findings.length).toBeGreaterThanOrEqual(incidents.length);
    for (const f of findings) {
      expect(f.score).toBeGreaterThanOrEqual(0);
      expect(f.score).toBeLessThanOrEqual(100);
      expect(f.explanation).toMatch(/\d/);
    }
  });

  it('does not flag the same user-days when the incidents are left out (the incidents are what is flagged)', () => {
    const clean = hours.slice(0, normalRows);
    const cleanFindings = detect(toUserDays(clean), { fromDay, toDay }, facts);
    for (const i of incidents) {
      expect([
        i.name,
        cleanFindings.some((f) => f.userId === i.user.id && f.day === i.day && f.rule === i.rule),
      ]).toEqual([i.name, false]);
    }
  });
});

describe('surnameOf (the user side of the surname rule)', () => {
  it('takes the last word of a display name, normalised like a blind-indexed name', () => {
    expect(surnameOf('  Marta   DE LA Cruz ')).toBe('cruz');
    expect(surnameOf('Ｍarta Ｑuillon')).toBe('quillon');
  });

  it('gives no surname for a one-word display name, so nothing is compared', () => {
    expect(surnameOf('Reception')).toBeUndefined();
    expect(surnameOf('   ')).toBeUndefined();
  });
});
