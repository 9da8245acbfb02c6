import { randomBytes, randomUUID } from 'node:crypto';
import { execute, parse } from 'graphql';

import type { GraphQLContext } from '../../src/graphql/context';
import { buildExecutableSchema } from '../../src/graphql/schema';
import { createAccount, sql, testEmail, testPassword, userColumn, type TestAccount } from '../support/accounts';
import { startTestApp, type GqlResponse, type TestApp } from '../support/app';
import {
  clientAddress,
  describeWithRedis,
  flushPrefix,
  limitedEnv,
  LOGIN_ONLY,
  tokenFor,
  uniquePrefix,
} from './rate-limit-support';

const tag = randomBytes(3).toString('hex');
const prefixes = {
  trusted: uniquePrefix('api'),
  direct: uniquePrefix('api-direct'),
  scaled: uniquePrefix('api-scaled'),
};
// One set of keys for the three servers, so they read each other's accounts in the shared database.
const secrets = {
  TOKEN_SIGNING_SECRET: randomBytes(32).toString('base64url'),
  MASTER_KEYS: `1:${randomBytes(32).toString('base64')}`,
  BLIND_INDEX_KEY: randomBytes(32).toString('base64'),
  AUDIT_HMAC_KEY: randomBytes(32).toString('base64'),
};

const codes = (res: GqlResponse): string[] => (res.body.errors ?? []).map((e) => e.extensions?.code);
const loginFrom = (app: TestApp, ip: string, email: string, password: string): Promise<GqlResponse> =>
  app.gql(LOGIN_ONLY, { email, password }, undefined, { 'x-forwarded-for': ip });

/** One mutation with `count` aliased sign-ins of the same account. */
function manyLogins(count: number): string {
  const aliases = Array.from(
    { length: count },
    (_, i) => `a${i}: login(email: $email, password: $password) { accessToken }`,
  );
  return `mutation Many($email: String!, $password: String!) { ${aliases.join(' ')} }`;
}

async function sessionsOf(app: TestApp, userId: string): Promise<number> {
  const [row] = await sql<{ n: string }>(app, 'SELECT count(*) AS n FROM sessions WHERE user_id = $1', [userId]);
  return Number(row.n);
}

