import { ConsentType } from '../../src/consent/consent.entity';
import { Sensitivity } from '../../src/patients/encounter.entity';
import type { Role } from '../../src/config/roles';
import { startTestApp, type TestApp } from '../support/app';
import { codeOf, createAccount, signIn, sql } from '../support/accounts';
import { seedPatient, type SeededPatient } from './erasure-support';

const EXPORT = `query { researchExport { method records { pseudonym birthYear ageGroup sex zip3 encounters { year diagnosisCodes } } } }`;

/** Every way a full date could be written. */
function dateForms(iso: string): string[] {
  const [y, m, d] = iso.slice(0, 10).split('-');
  return [`${y}-${m}-${d}`, `${m}/${d}/${y}`, `${d}.${m}.${y}`, `${d}/${m}/${y}`, `${y}${m}${d}`, `${y}/${m}/${d}`];
}

function identifiersOf(p: SeededPatient, extra: string[] = []): string[] {
  const v = p.values;
  return [
    p.id,
    p.mrn,
    v.firstName,
    v.lastName,
    v.ssn,
    v.ssn.replace(/-/g, ''),
    v.email,
    v.phone,
    v.phone.slice(2),
    v.address.line1,
    v.address.city,
    v.address.postalCode,
    v.insuranceMemberId,
    ...dateForms(v.dateOfBirth),
    ...(p.encounterReason ? [p.encounterReason] : []),
    ...(p.account ? [p.account.user.id, p.account.email] : []),
    ...extra,
  ];
}

