import { randomUUID } from 'node:crypto';

import { formatSweepReport } from '../../src/cli/privacy.commands';
import { ConsentType } from '../../src/consent/consent.entity';
import type { SweepReport } from '../../src/privacy/retention.service';
import { startTestApp, type TestApp } from '../support/app';
import { createAccount, sql, type TestAccount } from '../support/accounts';
import {
  eraseAs,
  openWithFreshServer as openFresh,
  pgDump,
  plaintextsOf,
  scanAllTables,
  seedPatient,
  type SeededPatient,
} from './erasure-support';

const YEAR_MS = 365 * 24 * 3600 * 1000;
const DAY_MS = 24 * 3600 * 1000;

const expired = (report: SweepReport, category: string) => report.lines.find((l) => l.category === category)!;

describe('retention sweep', () => {
  let app: TestApp;
  let officer: TestAccount;

  beforeAll(async () => {
    app = await startTestApp();
    officer = await createAccount(app, 'PRIVACY_OFFICER');
  });

  afterAll(async () => {
    await app?.close();
  });

  const erase = (patientId: string, requestId?: string) => eraseAs(app, officer, patientId, requestId);

  const openWithFreshServer = (entity: string, row: Record<string, unknown>, property: string) =>
    openFresh(app, entity, row, property);

  describe('an erased patient whose encounter was inside the window', () => {
    let patient: SeededPatient;
    let encounterBefore: Record<string, unknown>;
    let medicalUntil: Date;
    let hipaaUntil: Date;
    let auditIdsBefore: string[];

    beforeAll(async () => {
      patient = await seedPatient(app, 'Swept', {
        encounterAt: new Date(Date.now() - 3 * YEAR_MS),
        consents: [[ConsentType.RESEARCH, true]],
      });
      [encounterBefore] = await sql(app, 'SELECT * FROM encounters WHERE patient_id = $1', [patient.id]);
      const certificate = await erase(patient.id);
      medicalUntil = new Date(certificate.statement.retained.find((r) => r.category === 'MEDICAL_RECORD')!.until);
      hipaaUntil = new Date(certificate.statement.retained.find((r) => r.category === 'HIPAA_DOCUMENTATION')!.until);
      auditIdsBefore = (await sql<{ id: string }>(app, 'SELECT id FROM audit_events')).map((r) => r.id);
    });

    it('keeps everything while the window is open', async () => {
      const report = await app.services.retention.sweep({ now: new Date() });
      expect(expired(report, 'erasures completed').done).toBe(0);
      expect(await sql(app, 'SELECT 1 FROM encounters WHERE patient_id = $1', [patient.id])).toHaveLength(1);
    });

    it('counts without changing anything in a dry run', async () => {
      const now = new Date(medicalUntil.getTime() + DAY_MS);
      const tablesBefore = await scanAllTables(app);
      const report = await app.services.retention.sweep({ now, dryRun: true });
      expect(report.dryRun).toBe(true);
      expect(expired(report, 'erasure holds').expired).toBe(2);
      expect(expired(report, 'erasures completed').expired).toBe(1);
      expect(report.lines.every((l) => l.done === 0)).toBe(true);
      expect(await scanAllTables(app)).toBe(tablesBefore);
      const printed = formatSweepReport(report).join('\n');
      expect(printed).toMatch(/dry run: nothing changed/);
      expect(printed).toMatch(/erasures completed .*: expired 1 patients/);
      expect(printed).toMatch(/audit trail: kept \(append-only/);
      expect(printed).not.toContain(patient.id);
    });

    it('releases the documentation hold first and keeps the medical record until its own end', async () => {
      const report = await app.services.retention.sweep({ now: new Date(hipaaUntil.getTime() + DAY_MS) });
      expect(expired(report, 'erasure holds').done).toBe(1);
      expect(await sql(app, 'SELECT 1 FROM consents WHERE patient_id = $1', [patient.id])).toHaveLength(0);
      expect(await sql(app, 'SELECT 1 FROM encounters WHERE patient_id = $1', [patient.id])).toHaveLength(1);
    });

    it('removes the encounter and completes the erasure once the window has ended', async () => {
      const [current] = await sql(app, 'SELECT * FROM encounters WHERE patient_id = $1', [patient.id]);
      const report = await app.services.retention.sweep({ now: new Date(medicalUntil.getTime() + DAY_MS) });
      expect(expired(report, 'erasures completed').done).toBe(1);
      expect(await sql(app, 'SELECT 1 FROM patients WHERE id = $1', [patient.id])).toHaveLength(0);
      expect(await sql(app, 'SELECT 1 FROM encounters WHERE patient_id = $1', [patient.id])).toHaveLength(0);
      expect(await sql(app, 'SELECT 1 FROM erasure_holds WHERE patient_id = $1', [patient.id])).toHaveLength(0);
      const keys = await sql<{ wrapped: Buffer | null }>(app, 'SELECT wrapped FROM data_keys WHERE subject_id = $1', [
        patient.id,
      ]);
      expect(keys.every((k) => k.wrapped === null)).toBe(true);
      for (const row of [encounterBefore, current]) {
        await expect(openWithFreshServer('Encounter', row, 'reason')).rejects.toMatchObject({ code: 'KEY_DESTROYED' });
      }
      const dump = pgDump(app);
      for (const value of plaintextsOf(patient)) expect(dump).not.toContain(value);
    });

    it('never touches the audit trail, and records the completion in it', async () => {
      const after = new Set((await sql<{ id: string }>(app, 'SELECT id FROM audit_events')).map((r) => r.id));
      for (const id of auditIdsBefore) expect(after.has(id)).toBe(true);
      const completion = await sql(
        app,
        `SELECT actor_role, fields FROM audit_events WHERE patient_id = $1 AND action = 'patient.erase.complete'`,
        [patient.id],
      );
      expect(completion).toEqual([
        { actor_role: 'SYSTEM', fields: ['MEDICAL_RECORD', 'HIPAA_DOCUMENTATION', 'BILLING_RECORD'] },
      ]);
    });

    it('finds nothing more to do when run again', async () => {
      const report = await app.services.retention.sweep({
        now: new Date(medicalUntil.getTime() + DAY_MS),
        dryRun: true,
      });
      expect(expired(report, 'erasure holds').expired).toBe(0);
      expect(expired(report, 'erasures completed').expired).toBe(0);
    });
  });

  it('extends a hold when treatment recorded a new encounter after the erasure', async () => {
    const patient = await seedPatient(app, 'Treated', { encounterAt: new Date(Date.now() - 5 * YEAR_MS) });
    const certificate = await erase(patient.id);
    const until = new Date(certificate.statement.retained.find((r) => r.category === 'MEDICAL_RECORD')!.until);
    const clinician = await createAccount(app, 'PHYSICIAN');
    await app.services.patients.createEncounter(app.services.orm.em.fork(), clinician.user.id, {
      patientId: patient.id,
      reason: 'Follow-up after erasure',
      diagnosisCodes: ['J45.909'],
    } as never);

    const report = await app.services.retention.sweep({ now: new Date(until.getTime() + DAY_MS) });
    expect(expired(report, 'erasures completed').done).toBe(0);
    expect(await sql(app, 'SELECT 1 FROM encounters WHERE patient_id = $1', [patient.id])).toHaveLength(2);
    const [hold] = await sql<{ until: Date }>(
      app,
      `SELECT until FROM erasure_holds WHERE patient_id = $1 AND category = 'MEDICAL_RECORD'`,
      [patient.id],
    );
    expect(hold.until.getTime()).toBeGreaterThan(until.getTime() + 4 * YEAR_MS);
  });

  it('deletes expired encounters of a patient who was not erased and re-keys the rest of the record', async () => {
    const patient = await seedPatient(app, 'Aged', { encounterAt: new Date(Date.now() - 11 * YEAR_MS) });
    const recent = await seedPatient(app, 'Recent', { encounterAt: new Date(Date.now() - 9 * YEAR_MS) });
    const [encounterBefore] = await sql(app, 'SELECT * FROM encounters WHERE patient_id = $1', [patient.id]);

    const dry = await app.services.retention.sweep({ dryRun: true });
    expect(expired(dry, 'medical records').expired).toBe(1);
    const report = await app.services.retention.sweep();
    expect(expired(report, 'medical records').done).toBe(1);

    expect(await sql(app, 'SELECT 1 FROM encounters WHERE patient_id = $1', [patient.id])).toHaveLength(0);
    expect(await sql(app, 'SELECT 1 FROM encounters WHERE patient_id = $1', [recent.id])).toHaveLength(1);
    await expect(openWithFreshServer('Encounter', encounterBefore, 'reason')).rejects.toMatchObject({
      code: 'KEY_DESTROYED',
    });
    const [row] = await sql(app, 'SELECT * FROM patients WHERE id = $1', [patient.id]);
    expect(await openWithFreshServer('Patient', { ...row, lastName: row.last_name }, 'lastName')).toBe(
      patient.values.lastName,
    );
  });

  it('deletes ended sessions and old security events in batches, and is resumable batch by batch', async () => {
    const account = await createAccount(app, 'NURSE');
    const old = new Date(Date.now() - 400 * DAY_MS);
    for (let i = 0; i < 5; i++) {
      await sql(
        app,
        `INSERT INTO sessions (id, user_id, created_at, last_seen_at, expires_at) VALUES (gen_random_uuid(), $1, $2, $2, $2)`,
        [account.user.id, old],
      );
      await sql(
        app,
        `INSERT INTO security_events (id, at, event_type, severity, details) VALUES (gen_random_uuid(), $1, 'TEST_OLD', 'LOW', '{}')`,
        [new Date(Date.now() - 3000 * DAY_MS)],
      );
    }
    const live = randomUUID();
    await sql(
      app,
      `INSERT INTO sessions (id, user_id, created_at, last_seen_at, expires_at) VALUES ($1, $2, now(), now(), now() + interval '1 hour')`,
      [live, account.user.id],
    );

    const report = await app.services.retention.sweep({ batchSize: 2 });
    expect(expired(report, 'sessions')).toMatchObject({ expired: 5, done: 5 });
    expect(expired(report, 'security events')).toMatchObject({ expired: 5, done: 5 });
    expect(report.batches).toBeGreaterThanOrEqual(6);
    expect(await sql(app, 'SELECT 1 FROM sessions WHERE user_id = $1', [account.user.id])).toHaveLength(1);
    expect(await sql(app, `SELECT 1 FROM security_events WHERE event_type = 'TEST_OLD'`)).toHaveLength(0);
  });

  it('stops at a failing batch with earlier batches committed, and a re-run continues', async () => {
    const a = await seedPatient(app, 'ResumeA', { encounterAt: new Date(Date.now() - 12 * YEAR_MS) });
    const b = await seedPatient(app, 'ResumeB', { encounterAt: new Date(Date.now() - 12 * YEAR_MS) });
    const [first, second] = [a, b].sort((x, y) => (x.id < y.id ? -1 : 1));
    // The second patient's key is already destroyed: its values cannot be re-encrypted and its batch fails.
    await sql(app, 'UPDATE data_keys SET wrapped = NULL, destroyed_at = now() WHERE subject_id = $1', [second.id]);
    app.services.dataKeys.cache.clear();

    await expect(app.services.retention.sweep({ batchSize: 1 })).rejects.toThrow(/unreadable/);
    expect(await sql(app, 'SELECT 1 FROM encounters WHERE patient_id = $1', [first.id])).toHaveLength(0);
    expect(await sql(app, 'SELECT 1 FROM encounters WHERE patient_id = $1', [second.id])).toHaveLength(1);

    // An operator deals with the unreadable record (here: it is deleted), and the next run finishes.
    await sql(app, 'DELETE FROM patients WHERE id = $1', [second.id]);
    const report = await app.services.retention.sweep({ batchSize: 1 });
    expect(expired(report, 'medical records').expired).toBe(0);
  });
});
