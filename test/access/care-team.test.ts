import { randomBytes, randomUUID } from 'node:crypto';

import type { Role } from '../../src/config/roles';
import { codeOf, createAccount, signIn, sql, type TestAccount } from '../support/accounts';
import { startTestApp, type TestApp } from '../support/app';

const tag = randomBytes(3).toString('hex');
const READ = `query Read($id: ID!) {
  patient(id: $id) { id firstName lastName dateOfBirth ssn email phone insuranceMemberId encounters { id } }
}`;
const CREATE = `mutation Create($input: PatientInput!) { createPatient(input: $input) { id } }`;
const ASSIGN = `mutation Assign($patientId: ID!, $userId: ID!) {
  assignCareTeam(patientId: $patientId, userId: $userId)
}`;
const REMOVE = `mutation Remove($patientId: ID!, $userId: ID!) {
  removeCareTeamMember(patientId: $patientId, userId: $userId)
}`;
const TEAM = `query Team($patientId: ID!) { careTeam(patientId: $patientId) { id role displayName email } }`;
const MISSING_PATIENT = '00000000-0000-4000-8000-000000000000';

const registration = {
  firstName: `Evangeline${tag}`,
  lastName: `Quillfeather${tag}`,
  dateOfBirth: '1968-02-14',
  sex: 'FEMALE',
  ssn: '219-09-9998',
  email: `evangeline.${tag}@example.test`,
  phone: '+1 (415) 555-0177',
  insuranceMemberId: `MEMBER${tag}7777`,
};

let app: TestApp;
const accounts = {} as Record<Role, TestAccount>;
const tokens = {} as Record<Role, string>;
let patientId: string;

async function newClinician(role: 'PHYSICIAN' | 'NURSE' | 'ADMIN'): Promise<{ account: TestAccount; token: string }> {
  const account = await createAccount(app, role);
  return { account, token: (await signIn(app, account)).accessToken };
}

async function memberships(userId: string): Promise<number> {
  const [row] = await sql<{ n: string }>(
    app,
    'SELECT count(*) AS n FROM care_team_members WHERE patient_id = $1 AND user_id = $2',
    [patientId, userId],
  );
  return Number(row.n);
}

beforeAll(async () => {
  app = await startTestApp();
  const staff: Role[] = [
    'ADMIN',
    'PHYSICIAN',
    'NURSE',
    'RECEPTIONIST',
    'BILLING',
    'AUDITOR',
    'PRIVACY_OFFICER',
    'INTEGRATOR',
  ];
  for (const role of staff) {
    accounts[role] = await createAccount(app, role);
    tokens[role] = (await signIn(app, accounts[role])).accessToken;
  }
  // Registered by a receptionist, so nobody is on the care team yet.
  const created = await app.gql(CREATE, { input: registration }, tokens.RECEPTIONIST);
  expect(created.body.errors).toBeUndefined();
  patientId = created.body.data!.createPatient.id;
  accounts.PATIENT = await createAccount(app, 'PATIENT', { patientId });
  tokens.PATIENT = (await signIn(app, accounts.PATIENT)).accessToken;
});

afterAll(async () => {
  await app?.close();
});

