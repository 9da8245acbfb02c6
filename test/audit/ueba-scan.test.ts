import { randomBytes, randomUUID } from 'node:crypto';

import type { SystemAuditEntry } from '../../src/audit/audit.service';
import { runUebaScan } from '../../src/cli/ueba.commands';
import type { Role } from '../../src/config/roles';
import { codeOf, createAccount, signIn, sql, testEmail, testPassword, type TestAccount } from '../support/accounts';
import { startTestApp, type TestApp } from '../support/app';

/**
 * The UEBA scanner end to end on real PostgreSQL: history enters the audit trail through the audit service, today's
 * reads go through the real GraphQL API, the VIP flag through its mutation; the scan raises ANOMALY security events
 * with a score and an explanation and no PHI, and a re-run (or two at once) raises nothing twice.
 */

// Letters only, so the surname survives any name normalisation unchanged.
const tag = [...randomBytes(5)].map((b) => String.fromCharCode(97 + (b % 26))).join('');
const SURNAME = `Quillon${tag}`;
const CREATE = `mutation Create($input: PatientInput!) { createPatient(input: $input) { id } }`;
const SET_VIP = `mutation Vip($patientId: ID!, $vip: Boolean!) { setPatientVip(patientId: $patientId, vip: $vip) }`;
const LIST = `{ patients(first: 60) { nodes { id lastName } } }`;
const READ = `query Read($id: ID!) { patient(id: $id) { id lastName dateOfBirth } }`;

let app: TestApp;
const accounts = {} as Record<string, TestAccount>;
const tokens = {} as Record<string, string>;
const plaintexts: string[] = [];
let vipPatient: string;
let namesakePatient: string;
let physicianPatients: string[] = [];
const now = new Date();
const todayStart = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
const at = (dayOffset: number, hour: number, minute = 0): Date =>
  new Date(todayStart + dayOffset * 86_400_000 + hour * 3_600_000 + minute * 60_000);

/**
 * The one place this test writes history into the audit trail: through the audit service (rows join the hash
 * chain), with the past time stamps a direct API call cannot produce.
 */
async function appendReads(
  account: TestAccount,
  reads: { at: Date; patientId: string; purpose: string; ip?: string }[],
): Promise<void> {
  const rows: SystemAuditEntry[] = reads.map((r) => ({
    action: 'patient.read',
    outcome: 'ALLOWED',
    patientId: r.patientId,
    purpose: r.purpose,
    fields: ['id', 'lastName'],
    actorId: account.user.id,
    actorRole: account.user.role,
    ip: r.ip ?? '127.0.0.1',
    at: r.at,
  }));
  await app.services.audit.append(app.services.orm.em.fork(), rows);
}

async function register(token: string, lastName: string): Promise<string> {
  const input = {
    firstName: `Rosalind${tag}`,
    lastName,
    dateOfBirth: '1971-03-09',
    sex: 'FEMALE',
    ssn: `219-0${Math.floor(Math.random() * 9) + 1}-${String(1000 + Math.floor(Math.random() * 8999))}`,
    email: `${lastName.toLowerCase()}.${randomBytes(3).toString('hex')}@example.test`,
  };
  plaintexts.push(input.firstName, input.lastName, input.ssn, input.email);
  const res = await app.gql(CREATE, { input }, token);
  expect(res.body.errors).toBeUndefined();
  return res.body.data!.createPatient.id;
}

async function anomalies(): Promise<
  { id: string; actor_id: string; patient_id: string | null; severity: string; details: any }[]
> {
  return sql(
    app,
    `SELECT id, actor_id, patient_id, severity, details FROM security_events WHERE event_type = 'ANOMALY'`,
  );
}

const ofRule = (rows: Awaited<ReturnType<typeof anomalies>>, userId: string, rule: string) =>
  rows.filter((r) => r.actor_id === userId && r.details.rule === rule);

