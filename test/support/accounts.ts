import { randomBytes } from 'node:crypto';

import type { Role } from '../../src/config/roles';
import type { User } from '../../src/auth/user.entity';
import { totpCode } from '../../src/auth/totp';
import { rawQuery } from './database';
import type { GqlResponse, TestApp } from './app';

/** An obviously fictional, unique address for this run. */
export function testEmail(tag: string): string {
  return `${tag}.${randomBytes(4).toString('hex')}@example.test`;
}

/** A password that passes the policy and is unique per call, so a log scan can look for it. */
export function testPassword(): string {
  return `Quartz-Meadow-${randomBytes(6).toString('hex')}-Lantern`;
}

export interface TestAccount {
  user: User;
  email: string;
  password: string;
}

/** Creates an account through the service, as the CLI does. */
export async function createAccount(
  app: TestApp,
  role: Role,
  options: { patientId?: string; email?: string; password?: string } = {},
): Promise<TestAccount> {
  const email = options.email ?? testEmail(role.toLowerCase());
  const password = options.password ?? testPassword();
  const em = app.services.orm.em.fork();
  const user = await app.services.auth.users.create(
    em,
    { email, password, role, displayName: `Test ${role}`, patientId: options.patientId ?? null },
    app.logger,
    null,
  );
  return { user, email, password };
}

export const LOGIN = `mutation Login($email: String!, $password: String!) {
  login(email: $email, password: $password) {
    accessToken refreshToken expiresAt mfaRequired mfaEnrollmentRequired mfaChallengeToken
    user { id email role }
  }
}`;

export const REFRESH = `mutation Refresh($token: String!) {
  refreshSession(refreshToken: $token) { accessToken refreshToken expiresAt user { id role } }
}`;

export const ME = `{ me { id email role } }`;

/** Signs in and returns the tokens; fails the test when the sign-in does not produce a session. */
export async function signIn(
  app: TestApp,
  account: { email: string; password: string },
): Promise<{ accessToken: string; refreshToken: string }> {
  const res = await app.gql(LOGIN, { email: account.email, password: account.password });
  const payload = res.body.data?.login;
  if (!payload?.accessToken) throw new Error(`sign-in failed: ${JSON.stringify(res.body.errors ?? payload)}`);
  return { accessToken: payload.accessToken, refreshToken: payload.refreshToken };
}

/** The error code of the first error of a response. */
export function codeOf(res: GqlResponse): string | undefined {
  return res.body.errors?.[0]?.extensions?.code;
}

/** Runs SQL against the app's database (to move time-stamps into the past, inspect rows). */
export function sql<T extends Record<string, unknown> = Record<string, unknown>>(
  app: TestApp,
  text: string,
  params: unknown[] = [],
): Promise<T[]> {
  return rawQuery<T>(app.db.url, text, params);
}

/** One column of one account row. */
export async function userColumn<T>(app: TestApp, userId: string, column: string): Promise<T> {
  const [row] = await sql(app, `SELECT ${column} AS value FROM users WHERE id = $1`, [userId]);
  return row.value as T;
}

/** The session id an access token names. */
export function sessionIdOf(accessToken: string): string {
  return JSON.parse(Buffer.from(accessToken.split('.')[1], 'base64url').toString()).sid;
}

/** A TOTP code for `secret` at `offsetSteps` 30-second steps from now. */
export function codeAt(secret: string, offsetSteps = 0): string {
  return totpCode(secret, Date.now() + offsetSteps * 30_000);
}
