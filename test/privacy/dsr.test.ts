import { randomBytes } from 'node:crypto';

import type { Role } from '../../src/config/roles';
import {
  DataSubjectRequestStatus as S,
  DataSubjectRequestType as T,
} from '../../src/privacy/data-subject-request.entity';
import { verifyErasureCertificate } from '../../src/privacy/erasure-certificate';
import { assertTransition, dueDate } from '../../src/privacy/dsr.service';
import { codeAt, codeOf, createAccount, sessionIdOf, signIn, sql, type TestAccount } from '../support/accounts';
import { startTestApp, type TestApp } from '../support/app';

const tag = randomBytes(3).toString('hex');
const CREATE = `mutation($input: PatientInput!) { createPatient(input: $input) { id } }`;
const ENCOUNTER = `mutation($input: EncounterInput!) { createEncounter(input: $input) { id } }`;
const READ = `query($id: ID!) { patient(id: $id) { id firstName lastName } }`;
const FIELDS =
  'id patientId type status reason rejectionReason requestedByRole receivedAt dueAt completedAt decidedBy overdue certificate data rectifiedFields';
const ERASURE = `mutation($p: ID!, $r: String!) { requestErasure(patientId: $p, reason: $r) { ${FIELDS} } }`;
const RECTIFY = `mutation($p: ID!, $r: String!) { requestRectification(patientId: $p, reason: $r) { ${FIELDS} } }`;
const LIST = `query($status: DataSubjectRequestStatus) { dataSubjectRequests(status: $status) { ${FIELDS} } }`;
const REVIEW = `mutation($id: ID!) { startReview(requestId: $id) { ${FIELDS} } }`;
const REJECT = `mutation($id: ID!, $r: String!) { rejectDataSubjectRequest(requestId: $id, reason: $r) { ${FIELDS} } }`;
const APPROVE = `mutation($id: ID!) { approveErasure(requestId: $id) { ${FIELDS} } }`;
const UPDATE = `mutation($id: ID!, $input: PatientUpdateInput!, $rid: ID) {
  updatePatient(id: $id, input: $input, rectificationRequestId: $rid) { id lastName }
}`;
const ENROLL = `mutation { enrollTotp { secret } }`;
const CONFIRM = `mutation($code: String!) { confirmTotp(code: $code) { auth { accessToken } } }`;
const MISSING = '00000000-0000-4000-8000-000000000000';

let app: TestApp;
const tokens = {} as Record<Role, string>;
const accounts = {} as Record<Role, TestAccount>;
/** Every free text used, so the scans below can look for each one. */
const texts: string[] = [];
const text = (what: string) => {
  const value = `${what} ${tag}-${randomBytes(3).toString('hex')}`;
  texts.push(value);
  return value;
};

async function newPatient(withEncounter = false): Promise<{ id: string; token: string }> {
  const input = { firstName: `Gwendolyn${tag}`, lastName: `Ashcombe${tag}`, dateOfBirth: '1975-05-05', sex: 'FEMALE' };
  const res = await app.gql(CREATE, { input }, tokens.PHYSICIAN);
  expect(res.body.errors).toBeUndefined();
  const id = res.body.data!.createPatient.id as string;
  if (withEncounter) {
    const encounter = { patientId: id, reason: `Fractured wrist ${tag}`, diagnosisCodes: ['S52.501A'] };
    expect((await app.gql(ENCOUNTER, { input: encounter }, tokens.PHYSICIAN)).body.errors).toBeUndefined();
  }
  const account = await createAccount(app, 'PATIENT', { patientId: id });
  return { id, token: (await signIn(app, account)).accessToken };
}

/** A privacy officer with TOTP whose session has just passed the second factor. */
async function steppedUpOfficer(): Promise<{ account: TestAccount; token: string }> {
  const account = await createAccount(app, 'PRIVACY_OFFICER');
  const { accessToken } = await signIn(app, account);
  const secret = (await app.gql(ENROLL, {}, accessToken)).body.data!.enrollTotp.secret as string;
  const confirmed = await app.gql(CONFIRM, { code: codeAt(secret) }, accessToken);
  return { account, token: confirmed.body.data!.confirmTotp.auth.accessToken };
}