beforeAll(async () => {
  app = await startTestApp();
  const roles: [string, Role][] = [
    ['admin', 'ADMIN'],
    ['privacy', 'PRIVACY_OFFICER'],
    ['physician', 'PHYSICIAN'],
    ['nurse', 'NURSE'],
    ['registrar', 'RECEPTIONIST'],
    ['snooper', 'RECEPTIONIST'],
    ['auditor', 'AUDITOR'],
  ];
  for (const [name, role] of roles) {
    accounts[name] = await createAccount(app, role);
    tokens[name] = (await signIn(app, accounts[name])).accessToken;
  }
  const email = testEmail('namesake');
  const password = testPassword();
  const user = await app.services.auth.users.create(
    app.services.orm.em.fork(),
    { email, password, role: 'RECEPTIONIST', displayName: `Marta ${SURNAME}`, patientId: null },
    app.logger,
    null,
  );
  accounts.namesake = { user, email, password };
  tokens.namesake = (await signIn(app, accounts.namesake)).accessToken;

  // Patients: three on the physician's care team (one becomes VIP), one namesake, forty-five others.
  physicianPatients = [
    await register(tokens.physician, `Harrowgate${tag}`),
    await register(tokens.physician, `Fennimore${tag}`),
  ];
  vipPatient = await register(tokens.physician, `Ashcombe${tag}`);
  namesakePatient = await register(tokens.registrar, SURNAME);
  for (let i = 0; i < 45; i += 1)
    await register(tokens.registrar, `Brackenridge${tag}${String.fromCharCode(97 + (i % 26))}`);

  // Two weeks of ordinary history. The physician works around the current hour, so today's reads are usual.
  const hour = now.getUTCHours();
  const workHours = [hour - 1, hour, hour + 1].filter((h) => h >= 0 && h <= 23);
  for (let day = -14; day <= -1; day += 1) {
    await appendReads(
      accounts.physician,
      workHours.flatMap((h) =>
        [0, 10, 20, 30].map((m) => ({ at: at(day, h, m), patientId: randomUUID(), purpose: 'TREATMENT' })),
      ),
    );
    await appendReads(
      accounts.snooper,
      [0, 15, 30].map((m) => ({ at: at(day, 10, m), patientId: randomUUID(), purpose: 'OPERATIONS' })),
    );
    const nurseDay = [9, 10, 11, 12, 13, 14, 15, 16].flatMap((h) =>
      [5, 25, 45].map((m) => ({ at: at(day, h, m), patientId: randomUUID(), purpose: 'TREATMENT' })),
    );
    // Yesterday the nurse, a day worker, also opened six records at three in the morning.
    if (day === -1)
      nurseDay.push(
        ...[0, 5, 10, 15, 20, 25].map((m) => ({ at: at(day, 3, m), patientId: randomUUID(), purpose: 'TREATMENT' })),
      );
    await appendReads(accounts.nurse, nurseDay);
  }
});

afterAll(async () => {
  await app?.close();
});

