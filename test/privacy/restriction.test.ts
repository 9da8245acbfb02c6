import { randomBytes, randomUUID } from 'node:crypto';

import type { Role } from '../../src/config/roles';
import type { Actor } from '../../src/graphql/context';
import { codeOf, createAccount, signIn, sql, testEmail, testPassword, type TestAccount } from '../support/accounts';
import { startTestApp, type TestApp } from '../support/app';

const tag = randomBytes(3).toString('hex');
const LAST_NAME = `Ravensworth${tag}`;
const BIRTH = '1990-07-14';
const CREATE_USER = `mutation($input: CreateUserInput!) { createUser(input: $input) { id } }`;
const CREATE = `mutation($input: PatientInput!) { createPatient(input: $input) { id mrn } }`;
const ASSIGN = `mutation($patientId: ID!, $userId: ID!) { assignCareTeam(patientId: $patientId, userId: $userId) }`;
const GRANT = `mutation($input: ConsentInput!) { grantConsent(input: $input) { type given } }`;
const BREAK = `mutation($patientId: ID!, $reason: String!) { breakGlass(patientId: $patientId, reason: $reason) { id } }`;
const READ = `query($id: ID!) { patient(id: $id) { id lastName } }`;
const LIST = `{ patients(first: 100) { nodes { id } } }`;
const FIND = `query($lastName: String, $dob: Date) { findPatients(lastName: $lastName, dateOfBirth: $dob) { id } }`;
const RESTRICT = `mutation($patientId: ID!, $reason: String!) {
  restrictProcessing(patientId: $patientId, reason: $reason) { id type status requestedByRole decidedBy reason }
}`;
const LIFT = `mutation($patientId: ID!) { liftRestriction(patientId: $patientId) }`;
const FILE_RESTRICTION = `mutation($patientId: ID!, $reason: String!) {
  requestRestriction(patientId: $patientId, reason: $reason) { id status }
}`;
const UPDATE = `mutation($id: ID!, $input: PatientUpdateInput!) { updatePatient(id: $id, input: $input) { id } }`;

let app: TestApp;
const tokens = {} as Record<string, string>;
const accounts = {} as Record<string, TestAccount>;

async function newPatient(): Promise<{ id: string; mrn: string }> {
  const input = { firstName: `Linnea${tag}`, lastName: LAST_NAME, dateOfBirth: BIRTH, sex: 'FEMALE' };
  const created = await app.gql(CREATE, { input }, tokens.PHYSICIAN);
  expect(created.body.errors).toBeUndefined();
  const { id, mrn } = created.body.data!.createPatient;
  const assigned = await app.gql(ASSIGN, { patientId: id, userId: accounts.ADMIN_ON_TEAM.user.id }, tokens.ADMIN);
  expect(assigned.body.errors).toBeUndefined();
  const shared = await app.gql(
    GRANT,
    { input: { patientId: id, type: 'DATA_SHARING', policyVersion: 'share-1' } },
    tokens.PRIVACY_OFFICER,
  );
  expect(shared.body.errors).toBeUndefined();
  const glass = await app.gql(BREAK, { patientId: id, reason: `Collapsed in the waiting room ${tag}` }, tokens.NURSE);
  expect(glass.body.errors).toBeUndefined();
  return { id, mrn };
}

/** Whether the caller reaches the patient on every path: direct read, list page, search. */
async function reaches(token: string, patientId: string): Promise<{ direct: string; inList: boolean; found: boolean }> {
  const direct = await app.gql(READ, { id: patientId }, token);
  const list = await app.gql(LIST, {}, token);
  const found = await app.gql(FIND, { lastName: LAST_NAME, dob: BIRTH }, token);
  const ids = (rows?: { id: string }[]) => (rows ?? []).map((p) => p.id);
  return {
    direct: direct.body.data?.patient?.id === patientId ? 'READ' : (codeOf(direct) ?? 'NONE'),
    inList: ids(list.body.data?.patients?.nodes).includes(patientId),
    found: ids(found.body.data?.findPatients).includes(patientId),
  };
}

const READS = { direct: 'READ', inList: true, found: true };
const GONE = { direct: 'NOT_FOUND', inList: false, found: false };

beforeAll(async () => {
  app = await startTestApp();
  for (const role of [
    'PHYSICIAN',
    'NURSE',
    'RECEPTIONIST',
    'BILLING',
    'ADMIN',
    'AUDITOR',
    'PRIVACY_OFFICER',
  ] as Role[]) {
    accounts[role] = await createAccount(app, role);
    tokens[role] = (await signIn(app, accounts[role])).accessToken;
  }
  accounts.ADMIN_ON_TEAM = await createAccount(app, 'ADMIN');
  tokens.ADMIN_ON_TEAM = (await signIn(app, accounts.ADMIN_ON_TEAM)).accessToken;
  const integrator = {
    email: testEmail('integrator'),
    password: testPassword(),
    role: 'INTEGRATOR',
    displayName: 'Partner lab feed',
    scopes: ['patients:read'],
  };
  expect((await app.gql(CREATE_USER, { input: integrator }, tokens.ADMIN)).body.errors).toBeUndefined();
  tokens.INTEGRATOR = (await signIn(app, integrator)).accessToken;
});