beforeAll(async () => {
  app = await startTestApp();
  for (const role of [
    'PHYSICIAN',
    'NURSE',
    'RECEPTIONIST',
    'BILLING',
    'ADMIN',
    'AUDITOR',
    'INTEGRATOR',
    'PRIVACY_OFFICER',
  ] as Role[]) {
    accounts[role] = await createAccount(app, role);
    tokens[role] = (await signIn(app, accounts[role])).accessToken;
  }
});

afterAll(async () => {
  await app?.close();
});

describe('due date and transitions (in memory)', () => {
  it('is one calendar month after receipt, the 31st becoming the last day of a shorter month', () => {
    const due = (iso: string) => dueDate(new Date(iso)).toISOString();
    expect(due('2026-03-15T10:20:30.000Z')).toBe('2026-04-15T10:20:30.000Z');
    expect(due('2026-01-31T08:00:00.000Z')).toBe('2026-02-28T08:00:00.000Z');
    expect(due('2028-01-31T08:00:00.000Z')).toBe('2028-02-29T08:00:00.000Z');
    expect(due('2026-12-31T23:59:59.000Z')).toBe('2027-01-31T23:59:59.000Z');
    expect(due('2026-08-31T00:00:00.000Z')).toBe('2026-09-30T00:00:00.000Z');
  });

  it('allows RECEIVED -> IN_REVIEW -> COMPLETED | REJECTED, RECEIVED -> COMPLETED for exports only, nothing out of the end states', () => {
    const allowed: string[] = [];
    for (const type of Object.values(T)) {
      for (const from of Object.values(S)) {
        for (const to of Object.values(S)) {
          try {
            assertTransition(type, from, to);
            allowed.push(`${type} ${from}>${to}`);
          } catch (error) {
            expect((error as { extensions: { code: string } }).extensions.code).toBe('BAD_USER_INPUT');
          }
        }
      }
    }
    const expected = Object.values(T).flatMap((type) => [
      `${type} RECEIVED>IN_REVIEW`,
      ...(type === T.ACCESS || type === T.EXPORT ? [`${type} RECEIVED>COMPLETED`] : []),
      `${type} IN_REVIEW>COMPLETED`,
      `${type} IN_REVIEW>REJECTED`,
    ]);
    expect(allowed.sort()).toEqual(expected.sort());
  });
});

