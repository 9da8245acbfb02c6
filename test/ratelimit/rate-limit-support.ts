import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';

import type { TestAccount } from '../support/accounts';
import type { TestApp } from '../support/app';

/** The Redis these suites count in; CI sets REDIS_URL. */
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/**
 * Suites that need a real Redis run when REDIS_URL is set (CI always sets it) and are skipped,
 * visibly, on a machine without one, where `npm test` must still pass; the in-process store's
 * suites run everywhere.
 */
export const describeWithRedis: jest.Describe = process.env.REDIS_URL ? describe : describe.skip;
if (!process.env.REDIS_URL) {
  process.stderr.write('REDIS_URL is not set: the suites that need a real Redis are skipped\n');
}

/** A key prefix of its own for one test file, so parallel files never share counters. */
export function uniquePrefix(tag: string): string {
  return `hms:rl:test:${process.env.HMS_TEST_RUN_ID ?? 'run'}:${tag}:${randomBytes(4).toString('hex')}:`;
}

/** Deletes this file's keys, and nobody else's. */
export async function flushPrefix(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

/** Environment of a rate-limited test server: real limits, Redis, this file's prefix, no lockout in the way. */
export function limitedEnv(prefix: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    REDIS_URL,
    RATE_LIMIT_KEY_PREFIX: prefix,
    RATE_LIMIT_MULTIPLIER: '1',
    // Every executed wrong password then shows in failed_login_count (the lock would reset it at 5).
    LOGIN_LOCKOUT_THRESHOLD: '100',
    ...extra,
  };
}

/** An access token made through the session service, so setting up spends no sign-in attempts. */
export async function tokenFor(app: TestApp, account: TestAccount): Promise<string> {
  const em = app.services.orm.em.fork();
  const tokens = await app.services.auth.sessions.start(
    em,
    account.user,
    { ip: '127.0.0.1', userAgent: 'test', log: app.logger },
    null,
  );
  return tokens.accessToken;
}

const DOCUMENTATION_NETS = ['192.0.2', '198.51.100', '203.0.113'];
let nextAddress = 0;

/** A fresh client address from the documentation ranges (RFC 5737), unique within this test file. */
export function clientAddress(): string {
  const n = nextAddress++;
  return `${DOCUMENTATION_NETS[Math.floor(n / 254) % 3]}.${(n % 254) + 1}`;
}

/** A TCP port nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return typeof address === 'object' && address ? address.port : 1;
}

export const LOGIN_ONLY = `mutation Login($email: String!, $password: String!) { login(email: $email, password: $password) { accessToken } }`;
