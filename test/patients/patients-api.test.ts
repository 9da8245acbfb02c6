import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

import type { Role } from '../../src/config/roles';
import { createAccount, signIn, codeOf, type TestAccount } from '../support/accounts';
import { startTestApp, type TestApp } from '../support/app';
import { rawQuery } from '../support/database';

const tag = randomBytes(3).toString('hex');
const ALL_FIELDS = `id mrn firstName lastName dateOfBirth sex ssn email phone address { line1 city postalCode country } insuranceMemberId
  encounters { id reason notes diagnosisCodes startedAt }`;
const CREATE = `mutation Create($input: PatientInput!) { createPatient(input: $input) { ${ALL_FIELDS} } }`;
const READ = `query Read($id: ID!) { patient(id: $id) { ${ALL_FIELDS} } }`;
const ENCOUNTER = `mutation Enc($input: EncounterInput!) { createEncounter(input: $input) { id reason diagnosisCodes patient { id lastName } } }`;

const registration = {
  firstName: `Marisol${tag}`,
  lastName: `Thornquist${tag}`,
  dateOfBirth: '1975-09-30',
  sex: 'FEMALE',
  ssn: '219-09-9999',
  email: `marisol.${tag}@example.test`,
  phone: '+1 (415) 555-0142',
  address: { line1: `77 Larkspur Row ${tag}`, city: 'Fictionville', postalCode: '94110', country: 'us' },
  insuranceMemberId: `MEMBER${tag}4242`,
};