describe('filing requests', () => {
  it('a patient files an erasure request about themself: RECEIVED, due in a month, the text sealed', async () => {
    const patient = await newPatient();
    const reason = text('I moved abroad and want my data gone');
    const res = await app.gql(ERASURE, { p: patient.id, r: reason }, patient.token);
    expect(res.body.errors).toBeUndefined();
    const request = res.body.data!.requestErasure;
    expect(request).toMatchObject({
      patientId: patient.id,
      type: 'ERASURE',
      status: 'RECEIVED',
      requestedByRole: 'PATIENT',
      reason,
      overdue: false,
      completedAt: null,
      data: null,
    });
    expect(request.dueAt).toBe(dueDate(new Date(request.receivedAt)).toISOString());

    const [row] = await sql<{ reason: string }>(app, 'SELECT reason FROM data_subject_requests WHERE id = $1', [
      request.id,
    ]);
    expect(row.reason).toMatch(/^phi1\./);
    const [audit] = await sql(
      app,
      "SELECT purpose, fields FROM audit_events WHERE action = 'dsr.file' AND patient_id = $1",
      [patient.id],
    );
    expect(audit).toEqual({ purpose: 'SELF_ACCESS', fields: ['type', 'status', 'dueAt', 'reason'] });
  });

  it('a patient cannot file about another patient: answered like a missing one, nothing written', async () => {
    const me = await newPatient();
    const other = await newPatient();
    const theirs = await app.gql(ERASURE, { p: other.id, r: 'Delete them' }, me.token);
    const missing = await app.gql(ERASURE, { p: MISSING, r: 'Delete them' }, me.token);
    expect(codeOf(theirs)).toBe('NOT_FOUND');
    expect(theirs.body.errors![0].message).toBe(missing.body.errors![0].message);
    expect(await sql(app, 'SELECT id FROM data_subject_requests WHERE patient_id = $1', [other.id])).toEqual([]);
  });

  it('the front desk and privacy staff file on a patient’s behalf; other roles are refused', async () => {
    const patient = await newPatient();
    const byDesk = await app.gql(RECTIFY, { p: patient.id, r: text('Name misspelt') }, tokens.RECEPTIONIST);
    expect(byDesk.body.data?.requestRectification).toMatchObject({ requestedByRole: 'RECEPTIONIST' });
    const byOfficer = await app.gql(ERASURE, { p: patient.id, r: text('Written request') }, tokens.PRIVACY_OFFICER);
    expect(byOfficer.body.data?.requestErasure).toMatchObject({ requestedByRole: 'PRIVACY_OFFICER' });
    for (const role of ['PHYSICIAN', 'NURSE', 'BILLING', 'ADMIN', 'AUDITOR', 'INTEGRATOR'] as Role[]) {
      expect({
        role,
        code: codeOf(await app.gql(ERASURE, { p: patient.id, r: 'On their behalf' }, tokens[role])),
      }).toEqual({
        role,
        code: 'FORBIDDEN',
      });
    }
    expect(codeOf(await app.gql(ERASURE, { p: patient.id, r: 'Anonymous' }))).toBe('UNAUTHENTICATED');
  });

  it('refuses a second open request of the same type, and a blank or oversized text, naming the field', async () => {
    const patient = await newPatient();
    expect((await app.gql(ERASURE, { p: patient.id, r: 'First request' }, patient.token)).body.errors).toBeUndefined();
    const again = await app.gql(ERASURE, { p: patient.id, r: 'Second request' }, patient.token);
    expect(codeOf(again)).toBe('BAD_USER_INPUT');
    for (const reason of ['', '  ', 'x'.repeat(2001)]) {
      const res = await app.gql(RECTIFY, { p: patient.id, r: reason }, patient.token);
      expect(codeOf(res)).toBe('BAD_USER_INPUT');
      expect(res.body.errors![0].extensions!.field).toBe('reason');
    }
    expect(await sql(app, 'SELECT type FROM data_subject_requests WHERE patient_id = $1', [patient.id])).toEqual([
      { type: 'ERASURE' },
    ]);
  });
});

describe('listing requests', () => {
  it('shows a privacy officer every request, overdue ones first, then by due date', async () => {
    const a = await newPatient();
    const b = await newPatient();
    const early = (await app.gql(RECTIFY, { p: a.id, r: 'Wrong birth date' }, a.token)).body.data!.requestRectification;
    const overdue = (await app.gql(ERASURE, { p: b.id, r: 'Forget me' }, b.token)).body.data!.requestErasure;
    await sql(app, "UPDATE data_subject_requests SET due_at = now() - interval '2 days' WHERE id = $1", [overdue.id]);
    await sql(app, "UPDATE data_subject_requests SET due_at = now() + interval '3 days' WHERE id = $1", [early.id]);

    const list = (await app.gql(LIST, {}, tokens.PRIVACY_OFFICER)).body.data!.dataSubjectRequests as any[];
    const ids = list.map((r) => r.id);
    expect(list[0]).toMatchObject({ id: overdue.id, overdue: true });
    const firstOnTime = list.findIndex((r) => !r.overdue);
    expect(list.slice(firstOnTime).some((r) => r.overdue)).toBe(false);
    const open = list.filter((r) => !r.overdue && ['RECEIVED', 'IN_REVIEW'].includes(r.status));
    const dues = open.map((r) => Date.parse(r.dueAt));
    expect(dues).toEqual([...dues].sort((x, y) => x - y));
    expect(ids.indexOf(overdue.id)).toBeLessThan(ids.indexOf(early.id));

    const received = (await app.gql(LIST, { status: 'RECEIVED' }, tokens.PRIVACY_OFFICER)).body.data!
      .dataSubjectRequests;
    expect(received.every((r: any) => r.status === 'RECEIVED')).toBe(true);
  });

  it('shows a patient only their own requests and refuses every other role', async () => {
    const a = await newPatient();
    const b = await newPatient();
    await app.gql(ERASURE, { p: a.id, r: 'Mine' }, a.token);
    await app.gql(ERASURE, { p: b.id, r: 'Theirs' }, b.token);
    const mine = (await app.gql(LIST, {}, a.token)).body.data!.dataSubjectRequests;
    expect(mine.map((r: any) => r.patientId)).toEqual([a.id]);
    for (const role of ['PHYSICIAN', 'NURSE', 'RECEPTIONIST', 'BILLING', 'ADMIN', 'AUDITOR', 'INTEGRATOR'] as Role[]) {
      expect({ role, code: codeOf(await app.gql(LIST, {}, tokens[role])) }).toEqual({ role, code: 'FORBIDDEN' });
    }
  });
});