describe('setPatientVip', () => {
  it('refuses every role but ADMIN and PRIVACY_OFFICER (FORBIDDEN) and leaves the flag as it was', async () => {
    for (const name of ['physician', 'nurse', 'registrar', 'auditor']) {
      const res = await app.gql(SET_VIP, { patientId: vipPatient, vip: true }, tokens[name]);
      expect([name, codeOf(res)]).toEqual([name, 'FORBIDDEN']);
    }
    expect(codeOf(await app.gql(SET_VIP, { patientId: vipPatient, vip: true }))).toBe('UNAUTHENTICATED');
    const [row] = await sql<{ vip: boolean }>(app, 'SELECT vip FROM patients WHERE id = $1', [vipPatient]);
    expect(row.vip).toBe(false);
  });

  it('answers NOT_FOUND for an unknown or malformed patient id and writes no audit row', async () => {
    const unknown = randomUUID();
    expect(codeOf(await app.gql(SET_VIP, { patientId: unknown, vip: true }, tokens.privacy))).toBe('NOT_FOUND');
    expect(codeOf(await app.gql(SET_VIP, { patientId: 'not-a-uuid', vip: true }, tokens.privacy))).toBe('NOT_FOUND');
    const rows = await sql(app, `SELECT 1 FROM audit_events WHERE action = 'patient.vip.set' AND patient_id = $1`, [
      unknown,
    ]);
    expect(rows).toHaveLength(0);
  });

  it('lets ADMIN and PRIVACY_OFFICER set and clear the flag, each change audited without values', async () => {
    const set = await app.gql(SET_VIP, { patientId: vipPatient, vip: true }, tokens.admin);
    const cleared = await app.gql(SET_VIP, { patientId: vipPatient, vip: false }, tokens.admin);
    const again = await app.gql(SET_VIP, { patientId: vipPatient, vip: true }, tokens.privacy);

    expect([set.body, cleared.body, again.body]).toEqual([
      { data: { setPatientVip: true } },
      { data: { setPatientVip: true } },
      { data: { setPatientVip: true } },
    ]);
    const [row] = await sql<{ vip: boolean }>(app, 'SELECT vip FROM patients WHERE id = $1', [vipPatient]);
    expect(row.vip).toBe(true);
    const audit = await sql<{ actor_role: string; fields: string[]; purpose: string }>(
      app,
      `SELECT actor_role, fields, purpose FROM audit_events WHERE action = 'patient.vip.set' AND patient_id = $1 ORDER BY seq`,
      [vipPatient],
    );
    expect(audit).toEqual([
      { actor_role: 'ADMIN', fields: ['vip'], purpose: 'OPERATIONS' },
      { actor_role: 'ADMIN', fields: ['vip'], purpose: 'OPERATIONS' },
      { actor_role: 'PRIVACY_OFFICER', fields: ['vip'], purpose: 'OPERATIONS' },
    ]);
  });

  it('is no GraphQL field of Patient: clinicians cannot read who is VIP', async () => {
    const res = await app.gql(
      `query R($id: ID!) { patient(id: $id) { id vip } }`,
      { id: vipPatient },
      tokens.physician,
    );
    expect(codeOf(res)).toBe('GRAPHQL_VALIDATION_FAILED');
  });
});

