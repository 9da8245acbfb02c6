import { randomBytes } from 'node:crypto';

import type { Role } from '../../src/config/roles';
import { codeOf, createAccount, signIn, sql, type TestAccount } from '../support/accounts';
import { startTestApp, type TestApp } from '../support/app';

const tag = randomBytes(3).toString('hex');
const MISSING = '00000000-0000-4000-8000-000000000000';
const CREATE_PATIENT = `mutation($input: PatientInput!) { createPatient(input: $input) { id } }`;
const GRANT = `mutation($input: ConsentInput!) { grantConsent(input: $input) { type given at policyVersion } }`;
const WITHDRAW = `mutation($patientId: ID!, $type: ConsentType!) { withdrawConsent(patientId: $patientId, type: $type) { type given at policyVersion } }`;
const READ = `query($patientId: ID!) { consents(patientId: $patientId) { current { type given at } history { type given at policyVersion } } }`;
const ASSIGN = `mutation($patientId: ID!, $userId: ID!) { assignCareTeam(patientId: $patientId, userId: $userId) }`;

describe('consent records', () => {
  let app: TestApp;
  const tokens = {} as Record<Role, string>;
  const accounts = {} as Record<Role, TestAccount>;

  /** A fictional patient registered at the front desk. */
  async function newPatient(): Promise<string> {
    const input = {
      firstName: `Ottoline${tag}`,
      lastName: `Brackenridge${tag}`,
      dateOfBirth: '1981-04-12',
      sex: 'FEMALE',
    };
    const res = await app.gql(CREATE_PATIENT, { input }, tokens.RECEPTIONIST);
    expect(res.body.errors).toBeUndefined();
    return res.body.data!.createPatient.id;
  }

  /** A patient record with its own signed-in PATIENT account. */
  async function patientWithAccount(): Promise<{ patientId: string; token: string; userId: string }> {
    const patientId = await newPatient();
    const account = await createAccount(app, 'PATIENT', { patientId });
    return { patientId, token: (await signIn(app, account)).accessToken, userId: account.user.id };
  }

  const grant = (
    patientId: string,
    type: string,
    policyVersion: string | undefined,
    token: string,
    headers?: Record<string, string>,
  ) => app.gql(GRANT, { input: { patientId, type, policyVersion } }, token, headers);
  const withdraw = (patientId: string, type: string, token: string) => app.gql(WITHDRAW, { patientId, type }, token);
  const read = (patientId: string, token: string) => app.gql(READ, { patientId }, token);
  const rowCount = async () => Number((await sql<{ n: string }>(app, 'SELECT count(*) AS n FROM consents'))[0].n);

  beforeAll(async () => {
    app = await startTestApp();
    for (const role of [
      'ADMIN',
      'RECEPTIONIST',
      'PHYSICIAN',
      'NURSE',
      'PRIVACY_OFFICER',
      'AUDITOR',
      'BILLING',
      'INTEGRATOR',
    ] as Role[]) {
      accounts[role] = await createAccount(app, role);
      tokens[role] = (await signIn(app, accounts[role])).accessToken;
    }
  });

  afterAll(async () => {
    await app?.close();
  });

  it('keeps a complete, ordered history and the right current state through grant, withdraw, grant, withdraw across two types', async () => {
    const { patientId, token } = await patientWithAccount();

    const steps = [
      await grant(patientId, 'RESEARCH', 'research-1.0', token),
      await grant(patientId, 'MARKETING', 'mkt_2024.1', tokens.RECEPTIONIST),
      await withdraw(patientId, 'RESEARCH', token),
      await grant(patientId, 'RESEARCH', 'research-2.0', token),
      await withdraw(patientId, 'MARKETING', tokens.RECEPTIONIST),
    ];
    for (const step of steps) expect(step.body.errors).toBeUndefined();
    const returned = steps.map((s) => s.body.data!.grantConsent ?? s.body.data!.withdrawConsent);
    const res = await read(patientId, token);

    const { current, history } = res.body.data!.consents;
    expect(history).toEqual(returned);
    expect(
      history.map((c: { type: string; given: boolean; policyVersion: string | null }) => [
        c.type,
        c.given,
        c.policyVersion,
      ]),
    ).toEqual([
      ['RESEARCH', true, 'research-1.0'],
      ['MARKETING', true, 'mkt_2024.1'],
      ['RESEARCH', false, null],
      ['RESEARCH', true, 'research-2.0'],
      ['MARKETING', false, null],
    ]);
    const times = history.map((c: { at: string }) => Date.parse(c.at));
    expect([...times].sort((a, b) => a - b)).toEqual(times);
    expect(current).toEqual([
      { type: 'RESEARCH', given: true, at: history[3].at },
      { type: 'MARKETING', given: false, at: history[4].at },
    ]);
  });

  it('never changes the history: an UPDATE on consents fails, and earlier rows stay byte for byte the same after more records', async () => {
    const { patientId, token } = await patientWithAccount();
    await grant(patientId, 'TREATMENT', 'care-3', token);
    await withdraw(patientId, 'TREATMENT', token);
    const snapshot = () =>
      sql<{ row: string }>(
        app,
        'SELECT to_jsonb(c)::text AS row FROM consents c WHERE patient_id = $1 ORDER BY at, id',
        [patientId],
      );
    const before = await snapshot();

    await expect(sql(app, 'UPDATE consents SET given = NOT given WHERE patient_id = $1', [patientId])).rejects.toThrow(
      /append-only/,
    );
    await expect(
      sql(app, "UPDATE consents SET policy_version = 'forged' WHERE patient_id = $1", [patientId]),
    ).rejects.toThrow(/append-only/);
    await grant(patientId, 'TREATMENT', 'care-4', token);
    await grant(patientId, 'RESEARCH', 'r-1', tokens.RECEPTIONIST);

    const after = await snapshot();
    expect(before).toHaveLength(2);
    expect(after).toHaveLength(4);
    expect(after.slice(0, 2)).toEqual(before);
  });

  it('refuses staff who would gain access the consents that grant it (regression: self-granted access)', async () => {
    const patientId = await newPatient();

    for (const [type, token] of [
      ['DATA_SHARING', tokens.RECEPTIONIST],
      ['DATA_SHARING', tokens.PHYSICIAN],
      ['SENSITIVE_DATA', tokens.PHYSICIAN],
      ['SENSITIVE_DATA', tokens.NURSE],
    ] as const) {
      expect(codeOf(await grant(patientId, type, 'v1', token))).toMatch(/FORBIDDEN|NOT_FOUND/);
    }
    const rows = await sql(app, 'SELECT 1 FROM consents WHERE patient_id = $1', [patientId]);
    expect(rows).toHaveLength(0);

    expect(
      (await grant(patientId, 'DATA_SHARING', 'v1', tokens.PRIVACY_OFFICER)).body.data!.grantConsent,
    ).toMatchObject({ given: true });
    const events = await sql<{ event_type: string; details: Record<string, unknown> }>(
      app,
      "SELECT event_type, details FROM security_events WHERE patient_id = $1 AND event_type = 'CONSENT_RECORDED_BY_STAFF'",
      [patientId],
    );
    expect(events).toHaveLength(1);
    expect(events[0].details).toMatchObject({ type: 'DATA_SHARING' });
  });

  it('orders records written at the same moment strictly, so the current state is always the last one recorded', async () => {
    const patientId = await newPatient();

    await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        i % 2 === 0
          ? grant(patientId, 'DATA_SHARING', `v${i}`, tokens.PRIVACY_OFFICER)
          : withdraw(patientId, 'DATA_SHARING', tokens.RECEPTIONIST),
      ),
    );

    const rows = await sql<{ at: string; given: boolean }>(
      app,
      "SELECT to_char(at, 'YYYY-MM-DD HH24:MI:SS.US') AS at, given FROM consents WHERE patient_id = $1 ORDER BY at, id",
      [patientId],
    );
    expect(rows).toHaveLength(12);
    expect(new Set(rows.map((r) => r.at)).size).toBe(12);
    const { current } = (await read(patientId, tokens.RECEPTIONIST)).body.data!.consents;
    expect(current).toEqual([expect.objectContaining({ type: 'DATA_SHARING', given: rows[11].given })]);
  });

  it('stores the channel, client address, user agent and who recorded each consent', async () => {
    const { patientId, token, userId } = await patientWithAccount();

    await grant(patientId, 'DATA_SHARING', 'share-1', token, { 'user-agent': `PortalBrowser/${tag}` });
    await withdraw(patientId, 'DATA_SHARING', tokens.RECEPTIONIST);

    const rows = await sql(
      app,
      'SELECT channel, ip, user_agent, recorded_by, recorded_by_role, given FROM consents WHERE patient_id = $1 ORDER BY at',
      [patientId],
    );
    expect(rows[0]).toMatchObject({
      channel: 'PORTAL',
      user_agent: `PortalBrowser/${tag}`,
      recorded_by: userId,
      recorded_by_role: 'PATIENT',
      given: true,
    });
    expect(rows[1]).toMatchObject({
      channel: 'API',
      recorded_by: accounts.RECEPTIONIST.user.id,
      recorded_by_role: 'RECEPTIONIST',
      given: false,
    });
    for (const row of rows) expect(row.ip).toMatch(/127\.0\.0\.1|::1/);
  });

  it('answers a patient who records or reads another patient’s consents exactly like a missing patient, writing nothing', async () => {
    const own = await patientWithAccount();
    const other = await patientWithAccount();
    const before = await rowCount();

    const attempts = [
      await grant(other.patientId, 'RESEARCH', 'r-1', own.token),
      await withdraw(other.patientId, 'RESEARCH', own.token),
      await read(other.patientId, own.token),
    ];
    const missing = await read(MISSING, own.token);

    for (const res of attempts) {
      expect(codeOf(res)).toBe('NOT_FOUND');
      expect(res.body.errors![0].message).toBe(missing.body.errors![0].message);
      expect(res.body.data ?? null).toBeNull();
    }
    expect(await rowCount()).toBe(before);
  });

  it('lets front desk and privacy officers record and read consents for any existing patient, and refuses a missing one', async () => {
    const patientId = await newPatient();

    expect((await grant(patientId, 'RESEARCH', 'r-1', tokens.RECEPTIONIST)).body.data!.grantConsent).toMatchObject({
      given: true,
    });
    expect((await withdraw(patientId, 'RESEARCH', tokens.PRIVACY_OFFICER)).body.data!.withdrawConsent).toMatchObject({
      given: false,
    });
    expect((await read(patientId, tokens.PRIVACY_OFFICER)).body.data!.consents.history).toHaveLength(2);
    expect((await read(patientId, tokens.RECEPTIONIST)).body.data!.consents.history).toHaveLength(2);

    for (const role of ['RECEPTIONIST', 'PRIVACY_OFFICER'] as Role[]) {
      expect(codeOf(await grant(MISSING, 'RESEARCH', 'r-1', tokens[role]))).toBe('NOT_FOUND');
      expect(codeOf(await read('not-an-id', tokens[role]))).toBe('NOT_FOUND');
    }
  });

  it('lets clinicians manage consents only for patients on their care team', async () => {
    const patientId = await newPatient();

    for (const role of ['PHYSICIAN', 'NURSE'] as Role[]) {
      expect(codeOf(await grant(patientId, 'TREATMENT', 't-1', tokens[role]))).toBe('NOT_FOUND');
      expect(codeOf(await read(patientId, tokens[role]))).toBe('NOT_FOUND');
    }
    const assigned = await app.gql(ASSIGN, { patientId, userId: accounts.PHYSICIAN.user.id }, tokens.ADMIN);
    expect(assigned.body.errors).toBeUndefined();

    expect((await grant(patientId, 'TREATMENT', 't-1', tokens.PHYSICIAN)).body.data!.grantConsent).toMatchObject({
      type: 'TREATMENT',
      given: true,
    });
    expect((await read(patientId, tokens.PHYSICIAN)).body.data!.consents.current).toEqual([
      expect.objectContaining({ type: 'TREATMENT', given: true }),
    ]);
    expect(codeOf(await withdraw(patientId, 'TREATMENT', tokens.NURSE))).toBe('NOT_FOUND');
  });

  it('refuses auditors, billing staff, integrators and administrators with FORBIDDEN, writing nothing', async () => {
    const patientId = await newPatient();
    const before = await rowCount();

    for (const role of ['AUDITOR', 'BILLING', 'INTEGRATOR', 'ADMIN'] as Role[]) {
      for (const res of [
        await grant(patientId, 'RESEARCH', 'r-1', tokens[role]),
        await withdraw(patientId, 'RESEARCH', tokens[role]),
        await read(patientId, tokens[role]),
      ]) {
        expect(codeOf(res)).toBe('FORBIDDEN');
        expect(res.body.data ?? null).toBeNull();
      }
    }
    expect(codeOf(await grant(patientId, 'RESEARCH', 'r-1', ''))).toBe('UNAUTHENTICATED');
    expect(codeOf(await read(patientId, ''))).toBe('UNAUTHENTICATED');
    expect(await rowCount()).toBe(before);
  });

  it('refuses an unknown type and a missing or malformed policy version with BAD_USER_INPUT, writing nothing', async () => {
    const patientId = await newPatient();
    const before = await rowCount();

    expect(codeOf(await grant(patientId, 'NEWSLETTER', 'v1', tokens.RECEPTIONIST))).toBe('BAD_USER_INPUT');
    expect(codeOf(await withdraw(patientId, 'NEWSLETTER', tokens.RECEPTIONIST))).toBe('BAD_USER_INPUT');
    expect(codeOf(await grant(patientId, 'RESEARCH', undefined, tokens.RECEPTIONIST))).toBe('BAD_USER_INPUT');
    for (const version of ['', 'v 1', 'v1;drop', 'x'.repeat(33), 'versión-1']) {
      const res = await grant(patientId, 'RESEARCH', version, tokens.RECEPTIONIST);
      expect(codeOf(res)).toBe('BAD_USER_INPUT');
      expect(res.body.errors![0].extensions!.field).toBe('policyVersion');
    }
    expect(
      (await grant(patientId, 'RESEARCH', 'A.z_0-9'.padEnd(32, '9'), tokens.RECEPTIONIST)).body.errors,
    ).toBeUndefined();
    expect(await rowCount()).toBe(before + 1);
  });

  it('audits grants, withdrawals and reads with the patient and the purpose of access', async () => {
    const { patientId, token } = await patientWithAccount();

    await grant(patientId, 'MARKETING', 'm-1', token);
    await withdraw(patientId, 'MARKETING', tokens.RECEPTIONIST);
    await read(patientId, tokens.PRIVACY_OFFICER);

    const events = await sql(
      app,
      "SELECT action, actor_role, purpose, outcome FROM audit_events WHERE patient_id = $1 AND action LIKE 'consent.%' ORDER BY at",
      [patientId],
    );
    expect(events).toEqual([
      { action: 'consent.grant', actor_role: 'PATIENT', purpose: 'SELF_ACCESS', outcome: 'ALLOWED' },
      { action: 'consent.withdraw', actor_role: 'RECEPTIONIST', purpose: 'OPERATIONS', outcome: 'ALLOWED' },
      { action: 'consent.read', actor_role: 'PRIVACY_OFFICER', purpose: 'PRIVACY', outcome: 'ALLOWED' },
    ]);
  });
});
