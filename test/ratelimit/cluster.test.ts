import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';

import { createAccount, userColumn, type TestAccount } from '../support/accounts';
import { startTestApp, type TestApp } from '../support/app';
import { startChildApp, stopChildApp } from '../support/child-app';
import {
  clientAddress,
  describeWithRedis,
  flushPrefix,
  limitedEnv,
  LOGIN_ONLY,
  uniquePrefix,
} from './rate-limit-support';

const prefix = uniquePrefix('cluster');
const env = limitedEnv(prefix, {
  TRUST_PROXY: '127.0.0.1',
  // Both servers must read the same accounts: same keys.
  TOKEN_SIGNING_SECRET: randomBytes(32).toString('base64url'),
  MASTER_KEYS: `1:${randomBytes(32).toString('base64')}`,
  BLIND_INDEX_KEY: randomBytes(32).toString('base64'),
  AUDIT_HMAC_KEY: randomBytes(32).toString('base64'),
});

describeWithRedis('rate limits across two server processes sharing Redis and PostgreSQL', () => {
  let app: TestApp;
  let child: ChildProcess | undefined;
  let urls: string[];

  beforeAll(async () => {
    app = await startTestApp(env);
    const second = await startChildApp([join(__dirname, 'serve-app.ts'), app.db.url], env, 'second server');
    child = second.child;
    urls = [app.url, second.url];
  }, 120_000);

  afterAll(async () => {
    await stopChildApp(child);
    await app?.close();
    await flushPrefix(prefix);
  });

  /** Sends `count` sign-ins at once, alternating between the two servers. */
  function parallelLogins(
    count: number,
    pick: (i: number) => { email: string; password: string; ip: string },
  ): Promise<string[]> {
    return Promise.all(
      Array.from({ length: count }, async (_, i) => {
        const { email, password, ip } = pick(i);
        const response = await fetch(`${urls[i % 2]}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-forwarded-for': ip },
          body: JSON.stringify({ query: LOGIN_ONLY, variables: { email, password } }),
        });
        const body = (await response.json()) as { errors?: { extensions?: { code?: string } }[] };
        return body.errors?.[0]?.extensions?.code ?? 'OK';
      }),
    );
  }

  it('executes no more than 5 of 50 parallel sign-ins for one account, from 50 addresses, over both servers', async () => {
    const target = await createAccount(app, 'PHYSICIAN');
    const addresses = Array.from({ length: 50 }, () => clientAddress());

    const answers = await parallelLogins(50, (i) => ({
      email: target.email,
      password: 'Wrong-Password-Guess-3',
      ip: addresses[i],
    }));

    const executed = await userColumn<number>(app, target.user.id, 'failed_login_count');

    // Exactly 5 unless a store call timed out under load, which refuses the call (sign-in fails closed).
    expect(executed).toBeLessThanOrEqual(5);
    expect(executed).toBeGreaterThanOrEqual(1);
    expect(answers.filter((code) => code === 'UNAUTHENTICATED')).toHaveLength(executed);
    expect(answers.filter((code) => code === 'RATE_LIMITED')).toHaveLength(50 - executed);
  });

  it('executes no more than 5 of 50 parallel sign-ins from one address, over both servers', async () => {
    const accounts: TestAccount[] = [];
    for (let i = 0; i < 10; i++) accounts.push(await createAccount(app, 'NURSE'));
    const ip = clientAddress();

    const answers = await parallelLogins(50, (i) => ({
      email: accounts[i % 10].email,
      password: 'Wrong-Password-Guess-4',
      ip,
    }));
    let executed = 0;
    for (const account of accounts) executed += await userColumn<number>(app, account.user.id, 'failed_login_count');

    // Exactly 5 unless a store call timed out under load, which refuses the call (sign-in fails closed).
    expect(executed).toBeLessThanOrEqual(5);
    expect(executed).toBeGreaterThanOrEqual(1);
    expect(answers.filter((code) => code === 'UNAUTHENTICATED')).toHaveLength(executed);
    expect(answers.filter((code) => code === 'RATE_LIMITED')).toHaveLength(50 - executed);
  });
});
