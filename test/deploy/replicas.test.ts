import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';

import { createAccount, LOGIN, ME, sql, testEmail } from '../support/accounts';
import { startTestApp, type TestApp } from '../support/app';
import { startChildApp, stopChildApp } from '../support/child-app';
import {
  clientAddress,
  describeWithRedis,
  flushPrefix,
  limitedEnv,
  uniquePrefix,
} from '../ratelimit/rate-limit-support';

// Two API replicas that share nothing but PostgreSQL and Redis, as behind a load balancer: replica A runs in this
// process, replica B in a child process (test/ratelimit/serve-app.ts) with the same keys, database and Redis.
const prefix = uniquePrefix('replicas');
const env = limitedEnv(prefix, {
  TRUST_PROXY: '127.0.0.1',
  LOGIN_LOCKOUT_THRESHOLD: '3',
  LOGIN_LOCKOUT_SECONDS: '900',
  TOKEN_SIGNING_SECRET: randomBytes(32).toString('base64url'),
  MASTER_KEYS: `1:${randomBytes(32).toString('base64')}`,
  BLIND_INDEX_KEY: randomBytes(32).toString('base64'),
  AUDIT_HMAC_KEY: randomBytes(32).toString('base64'),
});

interface Answer {
  code: string;
  data?: Record<string, any> | null;
  retryAfterSeconds?: number;
}

/** One GraphQL call to one replica, from one client address (the replicas trust 127.0.0.1 as their proxy). */
async function call(
  url: string,
  query: string,
  variables: Record<string, unknown>,
  options: { ip: string; token?: string },
): Promise<Answer> {
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-forwarded-for': options.ip,
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
    },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as {
    data?: Record<string, any> | null;
    errors?: { extensions?: { code?: string; retryAfterSeconds?: number } }[];
  };
  const error = body.errors?.[0]?.extensions;
  return { code: error?.code ?? 'OK', data: body.data, retryAfterSeconds: error?.retryAfterSeconds };
}

describeWithRedis('two replicas sharing only PostgreSQL and Redis', () => {
  let app: TestApp;
  let child: ChildProcess | undefined;
  let a: string;
  let b: string;

  beforeAll(async () => {
    app = await startTestApp(env);
    const replica = await startChildApp(
      [join(__dirname, '..', 'ratelimit', 'serve-app.ts'), app.db.url],
      env,
      'replica B',
    );
    child = replica.child;
    expect(replica.pid).not.toBe(process.pid);
    a = app.url;
    b = replica.url;
    expect(b).not.toBe(a);
  }, 120_000);

  afterAll(async () => {
    await stopChildApp(child);
    await app?.close();
    await flushPrefix(prefix);
  });

  it('refuses on replica B, at once, a session that signed out on replica A (and the other way round)', async () => {
    for (const [signIn, other] of [
      [a, b],
      [b, a],
    ]) {
      const account = await createAccount(app, 'NURSE');
      const ip = clientAddress();
      const login = await call(signIn, LOGIN, { email: account.email, password: account.password }, { ip });
      const token = login.data?.login?.accessToken as string;
      expect(token).toEqual(expect.any(String));
      const before = await call(other, ME, {}, { ip, token });
      expect(before.data?.me).toMatchObject({ id: account.user.id });

      expect((await call(signIn, 'mutation { logout }', {}, { ip, token })).data?.logout).toBe(true);

      expect(await call(other, ME, {}, { ip, token })).toMatchObject({ code: 'UNAUTHENTICATED' });
      expect(await call(signIn, ME, {}, { ip, token })).toMatchObject({ code: 'UNAUTHENTICATED' });
    }
  });

  it('holds on replica B a lockout earned with wrong passwords on replica A', async () => {
    const account = await createAccount(app, 'PHYSICIAN');
    for (let i = 0; i < 3; i++) {
      const wrong = await call(
        a,
        LOGIN,
        { email: account.email, password: 'Wrong-Password-Guess-7' },
        { ip: clientAddress() },
      );
      expect(wrong.code).toBe('UNAUTHENTICATED');
    }
    const [row] = await sql<{ locked: boolean }>(
      app,
      'SELECT locked_until > now() AS locked FROM users WHERE id = $1',
      [account.user.id],
    );
    expect(row.locked).toBe(true);

    // The right password, on the other replica, from another address: still refused, with the same answer.
    const right = { email: account.email, password: account.password };
    expect(await call(b, LOGIN, right, { ip: clientAddress() })).toMatchObject({ code: 'UNAUTHENTICATED' });

    // Control: once the lock has run out, the same password on replica B signs in.
    await sql(app, "UPDATE users SET locked_until = now() - interval '1 second' WHERE id = $1", [account.user.id]);
    const after = await call(b, LOGIN, right, { ip: clientAddress() });
    expect(after.data?.login?.accessToken).toEqual(expect.any(String));
  });

  it('limits on replica B a client address whose sign-in bucket was filled on replica A', async () => {
    const ip = clientAddress();
    for (let i = 0; i < 5; i++) {
      const answer = await call(a, LOGIN, { email: testEmail('nobody'), password: 'Wrong-Password-Guess-8' }, { ip });
      expect(answer.code).toBe('UNAUTHENTICATED');
    }

    const limited = await call(b, LOGIN, { email: testEmail('nobody'), password: 'Wrong-Password-Guess-8' }, { ip });
    expect(limited.code).toBe('RATE_LIMITED');
    expect(limited.retryAfterSeconds).toBeGreaterThan(0);
    // Control: replica B still serves another address.
    const other = await call(
      b,
      LOGIN,
      { email: testEmail('nobody'), password: 'Wrong-Password-Guess-8' },
      { ip: clientAddress() },
    );
    expect(other.code).toBe('UNAUTHENTICATED');
  });
});
