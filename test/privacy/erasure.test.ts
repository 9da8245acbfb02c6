import { randomUUID } from 'node:crypto';

import { ConsentType } from '../../src/consent/consent.entity';
import { StatementSigner } from '../../src/crypto';
import type { ErasureCertificate } from '../../src/privacy/erasure-certificate';
import { verifyErasureCertificate } from '../../src/privacy/erasure-certificate';
import { startTestApp, type TestApp } from '../support/app';
import { codeOf, createAccount, ME, signIn, sql, type TestAccount } from '../support/accounts';
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

describe('erasure (GDPR Art. 17) with retention', () => {
  let app: TestApp;
  let officer: TestAccount;
  let physician: TestAccount;

  beforeAll(async () => {
    app = await startTestApp();
    officer = await createAccount(app, 'PRIVACY_OFFICER');
    physician = await createAccount(app, 'PHYSICIAN');
  });

  afterAll(async () => {
    await app?.close();
  });

  const erase = (patientId: string, requestId?: string) => eraseAs(app, officer, patientId, requestId);

  const openWithFreshServer = (entity: string, row: Record<string, unknown>, property: string) =>
    openFresh(app, entity, row, property);

  describe('a patient with no retention duty', () => {
    let patient: SeededPatient;
    let before: Record<string, unknown>;
    let certificate: ErasureCertificate;
    let accessToken: string;
    const requestId = randomUUID();

    beforeAll(async () => {
      patient = await seedPatient(app, 'Nodue', { account: true, careTeamUserId: physician.user.id });
      accessToken = (await signIn(app, patient.account!)).accessToken;
      [before] = await sql(app, 'SELECT * FROM patients WHERE id = $1', [patient.id]);
      certificate = await erase(patient.id, requestId);
    });

    it('deletes the patient, its account, sessions and care-team links', async () => {
      expect(await sql(app, 'SELECT 1 FROM patients WHERE id = $1', [patient.id])).toHaveLength(0);
      expect(await sql(app, 'SELECT 1 FROM users WHERE id = $1', [patient.account!.user.id])).toHaveLength(0);
      expect(await sql(app, 'SELECT 1 FROM sessions WHERE user_id = $1', [patient.account!.user.id])).toHaveLength(0);
      expect(await sql(app, 'SELECT 1 FROM care_team_members WHERE patient_id = $1', [patient.id])).toHaveLength(0);
      expect(codeOf(await app.gql(ME, {}, accessToken))).toBe('UNAUTHENTICATED');
    });

    it('destroys every data key of the patient and of its account', async () => {
      const keys = await sql<{ wrapped: Buffer | null }>(
        app,
        'SELECT wrapped FROM data_keys WHERE subject_id = ANY($1::uuid[])',
        [[patient.id, patient.account!.user.id]],
      );
      expect(keys.length).toBeGreaterThanOrEqual(2);
      expect(keys.every((k) => k.wrapped === null)).toBe(true);
    });

    it('leaves no erased value in any table or in pg_dump', async () => {
      const tables = await scanAllTables(app);
      const dump = pgDump(app);
      for (const value of plaintextsOf(patient)) {
        expect(tables).not.toContain(value);
        expect(dump).not.toContain(value);
      }
      expect(dump).not.toContain(String(before.last_name));
    });

    it('cannot decrypt the old ciphertext of any field (a backup copy) any more', async () => {
      for (const property of ['lastName', 'email', 'ssn', 'address']) {
        await expect(
          openWithFreshServer('Patient', { ...before, lastName: before.last_name }, property),
        ).rejects.toMatchObject({ code: 'KEY_DESTROYED' });
      }
    });

    it('issues a signed certificate that keeps only the audit trail', () => {
      const { statement } = certificate;
      expect(statement).toMatchObject({ requestId, patientId: patient.id, issuer: 'HMS' });
      expect(statement.erased).toEqual(
        expect.arrayContaining(['CONTACT', 'IDENTIFIERS', 'CARE_TEAM', 'ACCOUNT', 'MEDICAL_RECORD', 'BILLING_RECORD']),
      );
      expect(statement.retained.map((r) => r.category)).toEqual(['AUDIT_TRAIL']);
      expect(verifyErasureCertificate(certificate, app.services.erasure.publicKey)).toBe(true);
    });

    it('answers NOT_FOUND to a second erasure of the same patient', async () => {
      await expect(erase(patient.id)).rejects.toMatchObject({ extensions: { code: 'NOT_FOUND' } });
    });
  });

  describe('a patient with an encounter inside the retention window', () => {
    let patient: SeededPatient;
    let before: Record<string, unknown>;
    let encounterBefore: Record<string, unknown>;
    let oldKeyIds: string[];
    let certificate: ErasureCertificate;
    const encounterAt = new Date(Date.now() - 2 * YEAR_MS);

    beforeAll(async () => {
      patient = await seedPatient(app, 'Kept', {
        encounterAt,
        consents: [[ConsentType.TREATMENT, true]],
        account: true,
        careTeamUserId: physician.user.id,
      });
      [before] = await sql(app, 'SELECT * FROM patients WHERE id = $1', [patient.id]);
      [encounterBefore] = await sql(app, 'SELECT * FROM encounters WHERE patient_id = $1', [patient.id]);
      oldKeyIds = (await sql<{ id: string }>(app, 'SELECT id FROM data_keys WHERE subject_id = $1', [patient.id])).map(
        (k) => k.id,
      );
      certificate = await erase(patient.id);
    });

    it('keeps the encounter, re-encrypted under a new key, and restricts the patient', async () => {
      const [row] = await sql(app, 'SELECT * FROM patients WHERE id = $1', [patient.id]);
      expect(row.restricted_at).not.toBeNull();
      const [encounter] = await sql(app, 'SELECT * FROM encounters WHERE id = $1', [encounterBefore.id]);
      expect(encounter.reason).not.toBe(encounterBefore.reason);
      expect(await openWithFreshServer('Encounter', encounter, 'reason')).toBe(patient.encounterReason);
      expect(await openWithFreshServer('Patient', { ...row, lastName: row.last_name }, 'lastName')).toBe(
        patient.values.lastName,
      );
    });

    it('nulls the erased contact and identifier columns and deletes account and care team', async () => {
      const [row] = await sql(app, 'SELECT * FROM patients WHERE id = $1', [patient.id]);
      for (const column of [
        'email',
        'email_bidx',
        'phone',
        'phone_bidx',
        'address',
        'ssn',
        'ssn_bidx',
        'insurance_member_id',
      ]) {
        expect(row[column]).toBeNull();
      }
      expect(await sql(app, 'SELECT 1 FROM users WHERE patient_id = $1', [patient.id])).toHaveLength(0);
      expect(await sql(app, 'SELECT 1 FROM care_team_members WHERE patient_id = $1', [patient.id])).toHaveLength(0);
      expect(await sql(app, 'SELECT 1 FROM consents WHERE patient_id = $1', [patient.id])).toHaveLength(1);
    });

    it('destroys the old key, so old ciphertext of the erased fields cannot be opened from a backup', async () => {
      const keys = await sql<{ id: string; wrapped: Buffer | null }>(
        app,
        'SELECT id, wrapped FROM data_keys WHERE subject_id = $1',
        [patient.id],
      );
      for (const key of keys) expect(key.wrapped === null).toBe(oldKeyIds.includes(key.id));
      expect(keys.filter((k) => k.wrapped !== null)).toHaveLength(1);
      for (const property of ['email', 'phone', 'ssn', 'address', 'insuranceMemberId']) {
        const column = property === 'insuranceMemberId' ? 'insurance_member_id' : property;
        await expect(
          openWithFreshServer('Patient', { id: patient.id, [property]: before[column] }, property),
        ).rejects.toMatchObject({ code: 'KEY_DESTROYED' });
      }
      await expect(openWithFreshServer('Encounter', encounterBefore, 'reason')).rejects.toMatchObject({
        code: 'KEY_DESTROYED',
      });
    });

    it('leaves no erased value in any table or in pg_dump', async () => {
      const tables = await scanAllTables(app);
      const dump = pgDump(app);
      for (const value of [before.email, before.phone, before.ssn, before.address, before.insurance_member_id]) {
        expect(tables).not.toContain(String(value));
        expect(dump).not.toContain(String(value));
      }
      for (const value of plaintextsOf(patient)) expect(dump).not.toContain(value);
    });

    it('lists the kept categories with their legal basis and until-date in a certificate that verifies', () => {
      const { statement } = certificate;
      const medical = statement.retained.find((r) => r.category === 'MEDICAL_RECORD');
      const until = new Date(encounterAt);
      until.setUTCFullYear(until.getUTCFullYear() + 10);
      expect(medical).toEqual({
        category: 'MEDICAL_RECORD',
        reason: expect.stringMatching(/10 years/),
        until: until.toISOString(),
      });
      expect(statement.retained.find((r) => r.category === 'HIPAA_DOCUMENTATION')?.reason).toMatch(
        /45 CFR 164\.316\(b\)\(2\): 6 years/,
      );
      expect(statement.erased).toEqual(expect.arrayContaining(['CONTACT', 'IDENTIFIERS', 'CARE_TEAM', 'ACCOUNT']));
      expect(statement.erased).not.toContain('MEDICAL_RECORD');
      expect(verifyErasureCertificate(certificate, app.services.erasure.publicKey)).toBe(true);
    });

    it('records the holds with their until-dates for the retention sweep', async () => {
      const holds = await sql<{ category: string; until: Date }>(
        app,
        'SELECT category, until FROM erasure_holds WHERE patient_id = $1 ORDER BY category',
        [patient.id],
      );
      expect(holds.map((h) => h.category)).toEqual(['HIPAA_DOCUMENTATION', 'MEDICAL_RECORD']);
    });

    it('refuses the kept record to roles restriction stops, and opens it to treatment (care team) only', async () => {
      const query = `query ($id: ID!) { patient(id: $id) { id lastName encounters { reason } } }`;
      for (const role of ['RECEPTIONIST', 'BILLING'] as const) {
        const token = (await signIn(app, await createAccount(app, role))).accessToken;
        expect(codeOf(await app.gql(query, { id: patient.id }, token))).toBe('NOT_FOUND');
      }
      // The erasure removed the care team: the former treating physician is refused too ...
      const physicianToken = (await signIn(app, physician)).accessToken;
      expect(codeOf(await app.gql(query, { id: patient.id }, physicianToken))).toBe('NOT_FOUND');
      // ... until treatment resumes through a new care-team assignment.
      await sql(
        app,
        `INSERT INTO care_team_members (id, patient_id, user_id, added_by, created_at) VALUES (gen_random_uuid(), $1, $2, $2, now())`,
        [patient.id, physician.user.id],
      );
      const res = await app.gql(query, { id: patient.id }, physicianToken);
      expect(res.body.errors).toBeUndefined();
      expect(res.body.data?.patient.encounters[0].reason).toBe(patient.encounterReason);
    });
  });

  describe('the certificate', () => {
    let certificate: ErasureCertificate;

    beforeAll(async () => {
      const patient = await seedPatient(app, 'Cert', { encounterAt: new Date(Date.now() - YEAR_MS) });
      certificate = await erase(patient.id);
    });

    it('fails verification when any part of the statement is altered', () => {
      const key = app.services.erasure.publicKey;
      const altered: ErasureCertificate[] = [
        { ...certificate, statement: { ...certificate.statement, retained: [] } },
        {
          ...certificate,
          statement: { ...certificate.statement, erased: [...certificate.statement.erased, 'MEDICAL_RECORD'] },
        },
        { ...certificate, statement: { ...certificate.statement, patientId: randomUUID() } },
        {
          ...certificate,
          statement: {
            ...certificate.statement,
            retained: certificate.statement.retained.map((r) => ({ ...r, until: '2099-01-01T00:00:00.000Z' })),
          },
        },
        { ...certificate, signature: certificate.signature.slice(0, -4) + 'AAAA' },
      ];
      for (const forged of altered) expect(verifyErasureCertificate(forged, key)).toBe(false);
      expect(verifyErasureCertificate(certificate, key)).toBe(true);
    });

    it('does not verify under another key, even one from the same secret for another purpose', () => {
      const checkpointKey = new StatementSigner(app.config.keys.auditHmacKey, 'audit-checkpoint');
      expect(verifyErasureCertificate(certificate, checkpointKey.publicKey)).toBe(false);
      // A forger's own key inside the certificate is ignored: verification takes the key from the caller.
      const forger = new StatementSigner(
        Buffer.alloc(32, 7).map((b, i) => b + i),
        'erasure-certificate',
      );
      const forged = { ...certificate, publicKey: forger.publicKey, signature: forger.sign('{}') };
      expect(verifyErasureCertificate(forged, app.services.erasure.publicKey)).toBe(false);
      checkpointKey.destroy();
      forger.destroy();
    });
  });

  describe('the audit trail', () => {
    let patient: SeededPatient;
    const requestId = randomUUID();

    beforeAll(async () => {
      patient = await seedPatient(app, 'Audited', { encounterAt: new Date(Date.now() - YEAR_MS), account: true });
      await erase(patient.id, requestId);
    });

    it('records the erasure by category name, and an ERASURE security event, without any PHI', async () => {
      const rows = await sql(app, `SELECT * FROM audit_events WHERE patient_id = $1 AND action = 'patient.erase'`, [
        patient.id,
      ]);
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ actor_id: officer.user.id, actor_role: 'PRIVACY_OFFICER', outcome: 'ALLOWED' });
      expect(rows[0].fields).toEqual(expect.arrayContaining(['CONTACT', 'IDENTIFIERS']));
      const events = await sql(app, `SELECT * FROM security_events WHERE patient_id = $1 AND event_type = 'ERASURE'`, [
        patient.id,
      ]);
      expect(events).toHaveLength(1);
      expect(events[0].details).toMatchObject({ requestId, retained: expect.arrayContaining(['MEDICAL_RECORD']) });
      const everything = JSON.stringify([
        await sql(app, 'SELECT * FROM audit_events'),
        await sql(app, 'SELECT * FROM security_events'),
        await sql(app, 'SELECT * FROM siem_outbox'),
      ]);
      for (const value of plaintextsOf(patient)) expect(everything).not.toContain(value);
      expect(app.logs.text()).not.toContain(patient.values.lastName);
    });
  });

  it('rolls back completely when the surrounding transaction fails', async () => {
    const patient = await seedPatient(app, 'Rollback', { account: true });
    await expect(
      app.services.orm.em.fork().transactional(async (em) => {
        await app.services.erasure.erase(
          em,
          { id: randomUUID(), patientId: patient.id },
          {
            userId: officer.user.id,
            role: 'PRIVACY_OFFICER',
          },
        );
        throw new Error('approval failed after the erasure');
      }),
    ).rejects.toThrow('approval failed');
    expect(await sql(app, 'SELECT 1 FROM patients WHERE id = $1', [patient.id])).toHaveLength(1);
    const keys = await sql<{ wrapped: Buffer | null }>(app, 'SELECT wrapped FROM data_keys WHERE subject_id = $1', [
      patient.id,
    ]);
    expect(keys.every((k) => k.wrapped !== null)).toBe(true);
    const fresh = app.services.orm.em.fork();
    const [row] = await sql(app, 'SELECT * FROM patients WHERE id = $1', [patient.id]);
    expect(await app.services.vault.open(fresh, { ...row, lastName: row.last_name }, 'lastName', 'Patient')).toBe(
      patient.values.lastName,
    );
  });
});