describeWithRedis('rate limits through the API (real server, real Redis)', () => {
  // Behind a trusted proxy (127.0.0.1), so each test picks its own client address.
  let app: TestApp;
  // No TRUST_PROXY: X-Forwarded-For must be ignored.
  let direct: TestApp;
  // Limits at a tenth (patients: 6 a minute), for ten aliases to cross one.
  let scaled: TestApp;

  beforeAll(async () => {
    app = await startTestApp(limitedEnv(prefixes.trusted, { ...secrets, TRUST_PROXY: '127.0.0.1' }));
    direct = await startTestApp(limitedEnv(prefixes.direct, secrets), { databaseUrl: app.db.url });
    scaled = await startTestApp(limitedEnv(prefixes.scaled, { ...secrets, RATE_LIMIT_MULTIPLIER: '0.1' }), {
      databaseUrl: app.db.url,
    });
  });

  afterAll(async () => {
    await scaled?.close();
    await direct?.close();
    await app?.close();
    for (const prefix of Object.values(prefixes)) await flushPrefix(prefix);
  });

  it('executes no more than 5 of 10 aliased login mutations for one account sent in one request', async () => {
    const nurse = await createAccount(app, 'NURSE');

    const res = await app.gql(manyLogins(10), { email: nurse.email, password: nurse.password }, undefined, {
      'x-forwarded-for': clientAddress(),
    });

    // The document limits refuse a second sign-in field before anything runs (src/graphql/limits.ts).
    expect(codes(res)).toEqual(['QUERY_TOO_COMPLEX']);
    expect(await sessionsOf(app, nurse.user.id)).toBe(0);
  });

  it('executes at most 5 of 10 aliased login mutations when the document limits are out of the way', async () => {
    const nurse = await createAccount(app, 'NURSE');
    const ip = clientAddress();
    const context = (): GraphQLContext => ({
      requestId: randomUUID(),
      log: app.logger,
      em: app.services.orm.em.fork(),
      actor: null,
      ip,
      userAgent: 'test',
      services: app.services,
      loaders: new Map(),
    });

    // The executable schema with its shield rules, as Apollo runs it, minus the plugin that counts fields.
    const res = await execute({
      schema: await buildExecutableSchema(),
      document: parse(manyLogins(10)),
      variableValues: { email: nurse.email, password: nurse.password },
      contextValue: context(),
    });
    const later = await loginFrom(app, clientAddress(), nurse.email, nurse.password);

    expect(res.errors?.map((e) => e.extensions.code)).toEqual(['RATE_LIMITED']);
    expect(await sessionsOf(app, nurse.user.id)).toBe(5);
    // The account's own window is spent too: a new address does not help.
    expect(codes(later)).toEqual(['RATE_LIMITED']);
    expect(await sessionsOf(app, nurse.user.id)).toBe(5);
  });

  it('executes at most the limit of 10 aliased patients queries, which resolve in parallel', async () => {
    const receptionist = await createAccount(scaled, 'RECEPTIONIST');
    const token = await tokenFor(scaled, receptionist);
    const created = await scaled.gql(
      'mutation C($input: PatientInput!) { createPatient(input: $input) { id } }',
      { input: { firstName: `Ilse${tag}`, lastName: `Varga${tag}`, dateOfBirth: '1980-02-29', sex: 'FEMALE' } },
      token,
    );
    expect(created.body.errors).toBeUndefined();
    const aliases = Array.from({ length: 10 }, (_, i) => `p${i}: patients(first: 1) { nodes { id } }`);

    const res = await scaled.gql(`query { ${aliases.join(' ')} }`, {}, token);
    const reads = async () =>
      Number(
        (
          await sql<{ n: string }>(
            scaled,
            "SELECT count(*) AS n FROM audit_events WHERE actor_id = $1 AND action = 'patient.read'",
            [receptionist.user.id],
          )
        )[0].n,
      );
    // A refused alias nulls `data` at once; the allowed ones may still be writing their audit rows.
    for (let i = 0; i < 30 && (await reads()) < 6; i++) await new Promise((resolve) => setTimeout(resolve, 100));
    await new Promise((resolve) => setTimeout(resolve, 300));

    // graphql reports the first refusal only: a non-null field's error ends the whole selection.
    expect(codes(res)).toContain('RATE_LIMITED');
    expect(await reads()).toBe(6);
  });

  it('refuses a JSON array of operations entirely, executing none of them (batching is off)', async () => {
    const nurse = await createAccount(app, 'NURSE');
    const operation = { query: LOGIN_ONLY, variables: { email: nurse.email, password: nurse.password } };

    const response = await fetch(`${app.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': clientAddress() },
      body: JSON.stringify(Array.from({ length: 8 }, () => operation)),
    });

    expect(response.status).toBe(400);
    expect(await sessionsOf(app, nurse.user.id)).toBe(0);
  });

  it('limits an account to 5 attempts in 15 minutes from any number of addresses, without spending those addresses', async () => {
    const target = await createAccount(app, 'PHYSICIAN');
    const bystander = await createAccount(app, 'NURSE');
    const addresses = Array.from({ length: 7 }, () => clientAddress());

    const answers: GqlResponse[] = [];
    for (const ip of addresses) answers.push(await loginFrom(app, ip, target.email, 'Wrong-Password-Guess-1'));
    const bystanderLogin = await loginFrom(app, addresses[0], bystander.email, bystander.password);

    expect(answers.map((res) => codes(res)[0])).toEqual([
      ...Array(5).fill('UNAUTHENTICATED'),
      'RATE_LIMITED',
      'RATE_LIMITED',
    ]);
    expect(await userColumn<number>(app, target.user.id, 'failed_login_count')).toBe(5);
    expect(answers[5].body.errors![0].extensions).toMatchObject({
      code: 'RATE_LIMITED',
      retryAfterSeconds: expect.any(Number),
    });
    expect(answers[5].body.errors![0].extensions!.retryAfterSeconds).toBeGreaterThan(60);
    expect(answers[5].body.errors![0].extensions!.retryAfterSeconds).toBeLessThanOrEqual(900);
    expect(bystanderLogin.body.data?.login.accessToken).toEqual(expect.any(String));
  });

  it('limits an address to 5 attempts a minute across accounts, without spending the accounts it did not reach', async () => {
    const accounts: TestAccount[] = [];
    for (let i = 0; i < 6; i++) accounts.push(await createAccount(app, 'NURSE'));
    const ip = clientAddress();

    const answers: GqlResponse[] = [];
    for (const account of accounts) answers.push(await loginFrom(app, ip, account.email, 'Wrong-Password-Guess-2'));
    const sixthBefore = await userColumn<number>(app, accounts[5].user.id, 'failed_login_count');
    const elsewhere = await loginFrom(app, clientAddress(), accounts[5].email, 'Wrong-Password-Guess-2');

    expect(answers.map((res) => codes(res)[0])).toEqual([...Array(5).fill('UNAUTHENTICATED'), 'RATE_LIMITED']);
    expect(sixthBefore).toBe(0);
    expect(codes(elsewhere)).toEqual(['UNAUTHENTICATED']);
    expect(await userColumn<number>(app, accounts[5].user.id, 'failed_login_count')).toBe(1);
  });

  it('answers RATE_LIMITED with retryAfterSeconds within the window', async () => {
    const ip = clientAddress();
    const answers: GqlResponse[] = [];
    for (let i = 0; i < 7; i++) answers.push(await loginFrom(app, ip, testEmail('nobody'), testPassword()));

    for (const res of answers.slice(5)) {
      expect(res.body.errors).toEqual([
        expect.objectContaining({
          message: 'Too many requests',
          path: ['login'],
          extensions: { code: 'RATE_LIMITED', retryAfterSeconds: expect.any(Number) },
        }),
      ]);
      expect(res.body.errors![0].extensions!.retryAfterSeconds).toBeGreaterThanOrEqual(1);
      expect(res.body.errors![0].extensions!.retryAfterSeconds).toBeLessThanOrEqual(60);
      // The same wait as an HTTP header, for clients and proxies that do not read the body.
      expect(res.headers.get('retry-after')).toBe(String(res.body.errors![0].extensions!.retryAfterSeconds));
    }
    for (const res of answers.slice(0, 5)) expect(res.headers.get('retry-after')).toBeNull();
  });

  it('ignores a forged X-Forwarded-For when no proxy is trusted', async () => {
    const answers: GqlResponse[] = [];
    for (let i = 0; i < 7; i++)
      answers.push(await loginFrom(direct, clientAddress(), testEmail('spoof'), testPassword()));

    expect(answers.map((res) => codes(res)[0])).toEqual([
      ...Array(5).fill('UNAUTHENTICATED'),
      'RATE_LIMITED',
      'RATE_LIMITED',
    ]);
  });

  it("honours the trusted proxy's X-Forwarded-For, but not addresses the client put before it", async () => {
    const client = clientAddress();
    const forged: GqlResponse[] = [];
    for (let i = 0; i < 6; i++)
      forged.push(await loginFrom(app, `${clientAddress()}, ${client}`, testEmail('chain'), testPassword()));
    const distinct: GqlResponse[] = [];
    for (let i = 0; i < 6; i++)
      distinct.push(await loginFrom(app, clientAddress(), testEmail('proxied'), testPassword()));

    expect(forged.map((res) => codes(res)[0])).toEqual([...Array(5).fill('UNAUTHENTICATED'), 'RATE_LIMITED']);
    expect(distinct.map((res) => codes(res)[0])).toEqual(Array(6).fill('UNAUTHENTICATED'));
  });

  it('records one RATE_LIMIT security event per window and counter, however many calls it refuses', async () => {
    const [first, second] = [clientAddress(), clientAddress()];
    for (let i = 0; i < 5; i++) await loginFrom(app, first, testEmail('event'), testPassword());
    const refused = await Promise.all(
      Array.from({ length: 10 }, () => loginFrom(app, first, testEmail('event'), testPassword())),
    );
    for (let i = 0; i < 7; i++) await loginFrom(app, second, testEmail('event'), testPassword());
    const events = await sql<{ subject: string; severity: string; limit: string }>(
      app,
      "SELECT details->>'subject' AS subject, severity, details->>'limit' AS limit FROM security_events WHERE event_type = 'RATE_LIMIT' AND details->>'subject' IN ($1, $2)",
      [`ip:${first}`, `ip:${second}`],
    );

    expect(refused.every((res) => codes(res)[0] === 'RATE_LIMITED')).toBe(true);
    expect(events.map((e) => e.subject).sort()).toEqual([`ip:${first}`, `ip:${second}`].sort());
    expect(events.every((e) => e.limit === 'login.ip' && e.severity === 'MEDIUM')).toBe(true);
  });
});