describe('assigning a care team', () => {
  it('keeps a clinician out (NOT_FOUND) until an administrator assigns them, then shows every field', async () => {
    const { account, token } = await newClinician('PHYSICIAN');
    expect(codeOf(await app.gql(READ, { id: patientId }, token))).toBe('NOT_FOUND');

    const assigned = await app.gql(ASSIGN, { patientId, userId: account.user.id }, tokens.ADMIN);
    const read = await app.gql(READ, { id: patientId }, token);

    expect(assigned.body).toEqual({ data: { assignCareTeam: true } });
    expect(read.body.errors).toBeUndefined();
    expect(read.body.data!.patient).toMatchObject({
      firstName: registration.firstName,
      lastName: registration.lastName,
      dateOfBirth: '1968-02-14',
      ssn: '219-09-9998',
      email: registration.email,
      phone: '+14155550177',
      insuranceMemberId: registration.insuranceMemberId,
      encounters: [],
    });
  });

  it('accepts assigning the same member twice and keeps one membership', async () => {
    const { account } = await newClinician('NURSE');

    const first = await app.gql(ASSIGN, { patientId, userId: account.user.id }, tokens.ADMIN);
    const second = await app.gql(ASSIGN, { patientId, userId: account.user.id }, tokens.ADMIN);

    expect([first.body.data?.assignCareTeam, second.body.data?.assignCareTeam]).toEqual([true, true]);
    expect(await memberships(account.user.id)).toBe(1);
  });

  it('closes access with the very next request when a member is removed', async () => {
    const { account, token } = await newClinician('NURSE');
    await app.gql(ASSIGN, { patientId, userId: account.user.id }, tokens.ADMIN);
    expect((await app.gql(READ, { id: patientId }, token)).body.data?.patient.id).toBe(patientId);

    const removed = await app.gql(REMOVE, { patientId, userId: account.user.id }, tokens.ADMIN);

    expect(removed.body).toEqual({ data: { removeCareTeamMember: true } });
    expect(codeOf(await app.gql(READ, { id: patientId }, token))).toBe('NOT_FOUND');
    expect(await memberships(account.user.id)).toBe(0);
  });

  it('gives an administrator put on the care team by another administrator the full record', async () => {
    const { account, token } = await newClinician('ADMIN');
    expect((await app.gql(READ, { id: patientId }, token)).body.data?.patient.ssn).toBeNull();

    await app.gql(ASSIGN, { patientId, userId: account.user.id }, tokens.ADMIN);

    expect((await app.gql(READ, { id: patientId }, token)).body.data?.patient.ssn).toBe('219-09-9998');
  });

  it('refuses every role but ADMIN to assign or remove members (FORBIDDEN), and changes nothing', async () => {
    const { account } = await newClinician('NURSE');
    const refused: Role[] = [
      'PHYSICIAN',
      'NURSE',
      'RECEPTIONIST',
      'BILLING',
      'AUDITOR',
      'PRIVACY_OFFICER',
      'INTEGRATOR',
      'PATIENT',
    ];
    for (const role of refused) {
      const assign = await app.gql(ASSIGN, { patientId, userId: account.user.id }, tokens[role]);
      const remove = await app.gql(REMOVE, { patientId, userId: account.user.id }, tokens[role]);
      expect([role, codeOf(assign), codeOf(remove)]).toEqual([role, 'FORBIDDEN', 'FORBIDDEN']);
    }
    expect(await memberships(account.user.id)).toBe(0);
  });

  it('asks anonymous callers to sign in', async () => {
    expect(codeOf(await app.gql(ASSIGN, { patientId, userId: accounts.NURSE.user.id }))).toBe('UNAUTHENTICATED');
    expect(codeOf(await app.gql(REMOVE, { patientId, userId: accounts.NURSE.user.id }))).toBe('UNAUTHENTICATED');
    expect(codeOf(await app.gql(TEAM, { patientId }))).toBe('UNAUTHENTICATED');
  });

  it('refuses to assign a receptionist, a patient, a disabled nurse or an unknown user, naming userId', async () => {
    const disabled = await createAccount(app, 'NURSE');
    await sql(app, 'UPDATE users SET disabled_at = now() WHERE id = $1', [disabled.user.id]);

    const ineligible = [accounts.RECEPTIONIST, accounts.PATIENT, accounts.AUDITOR, disabled].map((a) => a.user.id);
    for (const userId of [...ineligible, randomUUID(), 'not-an-id']) {
      const res = await app.gql(ASSIGN, { patientId, userId }, tokens.ADMIN);
      expect(codeOf(res)).toBe('BAD_USER_INPUT');
      expect(res.body.errors![0].extensions!.field).toBe('userId');
    }
    expect(await memberships(accounts.RECEPTIONIST.user.id)).toBe(0);
  });

  it('refuses an administrator who tries to put themself on a care team', async () => {
    const res = await app.gql(ASSIGN, { patientId, userId: accounts.ADMIN.user.id }, tokens.ADMIN);

    expect(codeOf(res)).toBe('BAD_USER_INPUT');
    expect(res.body.errors![0].extensions!.field).toBe('userId');
    expect(await memberships(accounts.ADMIN.user.id)).toBe(0);
  });

  it('answers NOT_FOUND when the patient does not exist', async () => {
    const userId = accounts.NURSE.user.id;
    expect(codeOf(await app.gql(ASSIGN, { patientId: MISSING_PATIENT, userId }, tokens.ADMIN))).toBe('NOT_FOUND');
    expect(codeOf(await app.gql(ASSIGN, { patientId: 'nope', userId }, tokens.ADMIN))).toBe('NOT_FOUND');
    expect(codeOf(await app.gql(REMOVE, { patientId: MISSING_PATIENT, userId }, tokens.ADMIN))).toBe('NOT_FOUND');
  });

  it('records assignment and removal in the audit trail with the patient id and the administrator', async () => {
    const { account } = await newClinician('PHYSICIAN');
    await app.gql(ASSIGN, { patientId, userId: account.user.id }, tokens.ADMIN);
    await app.gql(REMOVE, { patientId, userId: account.user.id }, tokens.ADMIN);

    const rows = await sql(
      app,
      `SELECT action, actor_id, actor_role, outcome FROM audit_events
       WHERE patient_id = $1 AND action IN ('care_team.assign', 'care_team.remove') ORDER BY at DESC LIMIT 2`,
      [patientId],
    );
    expect(rows).toEqual([
      { action: 'care_team.remove', actor_id: accounts.ADMIN.user.id, actor_role: 'ADMIN', outcome: 'ALLOWED' },
      { action: 'care_team.assign', actor_id: accounts.ADMIN.user.id, actor_role: 'ADMIN', outcome: 'ALLOWED' },
    ]);
  });
});

