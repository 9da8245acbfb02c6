import { randomBytes } from 'node:crypto';

import type { Role } from '../../src/config/roles';
import { codeAt, codeOf, createAccount, sessionIdOf, signIn, sql, type TestAccount } from '../support/accounts';
import { startTestApp, type TestApp } from '../support/app';
import { rawQuery } from '../support/database';

const tag = randomBytes(3).toString('hex');
const READ = `query Read($id: ID!) {
  patient(id: $id) { id firstName ssn insuranceMemberId encounters { id reason } }
}`;
const CREATE = `mutation Create($input: PatientInput!) { createPatient(input: $input) { id } }`;
const ENCOUNTER = `mutation Enc($input: EncounterInput!) { createEncounter(input: $input) { id } }`;
const BREAK = `mutation Break($patientId: ID!, $reason: String!) {
  breakGlass(patientId: $patientId, reason: $reason) { id patientId userId createdAt expiresAt revokedAt }
}`;
const REVOKE = `mutation Revoke($grantId: ID!) { revokeBreakGlass(grantId: $grantId) }`;
const GRANTS = `query Grants($activeOnly: Boolean) {
  breakGlassGrants(activeOnly: $activeOnly) { id patientId userId revokedAt revokedBy }
}`;
const ENROLL = `mutation { enrollTotp { secret } }`;
const CONFIRM = `mutation Confirm($code: String!) { confirmTotp(code: $code) { recoveryCodes } }`;
const STEP_UP = `mutation StepUp($code: String) { stepUpMfa(code: $code) { accessToken } }`;
const MISSING_PATIENT = '00000000-0000-4000-8000-000000000000';

/** Every justification used here, so the scans below can look for each one. */
const reasons: string[] = [];
function reason(what: string): string {
  const text = `Unconscious in ED bay 4, ${what}, suspected anaphylaxis ${tag}-${randomBytes(3).toString('hex')}`;
  reasons.push(text);
  return text;
}

const registration = (name: string) => ({
  firstName: `${name}${tag}`,
  lastName: `Featherstonehaugh${tag}`,
  dateOfBirth: '1981-11-03',
  sex: 'MALE',
  ssn: null,
  insuranceMemberId: `MEMBER${tag}${name}`,
});

let app: TestApp;
const tokens = {} as Record<Role, string>;
const accounts = {} as Record<Role, TestAccount>;
let treating: string;
let patientA: string;
let patientB: string;

async function clinician(role: 'PHYSICIAN' | 'NURSE' = 'PHYSICIAN'): Promise<{ account: TestAccount; token: string }> {
  const account = await createAccount(app, role);
  return { account, token: (await signIn(app, account)).accessToken };
}

async function breakGlass(token: string, patientId: string, why = reason('no next of kin reachable')) {
  return app.gql(BREAK, { patientId, reason: why }, token);
}

beforeAll(async () => {
  app = await startTestApp();
  for (const role of ['ADMIN', 'RECEPTIONIST', 'BILLING', 'AUDITOR', 'PRIVACY_OFFICER', 'INTEGRATOR'] as Role[]) {
    accounts[role] = await createAccount(app, role);
    tokens[role] = (await signIn(app, accounts[role])).accessToken;
  }
  // A physician who registers a patient joins its care team and records an encounter.
  treating = (await clinician('PHYSICIAN')).token;
  patientA = (await app.gql(CREATE, { input: registration('Alpha') }, treating)).body.data!.createPatient.id;
  patientB = (await app.gql(CREATE, { input: registration('Bravo') }, treating)).body.data!.createPatient.id;
  const input = { patientId: patientA, reason: `Penicillin allergy ${tag}`, diagnosisCodes: ['Z88.0'] };
  const encounter = await app.gql(ENCOUNTER, { input }, treating);
  expect(encounter.body.errors).toBeUndefined();
  accounts.PATIENT = await createAccount(app, 'PATIENT', { patientId: patientA });
  tokens.PATIENT = (await signIn(app, accounts.PATIENT)).accessToken;
});

afterAll(async () => {
  await app?.close();
});