describe('review and rejection', () => {
  it('moves RECEIVED -> IN_REVIEW -> REJECTED with a sealed reason; nothing leaves REJECTED', async () => {
    const patient = await newPatient();
    const filed = (await app.gql(ERASURE, { p: patient.id, r: 'Please erase' }, patient.token)).body.data!
      .requestErasure;

    const reviewed = await app.gql(REVIEW, { id: filed.id }, tokens.PRIVACY_OFFICER);
    expect(reviewed.body.data?.startReview.status).toBe('IN_REVIEW');
    expect(codeOf(await app.gql(REVIEW, { id: filed.id }, tokens.PRIVACY_OFFICER))).toBe('BAD_USER_INPUT');

    const why = text('Open litigation hold on this record');
    const rejected = await app.gql(REJECT, { id: filed.id, r: why }, tokens.PRIVACY_OFFICER);
    expect(rejected.body.data?.rejectDataSubjectRequest).toMatchObject({
      status: 'REJECTED',
      rejectionReason: why,
      decidedBy: accounts.PRIVACY_OFFICER.user.id,
    });
    const seen = (await app.gql(LIST, {}, patient.token)).body.data!.dataSubjectRequests[0];
    expect(seen).toMatchObject({ status: 'REJECTED', rejectionReason: why });

    for (const replay of [
      app.gql(REVIEW, { id: filed.id }, tokens.PRIVACY_OFFICER),
      app.gql(REJECT, { id: filed.id, r: 'Again' }, tokens.PRIVACY_OFFICER),
    ]) {
      expect(codeOf(await replay)).toBe('BAD_USER_INPUT');
    }
    const officer = await steppedUpOfficer();
    expect(codeOf(await app.gql(APPROVE, { id: filed.id }, officer.token))).toBe('BAD_USER_INPUT');
    expect((await app.gql(READ, { id: patient.id }, patient.token)).body.data?.patient.id).toBe(patient.id);

    const actions = await sql<{ action: string }>(
      app,
      "SELECT action FROM audit_events WHERE patient_id = $1 AND action LIKE 'dsr.%' ORDER BY seq",
      [patient.id],
    );
    expect(actions.map((r) => r.action)).toEqual(['dsr.file', 'dsr.review', 'dsr.reject', 'dsr.read']);
  });

  it('refuses decisions to every role but PRIVACY_OFFICER, and unknown requests as NOT_FOUND', async () => {
    const patient = await newPatient();
    const filed = (await app.gql(ERASURE, { p: patient.id, r: 'Please erase' }, patient.token)).body.data!
      .requestErasure;
    for (const role of ['PHYSICIAN', 'RECEPTIONIST', 'ADMIN', 'AUDITOR', 'INTEGRATOR'] as Role[]) {
      expect(codeOf(await app.gql(REVIEW, { id: filed.id }, tokens[role]))).toBe('FORBIDDEN');
      expect(codeOf(await app.gql(REJECT, { id: filed.id, r: 'No' }, tokens[role]))).toBe('FORBIDDEN');
      expect(codeOf(await app.gql(APPROVE, { id: filed.id }, tokens[role]))).toBe('FORBIDDEN');
    }
    expect(codeOf(await app.gql(REVIEW, { id: filed.id }, patient.token))).toBe('FORBIDDEN');
    expect(codeOf(await app.gql(REVIEW, { id: MISSING }, tokens.PRIVACY_OFFICER))).toBe('NOT_FOUND');
    expect(codeOf(await app.gql(REVIEW, { id: 'not-a-uuid' }, tokens.PRIVACY_OFFICER))).toBe('NOT_FOUND');
    const [row] = await sql(app, 'SELECT status FROM data_subject_requests WHERE id = $1', [filed.id]);
    expect(row).toEqual({ status: 'RECEIVED' });
  });
});