describe('reading a care team', () => {
  let member: { account: TestAccount; token: string };

  beforeAll(async () => {
    member = await newClinician('NURSE');
    await app.gql(ASSIGN, { patientId, userId: member.account.user.id }, tokens.ADMIN);
  });

  it('shows the team to an administrator and to a member, with only the reader’s own email', async () => {
    const byAdmin = await app.gql(TEAM, { patientId }, tokens.ADMIN);
    const byMember = await app.gql(TEAM, { patientId }, member.token);

    expect(byAdmin.body.errors).toBeUndefined();
    expect(byAdmin.body.data!.careTeam.map((u: { id: string }) => u.id)).toContain(member.account.user.id);
    const ownEmailOnly = byAdmin.body.data!.careTeam.map((u: { id: string; email: string }) => ({
      ...u,
      email: u.id === member.account.user.id ? member.account.email : null,
    }));
    expect(byMember.body.data!.careTeam).toEqual(ownEmailOnly);
  });

  it('answers a clinician outside the team exactly like a missing patient', async () => {
    const outsider = await app.gql(TEAM, { patientId }, tokens.PHYSICIAN);
    const missing = await app.gql(TEAM, { patientId: MISSING_PATIENT }, tokens.PHYSICIAN);

    expect(codeOf(outsider)).toBe('NOT_FOUND');
    expect(outsider.body.errors![0].message).toBe(missing.body.errors![0].message);
  });

  it('refuses the team to roles that cannot be on one (FORBIDDEN)', async () => {
    for (const role of ['RECEPTIONIST', 'BILLING', 'AUDITOR', 'PRIVACY_OFFICER', 'INTEGRATOR', 'PATIENT'] as Role[]) {
      expect([role, codeOf(await app.gql(TEAM, { patientId }, tokens[role]))]).toEqual([role, 'FORBIDDEN']);
    }
  });

  it('answers NOT_FOUND to an administrator asking about a patient that does not exist', async () => {
    expect(codeOf(await app.gql(TEAM, { patientId: MISSING_PATIENT }, tokens.ADMIN))).toBe('NOT_FOUND');
  });
});
