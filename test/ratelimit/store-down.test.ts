import { createAccount, sql, type TestAccount } from '../support/accounts';
import { startTestApp, type GqlResponse, type TestApp } from '../support/app';
import { closedPort, limitedEnv, LOGIN_ONLY, tokenFor, uniquePrefix } from './rate-limit-support';

const codes = (res: GqlResponse): string[] => (res.body.errors ?? []).map((e) => e.extensions?.code);

describe('rate limits while Redis is unreachable', () => {
  let app: TestApp;
  let nurse: TestAccount;
  let receptionistToken: string;

  beforeAll(async () => {
    // Nothing listens there: every store call fails, as in an outage. No key is ever written.
    app = await startTestApp(
      limitedEnv(uniquePrefix('down'), { REDIS_URL: `redis://127.0.0.1:${await closedPort()}` }),
    );
    nurse = await createAccount(app, 'NURSE');
    receptionistToken = await tokenFor(app, await createAccount(app, 'RECEPTIONIST'));
  });

  afterAll(async () => {
    await app?.close();
  });

  it('fails sign-in closed: RATE_LIMITED with a short retryAfterSeconds, quickly, and nothing executed', async () => {
    const started = Date.now();
    const res = await app.gql(LOGIN_ONLY, { email: nurse.email, password: nurse.password });
    const elapsed = Date.now() - started;
    const [sessions] = await sql<{ n: string }>(app, 'SELECT count(*) AS n FROM sessions WHERE user_id = $1', [
      nurse.user.id,
    ]);

    expect(res.body.errors).toEqual([
      expect.objectContaining({ extensions: { code: 'RATE_LIMITED', retryAfterSeconds: 30 } }),
    ]);
    expect(Number(sessions.n)).toBe(0);
    expect(elapsed).toBeLessThan(3000);
  });

  it('fails the other sign-in steps closed too, without waiting for Redis each time', async () => {
    const started = Date.now();
    const refresh = await app.gql('mutation { refreshSession(refreshToken: "x") { accessToken } }');
    const mfa = await app.gql('mutation { verifyMfa(challengeToken: "x", code: "123456") { accessToken } }');

    expect(Date.now() - started).toBeLessThan(1500);
    expect(codes(refresh)).toEqual(['RATE_LIMITED']);
    expect(codes(mfa)).toEqual(['RATE_LIMITED']);
  });

  it('fails patient lists and searches open, with a logged warning', async () => {
    const list = await app.gql(
      '{ patients(first: 5) { nodes { id } pageInfo { hasNextPage } } }',
      {},
      receptionistToken,
    );
    const search = await app.gql('{ findPatients(mrn: "MRN-NONE") { id } }', {}, receptionistToken);

    const warnings = app.logs.lines
      .filter((line) => line.includes('rate-limit store unavailable'))
      .map((line) => JSON.parse(line));

    expect(list.body.errors).toBeUndefined();
    expect(Array.isArray(list.body.data?.patients.nodes)).toBe(true);
    expect(search.body.errors).toBeUndefined();
    expect(Array.isArray(search.body.data?.findPatients)).toBe(true);
    expect(warnings).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ level: 40, limit: 'patients.user', failOpen: true }),
        expect.objectContaining({ level: 40, limit: 'findPatients.user', failOpen: true }),
        expect.objectContaining({ level: 40, limit: 'login.ip', failOpen: false }),
      ]),
    );
  });

  it('still refuses a caller the access rule refuses, before the store is asked', async () => {
    const res = await app.gql('{ patients(first: 5) { nodes { id } } }');

    expect(codes(res)).toEqual(['UNAUTHENTICATED']);
  });
});