describe('approving an erasure', () => {
  it('needs a second factor from the last STEP_UP_MAX_AGE_SECONDS and an officer other than the filer', async () => {
    const patient = await newPatient();
    const officer = await steppedUpOfficer();
    const own = await app.gql(ERASURE, { p: patient.id, r: 'Signed letter' }, officer.token);
    expect(codeOf(await app.gql(APPROVE, { id: own.body.data!.requestErasure.id }, officer.token))).toBe('FORBIDDEN');

    // An officer without TOTP, then one whose second factor is stale.
    const plain = await app.gql(APPROVE, { id: own.body.data!.requestErasure.id }, tokens.PRIVACY_OFFICER);
    expect(codeOf(plain)).toBe('FORBIDDEN');
    expect(plain.body.errors![0].message).toContain('stepUpMfa');
    const stale = await steppedUpOfficer();
    await sql(app, "UPDATE sessions SET mfa_at = now() - interval '6 minutes' WHERE id = $1", [
      sessionIdOf(stale.token),
    ]);
    expect(codeOf(await app.gql(APPROVE, { id: own.body.data!.requestErasure.id }, stale.token))).toBe('FORBIDDEN');

    const [row] = await sql(app, 'SELECT status FROM data_subject_requests WHERE id = $1', [
      own.body.data!.requestErasure.id,
    ]);
    expect(row).toEqual({ status: 'RECEIVED' });
    expect((await app.gql(READ, { id: patient.id }, patient.token)).body.data?.patient.id).toBe(patient.id);
  });

  it('completes the request with a signed certificate that names what was kept, once', async () => {
    const patient = await newPatient(true);
    const filed = (await app.gql(ERASURE, { p: patient.id, r: text('Erase me please') }, patient.token)).body.data!
      .requestErasure;
    const officer = await steppedUpOfficer();

    const res = await app.gql(APPROVE, { id: filed.id }, officer.token);
    expect(res.body.errors).toBeUndefined();
    const done = res.body.data!.approveErasure;
    expect(done).toMatchObject({
      id: filed.id,
      status: 'COMPLETED',
      decidedBy: officer.account.user.id,
      dueAt: filed.dueAt,
    });
    const certificate = JSON.parse(done.certificate);
    expect(verifyErasureCertificate(certificate, app.services.erasure.publicKey)).toBe(true);
    expect(certificate.statement).toMatchObject({ requestId: filed.id, patientId: patient.id });
    expect(certificate.statement.retained.map((r: any) => r.category)).toContain('MEDICAL_RECORD');

    // The stored certificate (listed later) is the one handed out; a replay changes nothing.
    const listed = (await app.gql(LIST, { status: 'COMPLETED' }, tokens.PRIVACY_OFFICER)).body.data!
      .dataSubjectRequests;
    const stored = JSON.parse(listed.find((r: any) => r.id === filed.id).certificate);
    expect(stored).toEqual(certificate);
    expect(verifyErasureCertificate(stored, app.services.erasure.publicKey)).toBe(true);
    expect(codeOf(await app.gql(APPROVE, { id: filed.id }, officer.token))).toBe('BAD_USER_INPUT');

    const actions = await sql<{ action: string; purpose: string }>(
      app,
      "SELECT action, purpose FROM audit_events WHERE patient_id = $1 AND action IN ('dsr.review', 'dsr.complete') ORDER BY seq",
      [patient.id],
    );
    expect(actions).toEqual([
      { action: 'dsr.review', purpose: 'PRIVACY' },
      { action: 'dsr.complete', purpose: 'PRIVACY' },
    ]);
  });

  it('keeps the request after a full erasure, its sealed text unreadable once the keys are destroyed', async () => {
    const patient = await newPatient();
    const reason = text('Nothing to keep here');
    const filed = (await app.gql(ERASURE, { p: patient.id, r: reason }, tokens.RECEPTIONIST)).body.data!.requestErasure;
    const officer = await steppedUpOfficer();

    const res = await app.gql(APPROVE, { id: filed.id }, officer.token);
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data!.approveErasure).toMatchObject({ status: 'COMPLETED', reason: null });
    expect(await sql(app, 'SELECT id FROM patients WHERE id = $1', [patient.id])).toEqual([]);
    const listed = (await app.gql(LIST, { status: 'COMPLETED' }, tokens.PRIVACY_OFFICER)).body.data!
      .dataSubjectRequests;
    expect(listed.find((r: any) => r.id === filed.id)).toMatchObject({ patientId: patient.id, reason: null });
    const [row] = await sql<{ reason: string }>(app, 'SELECT reason FROM data_subject_requests WHERE id = $1', [
      filed.id,
    ]);
    expect(row.reason).toMatch(/^phi1\./);
    // Filing again about the erased patient is refused like any missing patient.
    expect(codeOf(await app.gql(ERASURE, { p: patient.id, r: 'Again' }, tokens.PRIVACY_OFFICER))).toBe('NOT_FOUND');
  });

  it('refuses to approve a request that is not an erasure', async () => {
    const patient = await newPatient();
    const filed = (await app.gql(RECTIFY, { p: patient.id, r: 'Typo in name' }, patient.token)).body.data!
      .requestRectification;
    const officer = await steppedUpOfficer();
    const res = await app.gql(APPROVE, { id: filed.id }, officer.token);
    expect(codeOf(res)).toBe('BAD_USER_INPUT');
    expect(res.body.errors![0].extensions!.field).toBe('requestId');
  });
});