describe('researchExport (HIPAA Safe Harbor)', () => {
  let app: TestApp;
  let officerToken: string;
  const encounterAt = new Date('2024-05-17T09:41:00Z');
  const seeded: Record<string, SeededPatient> = {};
  let allIdentifiers: string[] = [];

  beforeAll(async () => {
    app = await startTestApp();
    officerToken = (await signIn(app, await createAccount(app, 'PRIVACY_OFFICER'))).accessToken;
    const research = (given: boolean): [ConsentType, boolean][] => [[ConsentType.RESEARCH, given]];
    seeded.consenting = await seedPatient(app, 'Consenting', {
      dateOfBirth: '1980-07-23',
      postalCode: '94107',
      encounterAt,
      consents: research(true),
      account: true,
    });
    seeded.withdrawn = await seedPatient(app, 'Withdrawn', {
      encounterAt,
      consents: [
        [ConsentType.RESEARCH, true],
        [ConsentType.RESEARCH, false],
      ],
    });
    seeded.never = await seedPatient(app, 'Never', { encounterAt, consents: [[ConsentType.TREATMENT, true]] });
    seeded.old = await seedPatient(app, 'Nonagenarian', {
      dateOfBirth: '1930-02-11',
      postalCode: '10001',
      consents: research(true),
    });
    seeded.smallArea = await seedPatient(app, 'Smallarea', {
      dateOfBirth: '1990-11-05',
      postalCode: '03601',
      consents: research(true),
    });
    seeded.later = await seedPatient(app, 'Laterwithdraws', { dateOfBirth: '1966-01-30', consents: research(true) });
    seeded.restricted = await seedPatient(app, 'Restricted', { consents: research(true) });
    await sql(app, 'UPDATE patients SET restricted_at = now() WHERE id = $1', [seeded.restricted.id]);
    seeded.sensitive = await seedPatient(app, 'Sensitive', { encounterAt, consents: research(true) });
    const clinician = await createAccount(app, 'PHYSICIAN');
    await app.services.patients.createEncounter(app.services.orm.em.fork(), clinician.user.id, {
      patientId: seeded.sensitive.id,
      reason: 'Sensitive visit',
      diagnosisCodes: ['F32.9'],
      sensitivity: Sensitivity.MENTAL_HEALTH,
      startedAt: new Date('2023-03-03T10:00:00Z'),
    } as never);
    const encounterIds = (await sql<{ id: string }>(app, 'SELECT id FROM encounters')).map((e) => e.id);
    allIdentifiers = [
      ...Object.values(seeded).flatMap((p) => identifiersOf(p)),
      ...encounterIds,
      clinician.user.id,
      ...dateForms(encounterAt.toISOString()),
      encounterAt.toISOString(),
      'Sensitive visit',
      'F32.9',
    ];
  });

  afterAll(async () => {
    await app?.close();
  });

  it('contains exactly the unrestricted patients whose RESEARCH consent is current, generalised', async () => {
    const res = await app.gql(EXPORT, {}, officerToken);
    expect(res.body.errors).toBeUndefined();
    const { method, records } = res.body.data!.researchExport;
    expect(method).toMatch(/Safe Harbor/);
    expect(records).toHaveLength(5);

    const byBirthYear = new Map(records.map((r: { birthYear: number | null }) => [r.birthYear, r]));
    expect(byBirthYear.get(1980)).toMatchObject({
      zip3: '941',
      sex: 'FEMALE',
      ageGroup: expect.stringMatching(/^4\d-4\d$/),
      encounters: [{ year: 2024, diagnosisCodes: ['J45.909'] }],
    });
    expect(byBirthYear.get(null)).toMatchObject({ ageGroup: '90+', zip3: '100' });
    expect(byBirthYear.get(1990)).toMatchObject({ zip3: '000' });
    // The sensitivity-labelled encounter is left out; the ordinary one stays.
    const sensitive = records.find(
      (r: { encounters: unknown[]; birthYear: number }) => r.birthYear === 1972 && r.encounters.length > 0,
    );
    expect(sensitive.encounters).toEqual([{ year: 2024, diagnosisCodes: ['J45.909'] }]);
    expect(new Set(records.map((r: { pseudonym: string }) => r.pseudonym)).size).toBe(5);
  });

  it('carries no identifier of any seeded patient anywhere in the output', async () => {
    const text = JSON.stringify((await app.gql(EXPORT, {}, officerToken)).body);
    for (const identifier of allIdentifiers) expect(text).not.toContain(identifier);
  });

  it('gives new pseudonyms in every export, so two exports cannot be linked', async () => {
    const first = (await app.gql(EXPORT, {}, officerToken)).body.data!.researchExport.records;
    const second = (await app.gql(EXPORT, {}, officerToken)).body.data!.researchExport.records;
    const firstCodes = new Set(first.map((r: { pseudonym: string }) => r.pseudonym));
    for (const r of second) expect(firstCodes.has(r.pseudonym)).toBe(false);
  });

  it('excludes a patient from the moment the RESEARCH consent is withdrawn', async () => {
    const count = async () => (await app.gql(EXPORT, {}, officerToken)).body.data!.researchExport.records.length;
    expect(await count()).toBe(5);
    await app.services.consents.withdraw(app.services.orm.em.fork(), seeded.later.id, ConsentType.RESEARCH, {
      userId: seeded.later.id,
      role: 'PATIENT',
      channel: 'PORTAL',
      ip: null,
      userAgent: null,
    });
    expect(await count()).toBe(4);
  });

  it('audits each included patient with purpose RESEARCH and field names only', async () => {
    const rows = await sql<{ patient_id: string; purpose: string; fields: string[] }>(
      app,
      `SELECT patient_id, purpose, fields FROM audit_events WHERE action = 'research.export'`,
    );
    const ids = new Set(rows.map((r) => r.patient_id));
    expect(ids.has(seeded.consenting.id)).toBe(true);
    for (const excluded of [seeded.withdrawn, seeded.never, seeded.restricted])
      expect(ids.has(excluded.id)).toBe(false);
    expect(rows.every((r) => r.purpose === 'RESEARCH')).toBe(true);
    const text = JSON.stringify(rows);
    for (const p of Object.values(seeded)) expect(text).not.toContain(p.values.lastName);
  });

  it('is refused to every other role and to anonymous callers', async () => {
    const roles: Role[] = ['ADMIN', 'PHYSICIAN', 'NURSE', 'RECEPTIONIST', 'BILLING', 'AUDITOR', 'INTEGRATOR'];
    for (const role of roles) {
      const token = (await signIn(app, await createAccount(app, role))).accessToken;
      const res = await app.gql(EXPORT, {}, token);
      expect([role, codeOf(res)]).toEqual([role, 'FORBIDDEN']);
      expect(res.body.data ?? null).toBeNull();
    }
    const patientToken = (await signIn(app, seeded.consenting.account!)).accessToken;
    expect(codeOf(await app.gql(EXPORT, {}, patientToken))).toBe('FORBIDDEN');
    expect(codeOf(await app.gql(EXPORT))).toBe('UNAUTHENTICATED');
  });

  it('is rate-limited per user', async () => {
    // Same database and keys as the main app, rate limits at their real values.
    const keys = app.config.keys;
    const limitedApp = await startTestApp(
      {
        RATE_LIMIT_MULTIPLIER: '1',
        MASTER_KEYS: keys.masterKeys,
        BLIND_INDEX_KEY: keys.blindIndexKey.toString('base64'),
        AUDIT_HMAC_KEY: keys.auditHmacKey.toString('base64'),
      },
      { databaseUrl: app.db.url },
    );
    try {
      const officer = await createAccount(limitedApp, 'PRIVACY_OFFICER');
      const token = (await signIn(limitedApp, officer)).accessToken;
      const codes: (string | undefined)[] = [];
      for (let i = 0; i < 11; i++) codes.push(codeOf(await limitedApp.gql(`{ researchExport { method } }`, {}, token)));
      expect(codes.slice(0, 10)).toEqual(Array(10).fill(undefined));
      expect(codes[10]).toBe('RATE_LIMITED');
    } finally {
      await limitedApp.close();
    }
  });
});