afterAll(async () => {
  await app?.close();
});

describe('restricting processing (GDPR Art. 18)', () => {
  it('stops operations, billing, data sharing and administration at once, keeps treatment and the patient', async () => {
    const patient = await newPatient();
    const own = await createAccount(app, 'PATIENT', { patientId: patient.id });
    const patientToken = (await signIn(app, own)).accessToken;

    // Before: front desk, billing, the consented integrator and the ADMIN rows all reach the patient.
    for (const who of ['RECEPTIONIST', 'BILLING', 'INTEGRATOR', 'PHYSICIAN', 'NURSE']) {
      expect({ who, ...(await reaches(tokens[who], patient.id)) }).toEqual({ who, ...READS });
    }
    expect((await app.gql(READ, { id: patient.id }, tokens.ADMIN)).body.data?.patient.id).toBe(patient.id);

    const res = await app.gql(
      RESTRICT,
      { patientId: patient.id, reason: `Accuracy contested ${tag}` },
      tokens.PRIVACY_OFFICER,
    );
    expect(res.body.errors).toBeUndefined();

    for (const who of ['RECEPTIONIST', 'BILLING', 'INTEGRATOR']) {
      expect({ who, ...(await reaches(tokens[who], patient.id)) }).toEqual({ who, ...GONE });
    }
    expect(codeOf(await app.gql(READ, { id: patient.id }, tokens.ADMIN))).toBe('NOT_FOUND');
    const adminList = (await app.gql(LIST, {}, tokens.ADMIN)).body.data!.patients.nodes.map((p: any) => p.id);
    expect(adminList).not.toContain(patient.id);
    // Treatment: the care team and the break-glass nurse; an ADMIN on the care team keeps that access too.
    for (const who of ['PHYSICIAN', 'NURSE']) {
      expect({ who, ...(await reaches(tokens[who], patient.id)) }).toEqual({ who, ...READS });
    }
    expect((await app.gql(READ, { id: patient.id }, tokens.ADMIN_ON_TEAM)).body.data?.patient.id).toBe(patient.id);
    // The patient's own access stays (Art. 15).
    expect((await app.gql(READ, { id: patient.id }, patientToken)).body.data?.patient.lastName).toBe(LAST_NAME);
    // Front-desk writes stop too; a clinician on the care team can still correct the record.
    const frontDesk = await app.gql(UPDATE, { id: patient.id, input: { phone: '+14155550111' } }, tokens.RECEPTIONIST);
    expect(codeOf(frontDesk)).toBe('NOT_FOUND');
    const clinician = await app.gql(UPDATE, { id: patient.id, input: { phone: '+14155550111' } }, tokens.PHYSICIAN);
    expect(clinician.body.errors).toBeUndefined();

    // Lifting it restores the others at once.
    expect((await app.gql(LIFT, { patientId: patient.id }, tokens.PRIVACY_OFFICER)).body.data?.liftRestriction).toBe(
      true,
    );
    for (const who of ['RECEPTIONIST', 'BILLING', 'INTEGRATOR']) {
      expect({ who, ...(await reaches(tokens[who], patient.id)) }).toEqual({ who, ...READS });
    }
  });

  it('the access decision, role by role, on a restricted patient', async () => {
    const patient = await newPatient();
    await app.gql(RESTRICT, { patientId: patient.id, reason: `Objection pending ${tag}` }, tokens.PRIVACY_OFFICER);
    const em = app.services.orm.em.fork();
    const actor = (role: Role, extra: Partial<Actor> = {}): Actor => ({
      userId: accounts[role]?.user.id ?? randomUUID(),
      role,
      sessionId: randomUUID(),
      ...extra,
    });
    const decisions: [string, Actor, string | null][] = [
      ['PHYSICIAN on the care team', actor('PHYSICIAN'), 'TREATMENT'],
      ['NURSE under break-glass', actor('NURSE'), 'EMERGENCY'],
      ['ADMIN on the care team', { ...actor('ADMIN'), userId: accounts.ADMIN_ON_TEAM.user.id }, 'TREATMENT'],
      ['ADMIN not on the care team', actor('ADMIN'), null],
      ['PHYSICIAN not on the care team', { ...actor('PHYSICIAN'), userId: randomUUID() }, null],
      ['RECEPTIONIST', actor('RECEPTIONIST'), null],
      ['BILLING', actor('BILLING'), null],
      ['INTEGRATOR with DATA_SHARING consent', actor('INTEGRATOR', { scopes: ['patients:read'] }), null],
      ['AUDITOR', actor('AUDITOR'), null],
      ['PRIVACY_OFFICER', actor('PRIVACY_OFFICER'), null],
      ['PATIENT themself', actor('PATIENT', { patientId: patient.id }), 'SELF_ACCESS'],
      ['another PATIENT', actor('PATIENT', { patientId: randomUUID() }), null],
    ];
    for (const [who, caller, purpose] of decisions) {
      const decided = await app.services.access.decide(em, caller, [patient.id]);
      expect({ who, purpose: decided.get(patient.id)?.purpose ?? null }).toEqual({ who, purpose });
    }

    // The same callers on an unrestricted patient, so the table above can fail for the right reason.
    const open = await newPatient();
    const receptionist = await app.services.access.decide(em, actor('RECEPTIONIST'), [open.id]);
    const integrator = await app.services.access.decide(em, actor('INTEGRATOR', { scopes: ['patients:read'] }), [
      open.id,
    ]);
    expect(receptionist.get(open.id)?.purpose).toBe('OPERATIONS');
    expect(integrator.get(open.id)?.purpose).toBe('DATA_SHARING');
  });

  it('completes the patient’s open RESTRICTION request, audited without its text', async () => {
    const patient = await newPatient();
    const own = await createAccount(app, 'PATIENT', { patientId: patient.id });
    const patientToken = (await signIn(app, own)).accessToken;
    const text = `Please stop using my data while my address is corrected ${tag}`;
    const filed = await app.gql(FILE_RESTRICTION, { patientId: patient.id, reason: text }, patientToken);
    expect(filed.body.data?.requestRestriction.status).toBe('RECEIVED');

    const res = await app.gql(RESTRICT, { patientId: patient.id, reason: 'Per request' }, tokens.PRIVACY_OFFICER);
    expect(res.body.data?.restrictProcessing).toMatchObject({
      id: filed.body.data!.requestRestriction.id,
      type: 'RESTRICTION',
      status: 'COMPLETED',
      requestedByRole: 'PATIENT',
      decidedBy: accounts.PRIVACY_OFFICER.user.id,
      reason: text,
    });
    const [row] = await sql(app, 'SELECT restricted_at FROM patients WHERE id = $1', [patient.id]);
    expect(row.restricted_at).toBeInstanceOf(Date);
    const audit = await sql<{ action: string; purpose: string }>(
      app,
      `SELECT action, purpose FROM audit_events WHERE patient_id = $1 AND action IN ('patient.restrict', 'dsr.complete')
       ORDER BY action`,
      [patient.id],
    );
    expect(audit).toEqual([
      { action: 'dsr.complete', purpose: 'PRIVACY' },
      { action: 'patient.restrict', purpose: 'PRIVACY' },
    ]);
    const anywhere = await sql(app, "SELECT 1 FROM audit_events t WHERE t::text LIKE '%' || $1 || '%'", [tag]);
    expect(anywhere).toEqual([]);
  });

  it('records a completed RESTRICTION request when the officer restricts without one', async () => {
    const patient = await newPatient();
    const res = await app.gql(
      RESTRICT,
      { patientId: patient.id, reason: `Court order ${tag}` },
      tokens.PRIVACY_OFFICER,
    );
    expect(res.body.data?.restrictProcessing).toMatchObject({
      type: 'RESTRICTION',
      status: 'COMPLETED',
      requestedByRole: 'PRIVACY_OFFICER',
    });
  });

  it('refuses restricting twice, lifting an unrestricted patient, and unknown patients', async () => {
    const patient = await newPatient();
    const first = await app.gql(RESTRICT, { patientId: patient.id, reason: 'First time' }, tokens.PRIVACY_OFFICER);
    expect(first.body.errors).toBeUndefined();
    const again = await app.gql(RESTRICT, { patientId: patient.id, reason: 'Second time' }, tokens.PRIVACY_OFFICER);
    expect(codeOf(again)).toBe('BAD_USER_INPUT');
    expect(await sql(app, 'SELECT id FROM data_subject_requests WHERE patient_id = $1', [patient.id])).toHaveLength(1);

    expect((await app.gql(LIFT, { patientId: patient.id }, tokens.PRIVACY_OFFICER)).body.errors).toBeUndefined();
    expect(codeOf(await app.gql(LIFT, { patientId: patient.id }, tokens.PRIVACY_OFFICER))).toBe('BAD_USER_INPUT');
    const missing = '00000000-0000-4000-8000-000000000000';
    expect(codeOf(await app.gql(RESTRICT, { patientId: missing, reason: 'Nobody' }, tokens.PRIVACY_OFFICER))).toBe(
      'NOT_FOUND',
    );
    expect(codeOf(await app.gql(LIFT, { patientId: missing }, tokens.PRIVACY_OFFICER))).toBe('NOT_FOUND');
  });

  it.each(['PHYSICIAN', 'NURSE', 'RECEPTIONIST', 'BILLING', 'ADMIN', 'AUDITOR', 'INTEGRATOR'])(
    'refuses restrictProcessing and liftRestriction to %s',
    async (who) => {
      const patient = await newPatient();
      const res = await app.gql(RESTRICT, { patientId: patient.id, reason: 'Not mine to do' }, tokens[who]);
      expect(codeOf(res)).toBe('FORBIDDEN');
      expect(codeOf(await app.gql(LIFT, { patientId: patient.id }, tokens[who]))).toBe('FORBIDDEN');
      const [row] = await sql(app, 'SELECT restricted_at FROM patients WHERE id = $1', [patient.id]);
      expect(row.restricted_at).toBeNull();
    },
  );
});