describe('rectification', () => {
  it('goes through updatePatient: the record changes, the request completes with field names, audited as patient.rectify', async () => {
    const patient = await newPatient();
    const filed = (await app.gql(RECTIFY, { p: patient.id, r: text('My surname is spelt wrong') }, patient.token)).body
      .data!.requestRectification;
    const corrected = `Ashcomb${tag}`;

    const res = await app.gql(
      UPDATE,
      { id: patient.id, input: { lastName: corrected }, rid: filed.id },
      tokens.PHYSICIAN,
    );
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data!.updatePatient.lastName).toBe(corrected);

    const request = (await app.gql(LIST, {}, patient.token)).body.data!.dataSubjectRequests[0];
    expect(request).toMatchObject({
      status: 'COMPLETED',
      rectifiedFields: ['lastName'],
      decidedBy: accounts.PHYSICIAN.user.id,
    });
    const [audit] = await sql(
      app,
      "SELECT purpose, fields FROM audit_events WHERE action = 'patient.rectify' AND patient_id = $1",
      [patient.id],
    );
    expect(audit).toEqual({ purpose: 'TREATMENT', fields: ['lastName'] });
    const values = await sql(app, "SELECT 1 FROM audit_events t WHERE t::text LIKE '%' || $1 || '%'", [corrected]);
    expect(values).toEqual([]);
  });

  it('refuses another patient’s or a non-rectification request, changing nothing', async () => {
    const patient = await newPatient();
    const other = await newPatient();
    const theirs = (await app.gql(RECTIFY, { p: other.id, r: 'Their typo' }, other.token)).body.data!
      .requestRectification;
    const erasure = (await app.gql(ERASURE, { p: patient.id, r: 'Erase' }, patient.token)).body.data!.requestErasure;
    for (const rid of [theirs.id, erasure.id, MISSING]) {
      const res = await app.gql(UPDATE, { id: patient.id, input: { lastName: 'Changed' }, rid }, tokens.PHYSICIAN);
      expect(codeOf(res)).toBe('BAD_USER_INPUT');
      expect(res.body.errors![0].extensions!.field).toBe('rectificationRequestId');
    }
    const read = await app.gql(READ, { id: patient.id }, tokens.PHYSICIAN);
    expect(read.body.data!.patient.lastName).toBe(`Ashcombe${tag}`);
    const [row] = await sql(app, 'SELECT status FROM data_subject_requests WHERE id = $1', [theirs.id]);
    expect(row).toEqual({ status: 'RECEIVED' });
  });
});

describe('what never leaves', () => {
  it('no request text reaches an audit row or a log line', async () => {
    const logs = app.logs.text();
    for (const value of texts) {
      expect(logs).not.toContain(value);
      expect(await sql(app, "SELECT 1 FROM audit_events t WHERE t::text LIKE '%' || $1 || '%'", [value])).toEqual([]);
      expect(
        await sql(app, "SELECT 1 FROM data_subject_requests t WHERE t::text LIKE '%' || $1 || '%'", [value]),
      ).toEqual([]);
    }
  });
});