describe('breaking the glass', () => {
  it('opens one patient’s full record to a physician outside the care team, and nothing of another', async () => {
    const { account, token } = await clinician('PHYSICIAN');
    expect(codeOf(await app.gql(READ, { id: patientA }, token))).toBe('NOT_FOUND');

    const res = await breakGlass(token, patientA);
    const readA = await app.gql(READ, { id: patientA }, token);
    const readB = await app.gql(READ, { id: patientB }, token);

    expect(res.body.errors).toBeUndefined();
    const grant = res.body.data!.breakGlass;
    expect(grant).toMatchObject({ patientId: patientA, userId: account.user.id, revokedAt: null });
    const minutes = (Date.parse(grant.expiresAt) - Date.parse(grant.createdAt)) / 60_000;
    expect(minutes).toBe(60);
    expect(readA.body.data!.patient).toMatchObject({
      firstName: `Alpha${tag}`,
      insuranceMemberId: `MEMBER${tag}Alpha`,
      encounters: [{ reason: `Penicillin allergy ${tag}` }],
    });
    expect(codeOf(readB)).toBe('NOT_FOUND');
  });

  it('works for a nurse too', async () => {
    const { token } = await clinician('NURSE');
    expect((await breakGlass(token, patientA)).body.errors).toBeUndefined();
    expect((await app.gql(READ, { id: patientA }, token)).body.data?.patient.id).toBe(patientA);
  });

  it('is refused without a reason, with a blank, too short or too long one, naming reason', async () => {
    const { account, token } = await clinician('NURSE');
    for (const why of ['', '          ', 'Emergency', ' Too short ', 'x'.repeat(501)]) {
      const res = await app.gql(BREAK, { patientId: patientA, reason: why }, token);
      expect(codeOf(res)).toBe('BAD_USER_INPUT');
      expect(res.body.errors![0].extensions!.field).toBe('reason');
    }
    const withoutReason = await app.gql(`mutation { breakGlass(patientId: "${patientA}") { id } }`, {}, token);
    expect(codeOf(withoutReason)).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(await sql(app, 'SELECT id FROM break_glass_grants WHERE user_id = $1', [account.user.id])).toEqual([]);
    expect(codeOf(await app.gql(READ, { id: patientA }, token))).toBe('NOT_FOUND');
  });

  it('refuses every role but PHYSICIAN and NURSE (FORBIDDEN) whether or not the patient exists', async () => {
    const refused: Role[] = ['RECEPTIONIST', 'BILLING', 'AUDITOR', 'ADMIN', 'PRIVACY_OFFICER', 'PATIENT', 'INTEGRATOR'];
    for (const role of refused) {
      const existing = await breakGlass(tokens[role], patientA);
      const missing = await breakGlass(tokens[role], MISSING_PATIENT);
      expect([role, codeOf(existing), codeOf(missing)]).toEqual([role, 'FORBIDDEN', 'FORBIDDEN']);
      expect(existing.body.errors![0].message).toBe(missing.body.errors![0].message);
    }
    expect(codeOf(await breakGlass('', patientA))).toBe('UNAUTHENTICATED');
  });

  it('answers NOT_FOUND to a clinician naming a patient that does not exist', async () => {
    const { token } = await clinician('PHYSICIAN');
    expect(codeOf(await breakGlass(token, MISSING_PATIENT))).toBe('NOT_FOUND');
    expect(codeOf(await breakGlass(token, 'not-an-id'))).toBe('NOT_FOUND');
  });

  it('is refused to a member of the care team, who needs no emergency access', async () => {
    const res = await breakGlass(treating, patientA);
    expect(codeOf(res)).toBe('BAD_USER_INPUT');
    expect(res.body.errors![0].extensions!.field).toBe('patientId');
  });

  it('audits the grant and every read under it with purpose EMERGENCY', async () => {
    const { account, token } = await clinician('PHYSICIAN');
    await breakGlass(token, patientA);
    await app.gql(READ, { id: patientA }, token);

    const rows = await sql(
      app,
      `SELECT action, patient_id, purpose, outcome FROM audit_events
       WHERE actor_id = $1 AND action IN ('break_glass.grant', 'patient.read') ORDER BY at`,
      [account.user.id],
    );
    expect(rows).toEqual([
      { action: 'break_glass.grant', patient_id: patientA, purpose: 'EMERGENCY', outcome: 'ALLOWED' },
      { action: 'patient.read', patient_id: patientA, purpose: 'EMERGENCY', outcome: 'ALLOWED' },
    ]);
  });

  it('raises a HIGH BREAK_GLASS security event naming the grant and its minutes, and no reason text', async () => {
    const { account, token } = await clinician('NURSE');
    const why = reason('security event check');
    const grant = (await breakGlass(token, patientA, why)).body.data!.breakGlass;

    const events = await sql(
      app,
      `SELECT event_type, severity, patient_id, details FROM security_events
       WHERE actor_id = $1 AND event_type = 'BREAK_GLASS'`,
      [account.user.id],
    );
    const details = { grantId: grant.id, minutes: 60 };
    expect(events).toEqual([{ event_type: 'BREAK_GLASS', severity: 'HIGH', patient_id: patientA, details }]);
    expect(JSON.stringify(events)).not.toContain(why);
    expect(JSON.stringify(events)).not.toContain('anaphylaxis');
  });
});

