import { randomBytes, randomUUID } from 'node:crypto';

import { reachOne } from '../../src/access/reach';
import type { Role } from '../../src/config/roles';
import type { GraphQLContext } from '../../src/graphql/context';
import {
  LOGIN,
  REFRESH,
  codeAt,
  codeOf,
  createAccount,
  sessionIdOf,
  signIn,
  sql,
  type TestAccount,
} from '../support/accounts';
import { startTestApp, type TestApp } from '../support/app';

const tag = randomBytes(3).toString('hex');
const USER_AGENT = `signin-audit-test/${tag}`;
const ENROLL = `mutation { enrollTotp { secret } }`;
const CONFIRM = `mutation Confirm($code: String!) { confirmTotp(code: $code) { recoveryCodes } }`;
const VERIFY = `mutation Verify($challenge: String!, $code: String) {
  verifyMfa(challengeToken: $challenge, code: $code) { accessToken }
}`;
const CREATE = `mutation Create($input: PatientInput!) { createPatient(input: $input) { id } }`;
const READ = `query Read($id: ID!) { patient(id: $id) { id lastName } }`;

type Row = Record<string, unknown>;

describe('sign-in outcomes and refusals in the audit trail', () => {
  let app: TestApp;
  let counter = 0;
  /** Every value a test typed in that must never reach an audit row or a security event. */
  const secrets: string[] = [];

  /** POSTs as a distinct, known request: its id, user agent and (loopback) address can be checked. */
  async function call(query: string, variables: Record<string, unknown> = {}, token?: string) {
    counter += 1;
    const requestId = `signin-${tag}-${counter}`;
    const res = await app.gql(query, variables, token, { 'x-request-id': requestId, 'user-agent': USER_AGENT });
    return { res, requestId };
  }

  const auditRows = (requestId: string) =>
    sql(app, 'SELECT * FROM audit_events WHERE request_id = $1 ORDER BY seq', [requestId]);
  const securityRows = (requestId: string) =>
    sql(app, `SELECT * FROM security_events WHERE details->>'requestId' = $1 ORDER BY at, id`, [requestId]);

  /** Waits for rows written without blocking the request (shield refusals). */
  async function eventually<T>(read: () => Promise<T[]>, count: number): Promise<T[]> {
    for (let i = 0; i < 50; i += 1) {
      const rows = await read();
      if (rows.length >= count) return rows;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return read();
  }

  async function account(role: Role): Promise<TestAccount> {
    const created = await createAccount(app, role);
    secrets.push(created.email, created.password);
    return created;
  }

  beforeAll(async () => {
    app = await startTestApp({ LOGIN_LOCKOUT_THRESHOLD: '3' });
  });

  afterAll(async () => {
    // No row of either table carries an email, a password, a token or a code given in these tests.
    const everything = JSON.stringify([
      await sql(app, 'SELECT * FROM audit_events'),
      await sql(app, 'SELECT * FROM security_events'),
    ]);
    for (const secret of secrets) expect(everything).not.toContain(secret);
    await app?.close();
  });

  it('records a successful sign-in as auth.login ALLOWED with actor, role, session, request, address and client', async () => {
    const nurse = await account('NURSE');

    const { res, requestId } = await call(LOGIN, { email: nurse.email, password: nurse.password });

    const token: string = res.body.data!.login.accessToken;
    secrets.push(token, res.body.data!.login.refreshToken);
    expect(await auditRows(requestId)).toEqual([
      expect.objectContaining({
        action: 'auth.login',
        outcome: 'ALLOWED',
        actor_id: nurse.user.id,
        actor_role: 'NURSE',
        session_id: sessionIdOf(token),
        patient_id: null,
        request_id: requestId,
        ip: '127.0.0.1',
        user_agent: USER_AGENT,
        fields: [],
      }),
    ]);
    expect(await securityRows(requestId)).toEqual([]);
  });

  it('records a wrong password as auth.login DENIED and SIGN_IN_FAILED (LOW), committed although the request failed', async () => {
    const nurse = await account('NURSE');
    const guess = `Wrong-Guess-${randomBytes(4).toString('hex')}`;
    secrets.push(guess);

    const { res, requestId } = await call(LOGIN, { email: nurse.email, password: guess });

    expect(codeOf(res)).toBe('UNAUTHENTICATED');
    expect(await auditRows(requestId)).toEqual([
      expect.objectContaining({
        action: 'auth.login',
        outcome: 'DENIED',
        actor_id: nurse.user.id,
        actor_role: 'NURSE',
        session_id: null,
        ip: '127.0.0.1',
        user_agent: USER_AGENT,
      }),
    ]);
    expect(await securityRows(requestId)).toEqual([
      expect.objectContaining({
        event_type: 'SIGN_IN_FAILED',
        severity: 'LOW',
        actor_id: nurse.user.id,
        details: { reasonCode: 'wrong-password', requestId },
      }),
    ]);
    // The reason code survives the SIEM export's detail guard (it redacts values under PHI-named keys such as `reason`).
    const outbox = await sql(
      app,
      `SELECT o.details FROM siem_outbox o JOIN security_events s ON s.id = o.event_id WHERE s.details->>'requestId' = $1`,
      [requestId],
    );
    expect(outbox).toEqual([{ details: { reasonCode: 'wrong-password', requestId } }]);
  });

  it('records an unknown account without naming it: no actor, reason unknown-account, never the email', async () => {
    const email = `nobody.${tag}@example.test`;
    secrets.push(email);

    const { res, requestId } = await call(LOGIN, { email, password: 'Whatever-Password-1' });

    expect(codeOf(res)).toBe('UNAUTHENTICATED');
    expect(await auditRows(requestId)).toEqual([
      expect.objectContaining({ action: 'auth.login', outcome: 'DENIED', actor_id: null, actor_role: null }),
    ]);
    expect(await securityRows(requestId)).toEqual([
      expect.objectContaining({
        event_type: 'SIGN_IN_FAILED',
        actor_id: null,
        details: { reasonCode: 'unknown-account', requestId },
      }),
    ]);
  });

  it('raises ACCOUNT_LOCKED (MEDIUM) once at the threshold, then records further attempts as locked', async () => {
    const clerk = await account('RECEPTIONIST');
    const attempts: string[] = [];
    for (let i = 0; i < 3; i += 1) {
      const guess = `Locking-Guess-${tag}-${i}`;
      secrets.push(guess);
      attempts.push((await call(LOGIN, { email: clerk.email, password: guess })).requestId);
    }

    const afterLock = await call(LOGIN, { email: clerk.email, password: clerk.password });

    expect(codeOf(afterLock.res)).toBe('UNAUTHENTICATED');
    expect((await securityRows(attempts[1])).map((r) => r.event_type)).toEqual(['SIGN_IN_FAILED']);
    expect(await securityRows(attempts[2])).toEqual([
      expect.objectContaining({
        event_type: 'SIGN_IN_FAILED',
        details: { reasonCode: 'wrong-password', requestId: attempts[2] },
      }),
      expect.objectContaining({
        event_type: 'ACCOUNT_LOCKED',
        severity: 'MEDIUM',
        actor_id: clerk.user.id,
        details: { counter: 'password', requestId: attempts[2] },
      }),
    ]);
    expect(await securityRows(afterLock.requestId)).toEqual([
      expect.objectContaining({
        event_type: 'SIGN_IN_FAILED',
        details: { reasonCode: 'locked', requestId: afterLock.requestId },
      }),
    ]);
    expect(await auditRows(afterLock.requestId)).toEqual([
      expect.objectContaining({ action: 'auth.login', outcome: 'DENIED', actor_id: clerk.user.id }),
    ]);
  });

  it('raises REFRESH_TOKEN_REUSE (HIGH) naming the session when a used refresh token comes back', async () => {
    const nurse = await account('NURSE');
    const tokens = await signIn(app, nurse);
    secrets.push(tokens.accessToken, tokens.refreshToken);
    const rotated = await call(REFRESH, { token: tokens.refreshToken });
    expect(rotated.res.body.errors).toBeUndefined();
    secrets.push(rotated.res.body.data!.refreshSession.refreshToken);

    const replay = await call(REFRESH, { token: tokens.refreshToken });

    expect(codeOf(replay.res)).toBe('UNAUTHENTICATED');
    const sessionId = sessionIdOf(tokens.accessToken);
    expect(await securityRows(replay.requestId)).toEqual([
      expect.objectContaining({
        event_type: 'REFRESH_TOKEN_REUSE',
        severity: 'HIGH',
        actor_id: nurse.user.id,
        details: { reasonCode: 'reused-session-revoked', sessionId, requestId: replay.requestId },
      }),
    ]);
    expect(await auditRows(replay.requestId)).toEqual([
      expect.objectContaining({
        action: 'auth.refresh',
        outcome: 'DENIED',
        actor_id: nurse.user.id,
        actor_role: 'NURSE',
        session_id: sessionId,
        ip: '127.0.0.1',
      }),
    ]);
    expect(await securityRows(rotated.requestId)).toEqual([]);
  });

  it('records a wrong second factor as auth.mfa DENIED and MFA_FAILED, and the completed sign-in as auth.login', async () => {
    const clerk = await account('BILLING');
    const { accessToken } = await signIn(app, clerk);
    const secret: string = (await app.gql(ENROLL, {}, accessToken)).body.data!.enrollTotp.secret;
    await app.gql(CONFIRM, { code: codeAt(secret) }, accessToken);
    secrets.push(secret);
    const challenge = async () => {
      const login = (await call(LOGIN, { email: clerk.email, password: clerk.password })).res.body.data!.login;
      expect(login.mfaRequired).toBe(true);
      secrets.push(login.mfaChallengeToken);
      return login.mfaChallengeToken as string;
    };
    const wrongCode = codeAt(secret, 20);

    const wrong = await call(VERIFY, { challenge: await challenge(), code: wrongCode });
    const right = await call(VERIFY, { challenge: await challenge(), code: codeAt(secret, 1) });

    expect(codeOf(wrong.res)).toBe('UNAUTHENTICATED');
    expect(await auditRows(wrong.requestId)).toEqual([
      expect.objectContaining({ action: 'auth.mfa', outcome: 'DENIED', actor_id: clerk.user.id, ip: '127.0.0.1' }),
    ]);
    expect(await securityRows(wrong.requestId)).toEqual([
      expect.objectContaining({
        event_type: 'MFA_FAILED',
        severity: 'LOW',
        actor_id: clerk.user.id,
        details: { reasonCode: 'wrong-code', requestId: wrong.requestId },
      }),
    ]);
    expect(JSON.stringify(await auditRows(wrong.requestId))).not.toContain(wrongCode);
    expect(right.res.body.errors).toBeUndefined();
    const token = right.res.body.data!.verifyMfa.accessToken;
    secrets.push(token);
    expect(await auditRows(right.requestId)).toEqual([
      expect.objectContaining({
        action: 'auth.login',
        outcome: 'ALLOWED',
        actor_id: clerk.user.id,
        session_id: sessionIdOf(token),
      }),
    ]);
  });

  describe('refusals', () => {
    let physician: TestAccount;
    let physicianToken: string;
    let patientId: string;

    beforeAll(async () => {
      physician = await account('PHYSICIAN');
      physicianToken = (await signIn(app, physician)).accessToken;
      const clerkToken = (await signIn(app, await account('RECEPTIONIST'))).accessToken;
      const input = {
        firstName: `Ilse${tag}`,
        lastName: `Vandermolen${tag}`,
        dateOfBirth: '1990-04-04',
        sex: 'FEMALE',
      };
      secrets.push(input.firstName, input.lastName);
      patientId = (await app.gql(CREATE, { input }, clerkToken)).body.data!.createPatient.id;
    });

    it('records a shield refusal as one FORBIDDEN event per request and field, however often the field is asked', async () => {
      const query = `{
        a: auditEvents(first: 1) { nodes { id } }
        b: auditEvents(first: 2) { nodes { id } }
        securityEvents(first: 1) { nodes { id } }
      }`;

      const { res, requestId } = await call(query, {}, physicianToken);

      // Non-null root fields: the first refusal nulls the whole answer, but shield ran for all three.
      expect(codeOf(res)).toBe('FORBIDDEN');
      expect(res.body.data).toBeNull();
      const events = await eventually(() => securityRows(requestId), 2);
      // A moment more: a third event, if one were (wrongly) written, would have landed by now.
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(await securityRows(requestId)).toHaveLength(2);
      expect(events.map((e) => (e.details as Row).field).sort()).toEqual(['Query.auditEvents', 'Query.securityEvents']);
      for (const event of events) {
        expect(event).toMatchObject({
          event_type: 'FORBIDDEN',
          severity: 'LOW',
          actor_id: physician.user.id,
          details: {
            field: expect.any(String),
            role: 'PHYSICIAN',
            sessionId: sessionIdOf(physicianToken),
            requestId,
          },
        });
      }
      expect(await auditRows(requestId)).toEqual([]);
    });

    it('records nothing for an anonymous refusal (no account to name)', async () => {
      const { res, requestId } = await call('{ auditEvents(first: 1) { nodes { id } } }');

      expect(codeOf(res)).toBe('UNAUTHENTICATED');
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(await securityRows(requestId)).toEqual([]);
    });

    it('records a patient out of reach as a DENIED row for the id asked for, answered like a missing patient', async () => {
      const { res, requestId } = await call(READ, { id: patientId }, physicianToken);
      const missing = await call(READ, { id: randomUUID() }, physicianToken);

      expect(codeOf(res)).toBe('NOT_FOUND');
      expect(res.body).toEqual(missing.res.body);
      // A missing id takes the same path, DENIED row included: neither answer nor timing sets them apart.
      expect(await auditRows(missing.requestId)).toEqual([
        expect.objectContaining({ action: 'patient.access', outcome: 'DENIED', actor_id: physician.user.id }),
      ]);
      expect(await auditRows(requestId)).toEqual([
        expect.objectContaining({
          action: 'patient.access',
          outcome: 'DENIED',
          patient_id: patientId,
          purpose: null,
          actor_id: physician.user.id,
          actor_role: 'PHYSICIAN',
          session_id: sessionIdOf(physicianToken),
          ip: '127.0.0.1',
          user_agent: USER_AGENT,
        }),
      ]);
    });

    it('keeps the DENIED row when the refusal happens inside a transaction that then rolls back', async () => {
      const requestId = `signin-${tag}-in-transaction`;
      const em = app.services.orm.em.fork();
      const actor = { userId: physician.user.id, role: 'PHYSICIAN' as const, sessionId: sessionIdOf(physicianToken) };

      const attempt = em.transactional(async (tem) => {
        const ctx: GraphQLContext = {
          requestId,
          log: app.logger,
          em: tem,
          actor,
          ip: '203.0.113.9',
          userAgent: USER_AGENT,
          services: app.services,
          loaders: new Map(),
        };
        await app.services.audit.securityEvent(tem, { eventType: `ROLLED_BACK_${tag}`, severity: 'LOW' });
        await reachOne(ctx, patientId);
      });

      await expect(attempt).rejects.toMatchObject({ extensions: { code: 'NOT_FOUND' } });
      // The transaction's own write is gone; the refusal's row is not.
      expect(await sql(app, 'SELECT id FROM security_events WHERE event_type = $1', [`ROLLED_BACK_${tag}`])).toEqual(
        [],
      );
      expect(await auditRows(requestId)).toEqual([
        expect.objectContaining({
          action: 'patient.access',
          outcome: 'DENIED',
          patient_id: patientId,
          actor_id: physician.user.id,
          ip: '203.0.113.9',
        }),
      ]);
    });
  });
});
