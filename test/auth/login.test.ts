import { performance } from 'node:perf_hooks';

import { AuthService } from '../../src/auth/auth.service';
import { PasswordHasher } from '../../src/auth/password-hasher';
import { startTestApp, type TestApp } from '../support/app';
import {
  LOGIN,
  ME,
  codeOf,
  createAccount,
  signIn,
  sql,
  testEmail,
  testPassword,
  userColumn,
  type TestAccount,
} from '../support/accounts';

let app: TestApp;
let nurse: TestAccount;
const secrets: string[] = [];

function remember(account: TestAccount): TestAccount {
  secrets.push(account.email, account.password);
  return account;
}

async function failedLoginCount(userId: string): Promise<number> {
  return userColumn<number>(app, userId, 'failed_login_count');
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

beforeAll(async () => {
  app = await startTestApp({ LOGIN_LOCKOUT_THRESHOLD: '3', LOGIN_LOCKOUT_SECONDS: '30' });
  nurse = remember(await createAccount(app, 'NURSE'));
});

afterAll(async () => {
  await app?.close();
});

describe('sign-in', () => {
  it('returns an access token, a refresh token, the expiry and the user with their own email', async () => {
    const res = await app.gql(LOGIN, { email: nurse.email, password: nurse.password });

    const payload = res.body.data?.login;
    expect(res.body.errors).toBeUndefined();
    expect(payload.accessToken).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(payload.refreshToken).toMatch(/^[\w-]{43}$/);
    expect(payload.mfaRequired).toBe(false);
    expect(payload.mfaChallengeToken).toBeNull();
    expect(new Date(payload.expiresAt).getTime() - Date.now()).toBeGreaterThan(14 * 60_000);
    expect(payload.user).toEqual({ id: nurse.user.id, email: nurse.email, role: 'NURSE' });
  });

  it('finds the account whatever the case and surrounding spaces of the email', async () => {
    const res = await app.gql(LOGIN, { email: `  ${nurse.email.toUpperCase()} `, password: nurse.password });

    expect(res.body.data?.login.user.id).toBe(nurse.user.id);
  });

  it('answers an unknown email and a wrong password with the same message and code', async () => {
    const unknown = await app.gql(LOGIN, { email: testEmail('nobody'), password: nurse.password });
    const wrong = await app.gql(LOGIN, { email: nurse.email, password: testPassword() });

    expect(unknown.body.errors?.[0].message).toBe('Invalid email or password');
    expect(wrong.body.errors?.[0].message).toBe('Invalid email or password');
    expect(codeOf(unknown)).toBe('UNAUTHENTICATED');
    expect(codeOf(wrong)).toBe('UNAUTHENTICATED');
    expect(unknown.body.data?.login ?? null).toBeNull();
    await sql(app, 'UPDATE users SET failed_login_count = 0 WHERE id = $1', [nurse.user.id]);
  });

  it('takes about as long for an unknown email as for a wrong password', async () => {
    const account = remember(await createAccount(app, 'BILLING'));
    await app.gql(LOGIN, { email: testEmail('warm-up'), password: 'warm-up-password' });
    const unknown: number[] = [];
    const wrong: number[] = [];
    for (let i = 0; i < 5; i++) {
      let started = performance.now();
      await app.gql(LOGIN, { email: testEmail('nobody'), password: account.password });
      unknown.push(performance.now() - started);
      started = performance.now();
      await app.gql(LOGIN, { email: account.email, password: testPassword() });
      wrong.push(performance.now() - started);
      await sql(app, 'UPDATE users SET failed_login_count = 0 WHERE id = $1', [account.user.id]);
    }

    // Both paths run one argon2id verify; without the dummy verify the unknown path would be ~10x faster.
    const [a, b] = [median(unknown), median(wrong)];
    expect(Math.min(a, b) / Math.max(a, b)).toBeGreaterThan(0.5);
  });

  it('answers a disabled account like a wrong password, even with the right password', async () => {
    const account = remember(await createAccount(app, 'RECEPTIONIST'));
    await sql(app, 'UPDATE users SET disabled_at = now() WHERE id = $1', [account.user.id]);

    const res = await app.gql(LOGIN, { email: account.email, password: account.password });

    expect(res.body.errors?.[0].message).toBe('Invalid email or password');
    expect(codeOf(res)).toBe('UNAUTHENTICATED');
  });

  it('refuses a password over the length limit with the same answer', async () => {
    const res = await app.gql(LOGIN, { email: nurse.email, password: 'x'.repeat(300) });

    expect(res.body.errors?.[0].message).toBe('Invalid email or password');
    await sql(app, 'UPDATE users SET failed_login_count = 0 WHERE id = $1', [nurse.user.id]);
  });
});

describe('lockout', () => {
  it('locks the account after the threshold of consecutive failures, refusing even the right password', async () => {
    const account = remember(await createAccount(app, 'AUDITOR'));
    for (let i = 0; i < 3; i++) await app.gql(LOGIN, { email: account.email, password: testPassword() });

    const res = await app.gql(LOGIN, { email: account.email, password: account.password });

    expect(res.body.errors?.[0].message).toBe('Invalid email or password');
    const lockedUntil = await userColumn<Date>(app, account.user.id, 'locked_until');
    expect(lockedUntil.getTime()).toBeGreaterThan(Date.now() + 20_000);
  });

  it('ends the lock by time: once lockedUntil has passed the right password signs in', async () => {
    const account = remember(await createAccount(app, 'PRIVACY_OFFICER'));
    for (let i = 0; i < 3; i++) await app.gql(LOGIN, { email: account.email, password: testPassword() });
    await sql(app, `UPDATE users SET locked_until = now() - interval '1 second' WHERE id = $1`, [account.user.id]);

    const res = await app.gql(LOGIN, { email: account.email, password: account.password });

    expect(res.body.data?.login.accessToken).toEqual(expect.any(String));
  });

  it('resets the failure count on a successful sign-in, so failures must be consecutive to lock', async () => {
    const account = remember(await createAccount(app, 'INTEGRATOR'));
    await app.gql(LOGIN, { email: account.email, password: testPassword() });
    await app.gql(LOGIN, { email: account.email, password: testPassword() });
    expect(await failedLoginCount(account.user.id)).toBe(2);

    await signIn(app, account);
    await app.gql(LOGIN, { email: account.email, password: testPassword() });
    await app.gql(LOGIN, { email: account.email, password: testPassword() });

    expect(await failedLoginCount(account.user.id)).toBe(2);
    await signIn(app, account);
  });

  it('counts concurrent wrong guesses without losing any', async () => {
    const account = remember(await createAccount(app, 'BILLING'));
    await Promise.all([1, 2].map(() => app.gql(LOGIN, { email: account.email, password: testPassword() })));

    expect(await failedLoginCount(account.user.id)).toBe(2);
  });
});

describe('me', () => {
  it('is null for an anonymous caller', async () => {
    const res = await app.gql(ME);

    expect(res.status).toBe(200);
    expect(res.body).toEqual({ data: { me: null } });
  });

  it('gives the signed-in user their id, email and role', async () => {
    const { accessToken } = await signIn(app, nurse);

    const res = await app.gql(ME, {}, accessToken);

    expect(res.body).toEqual({ data: { me: { id: nurse.user.id, email: nurse.email, role: 'NURSE' } } });
  });
});

describe('password hashes', () => {
  it('are upgraded on the next successful sign-in when the configured argon2 cost has grown', async () => {
    const account = remember(await createAccount(app, 'PHYSICIAN'));
    const before = await userColumn<string>(app, account.user.id, 'password_hash');
    expect(before).toMatch(/^\$argon2id\$v=19\$m=19456,p=1,t=2\$/);
    const stronger = new AuthService({
      config: app.config,
      orm: app.services.orm,
      vault: app.services.vault,
      logger: app.logger,
      hasher: new PasswordHasher({ memoryKiB: 19456, timeCost: 3, parallelism: 1 }),
    });

    const result = await stronger.login(app.services.orm.em.fork(), account.email, account.password, {
      ip: '127.0.0.1',
      userAgent: 'jest',
      log: app.logger,
    });

    expect(result.kind).toBe('session');
    const after = await userColumn<string>(app, account.user.id, 'password_hash');
    expect(after).toMatch(/^\$argon2id\$v=19\$m=19456,p=1,t=3\$/);
    await signIn(app, account);
  });

  it('are stored as argon2id and the email only sealed, never in plaintext', async () => {
    const [row] = await sql<{ email: string; email_bidx: string; password_hash: string }>(
      app,
      'SELECT email, email_bidx, password_hash FROM users WHERE id = $1',
      [nurse.user.id],
    );

    expect(row.email).toMatch(/^phi1\./);
    expect(JSON.stringify(row)).not.toContain(nurse.email);
    expect(row.password_hash).not.toContain(nurse.password);
  });
});

describe('logs', () => {
  it('never contain an email or a password used in this file', async () => {
    await app.gql(LOGIN, { email: nurse.email, password: testPassword() });
    const text = app.logs.text();

    expect(text).toContain('sign-in failed');
    for (const secret of secrets) expect(text).not.toContain(secret);
    expect(text.toLowerCase()).not.toContain('@example.test');
  });
});