describe('the end of a grant', () => {
  it('closes access again once the grant has expired', async () => {
    const { token } = await clinician('PHYSICIAN');
    const grant = (await breakGlass(token, patientA)).body.data!.breakGlass;
    expect((await app.gql(READ, { id: patientA }, token)).body.data?.patient.id).toBe(patientA);

    await sql(app, "UPDATE break_glass_grants SET expires_at = now() - interval '1 second' WHERE id = $1", [grant.id]);

    expect(codeOf(await app.gql(READ, { id: patientA }, token))).toBe('NOT_FOUND');
    expect((await app.gql(GRANTS, {}, token)).body.data!.breakGlassGrants).toEqual([]);
    expect((await app.gql(GRANTS, { activeOnly: null }, token)).body.data!.breakGlassGrants).toEqual([]);
    const all = (await app.gql(GRANTS, { activeOnly: false }, token)).body.data!.breakGlassGrants;
    expect(all.map((g: { id: string }) => g.id)).toEqual([grant.id]);
  });

  it('lets the privacy officer revoke a grant, closing access with the next request', async () => {
    const { token } = await clinician('NURSE');
    const grant = (await breakGlass(token, patientA)).body.data!.breakGlass;
    expect((await app.gql(READ, { id: patientA }, token)).body.data?.patient.id).toBe(patientA);

    const revoked = await app.gql(REVOKE, { grantId: grant.id }, tokens.PRIVACY_OFFICER);

    expect(revoked.body).toEqual({ data: { revokeBreakGlass: true } });
    expect(codeOf(await app.gql(READ, { id: patientA }, token))).toBe('NOT_FOUND');
    const [row] = await sql(app, 'SELECT revoked_at, revoked_by FROM break_glass_grants WHERE id = $1', [grant.id]);
    expect(row.revoked_by).toBe(accounts.PRIVACY_OFFICER.user.id);
    expect(row.revoked_at).not.toBeNull();
  });

  it('lets a clinician revoke their own grant but answers another clinician’s like a missing one', async () => {
    const owner = await clinician('PHYSICIAN');
    const other = await clinician('NURSE');
    const grant = (await breakGlass(owner.token, patientA)).body.data!.breakGlass;

    const byOther = await app.gql(REVOKE, { grantId: grant.id }, other.token);
    const missing = await app.gql(REVOKE, { grantId: MISSING_PATIENT }, other.token);
    expect(codeOf(byOther)).toBe('NOT_FOUND');
    expect(byOther.body.errors![0].message).toBe(missing.body.errors![0].message);
    expect((await app.gql(READ, { id: patientA }, owner.token)).body.data?.patient.id).toBe(patientA);

    expect((await app.gql(REVOKE, { grantId: grant.id }, owner.token)).body.data?.revokeBreakGlass).toBe(true);
    expect(codeOf(await app.gql(READ, { id: patientA }, owner.token))).toBe('NOT_FOUND');
  });

  it('stops a revoked grant from serving the rest of the same request (regression: cached access decision)', async () => {
    const owner = await clinician('PHYSICIAN');
    const grant = (await breakGlass(owner.token, patientA)).body.data!.breakGlass;
    const input = { patientId: patientA, reason: `Review ${tag}`, diagnosisCodes: [] };
    const count = async () =>
      Number(
        (
          await rawQuery<{ n: string }>(app.db.url, 'SELECT count(*) AS n FROM encounters WHERE patient_id = $1', [
            patientA,
          ])
        )[0].n,
      );
    const before = await count();

    const res = await app.gql(
      `mutation Same($input: EncounterInput!, $grantId: ID!) {
        before: createEncounter(input: $input) { id }
        revokeBreakGlass(grantId: $grantId)
        after: createEncounter(input: $input) { id }
      }`,
      { input, grantId: grant.id },
      owner.token,
    );

    expect(res.body.errors?.map((e) => [e.path?.[0], e.extensions?.code])).toEqual([['after', 'NOT_FOUND']]);
    expect(await count()).toBe(before + 1);
  });

  it('refuses revocation to roles that hold no grants and review none (FORBIDDEN)', async () => {
    const { token } = await clinician('PHYSICIAN');
    const grant = (await breakGlass(token, patientA)).body.data!.breakGlass;
    for (const role of ['RECEPTIONIST', 'BILLING', 'AUDITOR', 'PATIENT', 'INTEGRATOR'] as Role[]) {
      expect([role, codeOf(await app.gql(REVOKE, { grantId: grant.id }, tokens[role]))]).toEqual([role, 'FORBIDDEN']);
    }
    expect((await app.gql(READ, { id: patientA }, token)).body.data?.patient.id).toBe(patientA);
  });
});