describe('ueba:scan', () => {
  const range = () => ({ since: new Date(todayStart - 86_400_000), until: new Date(Date.now() + 60_000) });

  beforeAll(async () => {
    // Today's reads, through the API: the snooper pages through every patient, the namesake opens her namesake,
    // the physician opens their own patients (one of them VIP).
    const list = await app.gql(LIST, {}, tokens.snooper);
    expect(list.body.errors).toBeUndefined();
    expect(list.body.data!.patients.nodes.length).toBe(49);
    expect((await app.gql(READ, { id: namesakePatient }, tokens.namesake)).body.errors).toBeUndefined();
    for (const id of [...physicianPatients, vipPatient]) {
      expect((await app.gql(READ, { id }, tokens.physician)).body.errors).toBeUndefined();
    }
  });

  it('raises each finding once even when two scans run at the same time', async () => {
    const [first, second] = await Promise.all([app.services.ueba.scan(range()), app.services.ueba.scan(range())]);

    const rows = await anomalies();
    expect(first.raised + second.raised).toBe(rows.length);
    expect(rows.length).toBeGreaterThanOrEqual(5);
    const keys = rows.map((r) => `${r.actor_id}|${r.details.rule}|${r.details.window.day}`);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('flags the snooper for patients opened without a relation, with figures and the window', async () => {
    const [event] = ofRule(await anomalies(), accounts.snooper.user.id, 'NO_RELATION');

    expect(event).toBeDefined();
    expect(event.details.score).toBeGreaterThanOrEqual(55);
    expect(event.details.score).toBeLessThanOrEqual(100);
    expect(event.details.explanation).toMatch(
      /^49 of 49 distinct patients opened on \d{4}-\d{2}-\d{2} had no care-team/,
    );
    expect(event.details.window).toEqual({
      day: new Date(todayStart).toISOString().slice(0, 10),
      timeZone: 'UTC',
      from: new Date(todayStart).toISOString(),
      to: new Date(todayStart + 86_400_000).toISOString(),
    });
    expect(['MEDIUM', 'HIGH', 'CRITICAL']).toContain(event.severity);
    expect(event.patient_id).toBeNull();
    expect(ofRule(await anomalies(), accounts.snooper.user.id, 'VOLUME')).toHaveLength(1);
  });

  it('flags the VIP record: high for the snooper outside the care team, low for the treating physician', async () => {
    const rows = await anomalies();
    const [snooper] = ofRule(rows, accounts.snooper.user.id, 'VIP_ACCESS');
    const [physician] = ofRule(rows, accounts.physician.user.id, 'VIP_ACCESS');

    expect([snooper.patient_id, snooper.details.score, snooper.severity]).toEqual([vipPatient, 85, 'HIGH']);
    expect([physician.patient_id, physician.details.score, physician.severity]).toEqual([vipPatient, 45, 'LOW']);
  });

  it('flags a receptionist who opened a patient sharing her surname, naming the patient by id only', async () => {
    const [event] = ofRule(await anomalies(), accounts.namesake.user.id, 'SURNAME_MATCH');

    expect(event.patient_id).toBe(namesakePatient);
    expect(event.details.score).toBe(80);
    expect(event.details.explanation).toContain('last name equal to the surname');
  });

  it("flags the day nurse's reads at three in the morning yesterday, and nothing else of hers", async () => {
    const rows = (await anomalies()).filter((r) => r.actor_id === accounts.nurse.user.id);

    expect(rows.map((r) => r.details.rule)).toEqual(['OFF_HOURS']);
    expect(rows[0].details.window.day).toBe(new Date(todayStart - 86_400_000).toISOString().slice(0, 10));
    expect(rows[0].details.explanation).toMatch(/^6 records opened on .* at 03:00-03:59/);
  });

  it('raises nothing about the physician but the VIP record on their own care team', async () => {
    const rows = (await anomalies()).filter((r) => r.actor_id === accounts.physician.user.id);
    expect(rows.map((r) => r.details.rule)).toEqual(['VIP_ACCESS']);
  });

  it('puts no PHI in security events, findings or logs', async () => {
    const stored = JSON.stringify(await anomalies()) + JSON.stringify(await sql(app, 'SELECT * FROM ueba_findings'));
    const logs = app.logs.text();
    for (const value of plaintexts) {
      expect([value, stored.toLowerCase().includes(value.toLowerCase())]).toEqual([value, false]);
      expect([value, logs.includes(value)]).toEqual([value, false]);
    }
    expect(stored.toLowerCase()).not.toContain(SURNAME.toLowerCase());
  });

  it('raises nothing new when run again through the CLI command, and says so', async () => {
    const before = (await anomalies()).length;
    const lines: string[] = [];
    const { since, until } = range();

    const code = await runUebaScan(app.services, {
      args: ['--since', since.toISOString(), '--until', until.toISOString()],
      out: (line) => lines.push(line),
    });

    expect(code).toBe(0);
    expect(lines.join('\n')).toMatch(/ 0 new ANOMALY security events, \d+ raised by an earlier scan$/);
    expect((await anomalies()).length).toBe(before);
    const [{ n }] = await sql<{ n: string }>(
      app,
      'SELECT count(*) AS n FROM ueba_findings WHERE security_event_id IS NOT NULL',
    );
    expect(Number(n)).toBe(before);
  });

  it('runs by itself on the in-process timer when an interval is set, raising nothing twice', async () => {
    const before = (await anomalies()).length;
    const finished = () => app.logs.lines.filter((l) => l.includes('ueba scan finished')).length;
    const seen = finished();

    app.services.ueba.start(1);
    const deadline = Date.now() + 10_000;
    while (finished() === seen && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    await app.services.ueba.stop();

    expect(finished()).toBeGreaterThan(seen);
    expect((await anomalies()).length).toBe(before);
  });

  it('refuses malformed or reversed --since/--until with exit code 2 and scans nothing', async () => {
    const lines: string[] = [];
    const out = (line: string) => lines.push(line);
    expect(await runUebaScan(app.services, { args: ['--since', 'yesterday'], out })).toBe(2);
    expect(
      await runUebaScan(app.services, {
        args: ['--since', '2026-11-02T00:00:00Z', '--until', '2026-11-01T00:00:00Z'],
        out,
      }),
    ).toBe(2);
    expect(lines.filter((l) => l.startsWith('ueba:scan:'))).toHaveLength(0);
  });
});