describe('patients through the API', () => {
  let app: TestApp;
  const tokens = {} as Record<Role | 'OTHER_PATIENT', string>;
  const accounts = {} as Record<Role, TestAccount>;
  let patientId: string;
  let otherPatientId: string;
  let encounterId: string;

  beforeAll(async () => {
    app = await startTestApp();
    for (const role of [
      'ADMIN',
      'PHYSICIAN',
      'NURSE',
      'RECEPTIONIST',
      'BILLING',
      'AUDITOR',
      'PRIVACY_OFFICER',
      'INTEGRATOR',
    ] as Role[]) {
      accounts[role] = await createAccount(app, role);
      tokens[role] = (await signIn(app, accounts[role])).accessToken;
    }
    const created = await app.gql(CREATE, { input: registration }, tokens.RECEPTIONIST);
    expect(created.body.errors).toBeUndefined();
    patientId = created.body.data!.createPatient.id;
    const other = await app.gql(
      CREATE,
      { input: { ...registration, ssn: null, email: null, firstName: `Other${tag}` } },
      tokens.RECEPTIONIST,
    );
    otherPatientId = other.body.data!.createPatient.id;
    const own: TestAccount = await createAccount(app, 'PATIENT', { patientId });
    tokens.PATIENT = (await signIn(app, own)).accessToken;
    tokens.OTHER_PATIENT = (
      await signIn(app, await createAccount(app, 'PATIENT', { patientId: otherPatientId }))
    ).accessToken;
    // Clinicians reach patients through their care team (access rules are tested in test/access).
    for (const role of ['PHYSICIAN', 'NURSE'] as Role[]) {
      for (const id of [patientId, otherPatientId]) {
        await rawQuery(
          app.db.url,
          'INSERT INTO care_team_members (id, patient_id, user_id, added_by, created_at) VALUES (gen_random_uuid(), $1, $2, $2, now())',
          [id, accounts[role].user.id],
        );
      }
    }
    const encounter = await app.gql(
      ENCOUNTER,
      {
        input: {
          patientId,
          reason: `Chest pain on exertion ${tag}`,
          notes: `Family history of MI ${tag}`,
          diagnosisCodes: ['i20.9', 'Z82.49'],
        },
      },
      tokens.PHYSICIAN,
    );
    expect(encounter.body.errors).toBeUndefined();
    encounterId = encounter.body.data!.createEncounter.id;
  });

  afterAll(async () => {
    await app?.close();
  });

  it('registers a patient with normalised values and answers with them to a clinician', async () => {
    const res = await app.gql(READ, { id: patientId }, tokens.PHYSICIAN);

    expect(res.body.data!.patient).toMatchObject({
      firstName: registration.firstName,
      dateOfBirth: '1975-09-30',
      ssn: '219-09-9999',
      phone: '+14155550142',
      address: { city: 'Fictionville', country: 'US' },
      insuranceMemberId: registration.insuranceMemberId,
      encounters: [{ id: encounterId, diagnosisCodes: ['I20.9', 'Z82.49'], reason: `Chest pain on exertion ${tag}` }],
    });
    expect(res.body.data!.patient.mrn).toMatch(/^MRN\d{9}$/);
  });

  it('records who read which fields of the record, and why, before answering', async () => {
    const res = await app.gql(`query { patient(id: "${patientId}") { id ssn lastName } }`, {}, tokens.PHYSICIAN);
    expect(res.body.errors).toBeUndefined();

    const [row] = await rawQuery<{
      action: string;
      purpose: string;
      outcome: string;
      fields: string[];
      actor_role: string;
      request_id: string;
    }>(
      app.db.url,
      "SELECT action, purpose, outcome, fields, actor_role, request_id FROM audit_events WHERE patient_id = $1 AND action = 'patient.read' ORDER BY at DESC LIMIT 1",
      [patientId],
    );
    expect(row).toMatchObject({
      action: 'patient.read',
      purpose: 'TREATMENT',
      outcome: 'ALLOWED',
      actor_role: 'PHYSICIAN',
      fields: ['id', 'ssn', 'lastName'],
    });
    expect(row.request_id).toBe(res.headers.get('x-request-id'));
  });

  it('writes no patient when its audit row cannot be written (regression: change committed before its audit row)', async () => {
    const count = async () =>
      Number((await rawQuery<{ n: string }>(app.db.url, 'SELECT count(*) AS n FROM patients'))[0].n);
    const before = await count();
    await rawQuery(app.db.url, 'ALTER TABLE audit_events RENAME TO audit_events_unavailable');
    try {
      const res = await app.gql(CREATE, { input: { ...registration, ssn: null, email: null } }, tokens.PHYSICIAN);

      expect(codeOf(res)).toBe('INTERNAL_SERVER_ERROR');
      expect(await count()).toBe(before);
      const orphans = await rawQuery(
        app.db.url,
        'SELECT 1 FROM care_team_members m LEFT JOIN patients p ON p.id = m.patient_id WHERE p.id IS NULL',
      );
      expect(orphans).toHaveLength(0);
    } finally {
      await rawQuery(app.db.url, 'ALTER TABLE audit_events_unavailable RENAME TO audit_events');
    }
  });

  it('stores nothing it received through the API in plaintext, in any table or in a pg_dump', async () => {
    const secrets = [
      registration.firstName,
      registration.lastName,
      '219-09-9999',
      '219099999',
      registration.email,
      '4155550142',
      registration.address.line1,
      registration.insuranceMemberId,
      `Chest pain on exertion ${tag}`,
      `Family history of MI ${tag}`,
      'I20.9',
      'Z82.49',
      '1975-09-30',
    ];
    const dump = execFileSync('pg_dump', ['--no-owner', app.db.url], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    for (const value of secrets) expect(dump).not.toContain(value);
    const tables = await rawQuery<{ table_name: string }>(
      app.db.url,
      "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'",
    );
    for (const { table_name } of tables) {
      const rows = JSON.stringify(await rawQuery(app.db.url, `SELECT * FROM "${table_name}"`));
      for (const value of secrets) expect(rows).not.toContain(value);
    }
  });

  it('writes no PHI value into any log line', () => {
    const logs = app.logs.text();
    for (const value of [
      registration.firstName,
      registration.lastName,
      '219-09-9999',
      registration.email,
      `Chest pain on exertion ${tag}`,
    ]) {
      expect(logs).not.toContain(value);
    }
  });

  it('shows a receptionist demographics and contact details, the SSN partly masked and no clinical or insurance data', async () => {
    const { patient } = (await app.gql(READ, { id: patientId }, tokens.RECEPTIONIST)).body.data!;

    expect(patient).toMatchObject({
      firstName: registration.firstName,
      email: registration.email,
      phone: '+14155550142',
    });
    expect(patient.ssn).toBe('*******9999');
    expect(patient.insuranceMemberId).toBeNull();
    expect(patient.encounters).toEqual([]);
  });

  it('shows billing staff identity and insurance, the SSN masked, and no clinical data', async () => {
    const { patient } = (await app.gql(READ, { id: patientId }, tokens.BILLING)).body.data!;

    expect(patient.insuranceMemberId).toBe(registration.insuranceMemberId);
    expect(patient.ssn).toBe('*******9999');
    expect(patient.encounters).toEqual([]);
  });

  it('shows an administrator initials and the year of birth only', async () => {
    const { patient } = (await app.gql(READ, { id: patientId }, tokens.ADMIN)).body.data!;

    expect(patient).toMatchObject({
      firstName: `${registration.firstName[0]}.`,
      lastName: `${registration.lastName[0]}.`,
      dateOfBirth: '1975',
    });
    expect([patient.ssn, patient.email, patient.phone, patient.address, patient.insuranceMemberId]).toEqual([
      null,
      null,
      null,
      null,
      null,
    ]);
    expect(patient.encounters).toEqual([]);
  });

  it('refuses auditors and privacy officers any patient record', async () => {
    expect(codeOf(await app.gql(READ, { id: patientId }, tokens.AUDITOR))).toBe('FORBIDDEN');
    expect(codeOf(await app.gql(READ, { id: patientId }, tokens.PRIVACY_OFFICER))).toBe('FORBIDDEN');
  });

  it('lets a patient read their own record and answers another patient’s exactly like a missing one', async () => {
    expect((await app.gql(READ, { id: patientId }, tokens.PATIENT)).body.data!.patient.ssn).toBe('219-09-9999');
    const other = await app.gql(READ, { id: otherPatientId }, tokens.PATIENT);
    const missing = await app.gql(READ, { id: '00000000-0000-4000-8000-000000000000' }, tokens.PATIENT);
    expect(codeOf(other)).toBe('NOT_FOUND');
    expect(other.body.errors![0].message).toBe(missing.body.errors![0].message);
  });

  it('does not let a patient reach another patient through an encounter', async () => {
    const res = await app.gql(
      `query { patient(id: "${patientId}") { encounters { patient { id } } } }`,
      {},
      tokens.OTHER_PATIENT,
    );
    expect(codeOf(res)).toBe('NOT_FOUND');
  });

  it('requires a signed-in caller', async () => {
    expect(codeOf(await app.gql(READ, { id: patientId }))).toBe('UNAUTHENTICATED');
    expect(codeOf(await app.gql(CREATE, { input: registration }))).toBe('UNAUTHENTICATED');
  });

  it('lets only clinicians and front desk register patients, and only clinicians record encounters', async () => {
    for (const role of ['ADMIN', 'BILLING', 'AUDITOR', 'PRIVACY_OFFICER', 'INTEGRATOR', 'PATIENT'] as Role[]) {
      expect(codeOf(await app.gql(CREATE, { input: registration }, tokens[role]))).toBe('FORBIDDEN');
    }
    for (const role of ['RECEPTIONIST', 'BILLING', 'ADMIN', 'PATIENT'] as Role[]) {
      const res = await app.gql(ENCOUNTER, { input: { patientId, reason: 'x', diagnosisCodes: [] } }, tokens[role]);
      expect(codeOf(res)).toBe('FORBIDDEN');
    }
  });

  it.each([
    ['ssn', { ssn: '000-12-3456' }],
    ['dateOfBirth', { dateOfBirth: '2999-01-01' }],
    ['email', { email: 'not an email' }],
    ['phone', { phone: '555-0100' }],
    ['firstName', { firstName: 'x'.repeat(101) }],
    ['address.country', { address: { ...registration.address, country: 'USA' } }],
  ])('refuses a bad %s with BAD_USER_INPUT naming the field and writes nothing', async (field, change) => {
    const before = await rawQuery<{ n: string }>(app.db.url, 'SELECT count(*) AS n FROM patients');

    const res = await app.gql(CREATE, { input: { ...registration, ...change } }, tokens.RECEPTIONIST);

    expect(codeOf(res)).toBe('BAD_USER_INPUT');
    expect(res.body.errors![0].extensions!.field).toBe(field);
    expect(JSON.stringify(res.body)).not.toContain(JSON.stringify(Object.values(change)[0]).slice(1, -1));
    const after = await rawQuery<{ n: string }>(app.db.url, 'SELECT count(*) AS n FROM patients');
    expect(after[0].n).toBe(before[0].n);
  });

  it('refuses a second patient with an MRN already in use, naming the field (regression: MRN was not unique)', async () => {
    const mrn = (await app.gql(READ, { id: patientId }, tokens.PHYSICIAN)).body.data!.patient.mrn as string;
    const before = await rawQuery<{ n: string }>(app.db.url, 'SELECT count(*) AS n FROM patients');

    const res = await app.gql(
      CREATE,
      { input: { ...registration, mrn: ` ${mrn.toLowerCase()} ` } },
      tokens.RECEPTIONIST,
    );

    expect(codeOf(res)).toBe('BAD_USER_INPUT');
    expect(res.body.errors![0].extensions!.field).toBe('mrn');
    expect(JSON.stringify(res.body)).not.toContain(mrn);
    expect((await rawQuery<{ n: string }>(app.db.url, 'SELECT count(*) AS n FROM patients'))[0].n).toBe(before[0].n);
  });

  it('refuses a diagnosis that is not an ICD-10 code, naming its position', async () => {
    const res = await app.gql(
      ENCOUNTER,
      { input: { patientId, reason: 'Review', diagnosisCodes: ['E11.65', 'diabetes'] } },
      tokens.NURSE,
    );
    expect(codeOf(res)).toBe('BAD_USER_INPUT');
    expect(res.body.errors![0].extensions!.field).toBe('diagnosisCodes.1');
  });

  it('finds patients by exact SSN, email, MRN, phone and last name with date of birth', async () => {
    const mrn = (await app.gql(READ, { id: patientId }, tokens.PHYSICIAN)).body.data!.patient.mrn as string;
    const find = async (args: string) =>
      (await app.gql(`query { findPatients(${args}) { id } }`, {}, tokens.RECEPTIONIST)).body.data!.findPatients.map(
        (p: { id: string }) => p.id,
      );

    expect(await find('ssn: "219099999"')).toEqual([patientId]);
    expect(await find(`email: " ${registration.email.toUpperCase()} "`)).toEqual([patientId]);
    expect(await find(`mrn: "${mrn.toLowerCase()}"`)).toEqual([patientId]);
    // Both were registered with this number (a shared family phone): both match.
    expect((await find('phone: "+1 415-555-0142"')).sort()).toEqual([patientId, otherPatientId].sort());
    expect(
      (await find(`lastName: "${registration.lastName.toUpperCase()}", dateOfBirth: "1975-09-30"`)).sort(),
    ).toEqual([patientId, otherPatientId].sort());
    expect(await find('ssn: "219-09-9998"')).toEqual([]);
  });

  it('pages through patients with cursors and refuses pages over 100', async () => {
    const first = await app.gql(
      '{ patients(first: 1) { nodes { id } pageInfo { endCursor hasNextPage } } }',
      {},
      tokens.RECEPTIONIST,
    );
    const page = first.body.data!.patients;
    expect(page.nodes).toHaveLength(1);
    expect(page.pageInfo.hasNextPage).toBe(true);
    const second = await app.gql(
      'query($after: String) { patients(first: 1, after: $after) { nodes { id } } }',
      { after: page.pageInfo.endCursor },
      tokens.RECEPTIONIST,
    );
    expect(second.body.data!.patients.nodes[0].id).not.toBe(page.nodes[0].id);
    expect(codeOf(await app.gql('{ patients(first: 101) { nodes { id } } }', {}, tokens.RECEPTIONIST))).toBe(
      'BAD_USER_INPUT',
    );
    expect(codeOf(await app.gql('{ patients(after: "forged") { nodes { id } } }', {}, tokens.RECEPTIONIST))).toBe(
      'BAD_USER_INPUT',
    );
  });

  it('updates only the given fields and keeps search working on the new values', async () => {
    const res = await app.gql(
      'mutation($id: ID!, $input: PatientUpdateInput!) { updatePatient(id: $id, input: $input) { phone email } }',
      { id: otherPatientId, input: { phone: '+442079460000' } },
      tokens.NURSE,
    );
    expect(res.body.data!.updatePatient).toEqual({ phone: '+442079460000', email: null });
    const found = await app.gql('{ findPatients(ssn: "219-09-9999") { id } }', {}, tokens.NURSE);
    expect(found.body.data!.findPatients).toEqual([{ id: patientId }]);
  });

  it('answers an id that cannot exist with NOT_FOUND, not an internal error', async () => {
    expect(codeOf(await app.gql(READ, { id: 'not-a-uuid' }, tokens.PHYSICIAN))).toBe('NOT_FOUND');
  });
});