describe('listing grants', () => {
  it('shows every grant to the privacy officer and the administrator, and clinicians only their own', async () => {
    const first = await clinician('PHYSICIAN');
    const second = await clinician('NURSE');
    const a = (await breakGlass(first.token, patientA)).body.data!.breakGlass;
    const b = (await breakGlass(second.token, patientB)).body.data!.breakGlass;

    for (const role of ['PRIVACY_OFFICER', 'ADMIN'] as Role[]) {
      const listed = (await app.gql(GRANTS, {}, tokens[role])).body.data!.breakGlassGrants;
      expect(listed.map((g: { id: string }) => g.id)).toEqual(expect.arrayContaining([a.id, b.id]));
    }
    expect((await app.gql(GRANTS, {}, first.token)).body.data!.breakGlassGrants).toEqual([
      { id: a.id, patientId: patientA, userId: first.account.user.id, revokedAt: null, revokedBy: null },
    ]);
  });

  it('refuses the list to other roles (FORBIDDEN) and to anonymous callers (UNAUTHENTICATED)', async () => {
    for (const role of ['RECEPTIONIST', 'BILLING', 'AUDITOR', 'PATIENT', 'INTEGRATOR'] as Role[]) {
      expect([role, codeOf(await app.gql(GRANTS, {}, tokens[role]))]).toEqual([role, 'FORBIDDEN']);
    }
    expect(codeOf(await app.gql(GRANTS, {}))).toBe('UNAUTHENTICATED');
  });

  it('has no field that could reveal the reason', async () => {
    const res = await app.gql(`{ breakGlassGrants { id reason } }`, {}, tokens.PRIVACY_OFFICER);
    expect(codeOf(res)).toBe('GRAPHQL_VALIDATION_FAILED');
  });
});

describe('a second factor for break-glass', () => {
  it('refuses a clinician with TOTP whose last second factor is older than 10 minutes, until stepUpMfa', async () => {
    const { account, token } = await clinician('PHYSICIAN');
    const secret = (await app.gql(ENROLL, {}, token)).body.data!.enrollTotp.secret;
    expect((await app.gql(CONFIRM, { code: codeAt(secret) }, token)).body.errors).toBeUndefined();
    await sql(app, "UPDATE sessions SET mfa_at = now() - interval '11 minutes' WHERE id = $1", [sessionIdOf(token)]);

    const stale = await breakGlass(token, patientA);
    expect(codeOf(stale)).toBe('FORBIDDEN');
    expect(stale.body.errors![0].message).toContain('stepUpMfa');
    expect(await sql(app, 'SELECT id FROM break_glass_grants WHERE user_id = $1', [account.user.id])).toEqual([]);

    const stepped = (await app.gql(STEP_UP, { code: codeAt(secret, 1) }, token)).body.data!.stepUpMfa.accessToken;
    expect((await breakGlass(stepped, patientA)).body.errors).toBeUndefined();
  });

  it('refuses a clinician with TOTP whose session never passed a second factor', async () => {
    const { account, token } = await clinician('NURSE');
    await sql(app, 'UPDATE users SET totp_enabled_at = now() WHERE id = $1', [account.user.id]);
    await sql(app, 'UPDATE sessions SET mfa_at = NULL WHERE id = $1', [sessionIdOf(token)]);

    expect(codeOf(await breakGlass(token, patientA))).toBe('FORBIDDEN');
  });
});

describe('the reason', () => {
  it('is stored sealed: no table holds it in plaintext', async () => {
    const tables = await sql<{ table_name: string }>(
      app,
      "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'",
    );
    for (const { table_name } of tables) {
      const rows = JSON.stringify(await sql(app, `SELECT * FROM "${table_name}"`));
      for (const text of reasons) expect(rows).not.toContain(text);
      expect(rows).not.toContain('anaphylaxis');
    }
    const stored = await sql<{ reason: string }>(app, 'SELECT reason FROM break_glass_grants');
    expect(stored.length).toBeGreaterThan(5);
    for (const { reason: envelope } of stored) expect(envelope).toMatch(/^phi1\./);
  });

  it('never reaches a log line', () => {
    const logs = app.logs.text();
    expect(logs).toContain('break-glass access granted');
    for (const text of reasons) expect(logs).not.toContain(text);
    expect(logs).not.toContain('anaphylaxis');
  });
});
