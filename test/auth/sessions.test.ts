import { createHash, randomUUID } from 'node:crypto';

import { jose } from '../../src/auth/jose-loader';
import { startTestApp, type TestApp } from '../support/app';
import { ME, REFRESH, codeOf, createAccount, sessionIdOf, signIn, sql, type TestAccount } from '../support/accounts';

let app: TestApp;
let account: TestAccount;
const LOGOUT = 'mutation { logout }';

interface SessionRow extends Record<string, unknown> {
  id: string;
  revoked_at: Date | null;
  revoked_reason: string | null;
  last_seen_at: Date;
}

async function sessionOf(accessToken: string): Promise<SessionRow> {
  const columns = 'id, revoked_at, revoked_reason, last_seen_at';
  const [row] = await sql<SessionRow>(app, `SELECT ${columns} FROM sessions WHERE id = $1`, [sessionIdOf(accessToken)]);
  return row;
}

function expectRefused(res: Awaited<ReturnType<TestApp['gql']>>): void {
  expect(res.status).toBe(401);
  expect(codeOf(res)).toBe('UNAUTHENTICATED');
  expect(res.body.data ?? null).toBeNull();
}

beforeAll(async () => {
  app = await startTestApp({ ACCESS_TOKEN_TTL_SECONDS: '60', SESSION_IDLE_SECONDS: '600' });
  account = await createAccount(app, 'NURSE');
});

afterAll(async () => {
  await app?.close();
});

describe('access tokens', () => {
  it('carry sub, role, sid, iss, aud, jti and a lifetime of ACCESS_TOKEN_TTL_SECONDS', async () => {
    const { accessToken } = await signIn(app, account);

    const claims = jose().decodeJwt(accessToken);
    const header = jose().decodeProtectedHeader(accessToken);

    expect(header.alg).toBe('HS256');
    expect(claims).toMatchObject({ sub: account.user.id, role: 'NURSE', iss: 'hms-api', aud: 'hms-api/access' });
    expect(claims.sid).toEqual(expect.any(String));
    expect(claims.jti).toEqual(expect.any(String));
    expect((claims.exp as number) - (claims.iat as number)).toBe(60);
    expect(claims.mfa_at).toBeUndefined();
  });

  it('without an Authorization header the caller is anonymous', async () => {
    const res = await app.gql(ME);

    expect(res.body).toEqual({ data: { me: null } });
  });

  it('refuses a malformed token, or another scheme, with UNAUTHENTICATED and HTTP 401', async () => {
    expectRefused(await app.gql(ME, {}, 'not-a-jwt'));
    expectRefused(await app.gql(ME, {}, undefined, { authorization: 'Basic dXNlcjpwYXNz' }));
  });

  it('keeps the HTTP status hint out of the error the client sees', async () => {
    const res = await app.gql(ME, {}, 'not-a-jwt');

    expect(res.status).toBe(401);
    expect(res.body.errors?.[0].extensions).toEqual({ code: 'UNAUTHENTICATED' });
  });

  it('refuses a token whose lifetime has ended', async () => {
    const { accessToken } = await signIn(app, account);
    const claims = jose().decodeJwt(accessToken);
    const expired = await app.services.auth.tokens.signAccess(
      { userId: account.user.id, role: 'NURSE', sessionId: claims.sid as string },
      new Date(Date.now() - 2 * 60_000),
    );

    const res = await app.gql(ME, {}, expired.token);

    expectRefused(res);
    expect(res.body.errors?.[0].message).toBe('Session is not valid; sign in again');
  });

  it('refuses a token signed with the raw configured secret instead of the derived key', async () => {
    const { accessToken } = await signIn(app, account);
    const claims = jose().decodeJwt(accessToken);
    const raw = new TextEncoder().encode(app.config.tokens.signingSecret);
    const forged = await new (jose().SignJWT)({ role: 'ADMIN', sid: claims.sid })
      .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt' })
      .setSubject(account.user.id)
      .setIssuer('hms-api')
      .setAudience('hms-api/access')
      .setIssuedAt()
      .setExpirationTime('5m')
      .setJti(randomUUID())
      .sign(raw);

    expectRefused(await app.gql(ME, {}, forged));
  });

  it('refuses a token whose role no longer matches the account', async () => {
    const { accessToken } = await signIn(app, account);
    const claims = jose().decodeJwt(accessToken);
    const promoted = await app.services.auth.tokens.signAccess({
      userId: account.user.id,
      role: 'ADMIN',
      sessionId: claims.sid as string,
    });

    expectRefused(await app.gql(ME, {}, promoted.token));
  });

  it('refuses an MFA challenge token presented as an access token', async () => {
    const { tokens } = app.services.auth;
    const challenge = await tokens.signChallenge({ userId: account.user.id, purpose: 'verify', lastLoginMs: 0 });

    expectRefused(await app.gql(ME, {}, challenge.token));
  });
});

describe('logout', () => {
  it('revokes the session at once: the same access token is refused on the next request', async () => {
    const { accessToken, refreshToken } = await signIn(app, account);
    expect((await app.gql(ME, {}, accessToken)).body.data?.me.id).toBe(account.user.id);

    const res = await app.gql(LOGOUT, {}, accessToken);

    expect(res.body).toEqual({ data: { logout: true } });
    expectRefused(await app.gql(ME, {}, accessToken));
    expect(codeOf(await app.gql(REFRESH, { token: refreshToken }))).toBe('UNAUTHENTICATED');
    expect((await sessionOf(accessToken)).revoked_reason).toBe('LOGOUT');
  });

  it('needs a signed-in caller', async () => {
    expect(codeOf(await app.gql(LOGOUT))).toBe('UNAUTHENTICATED');
  });
});

describe('refresh tokens', () => {
  it('are rotated on every use: a new pair comes back and the session stays the same', async () => {
    const first = await signIn(app, account);

    const res = await app.gql(REFRESH, { token: first.refreshToken });

    const next = res.body.data?.refreshSession;
    expect(next.refreshToken).not.toBe(first.refreshToken);
    expect(next.user).toEqual({ id: account.user.id, role: 'NURSE' });
    expect(jose().decodeJwt(next.accessToken).sid).toBe(jose().decodeJwt(first.accessToken).sid);
    expect((await app.gql(ME, {}, next.accessToken)).body.data?.me.id).toBe(account.user.id);
    const plain = [first.refreshToken, next.refreshToken];
    const stored = await sql(app, 'SELECT token_hash FROM refresh_tokens WHERE token_hash IN ($1, $2)', plain);
    expect(stored).toEqual([]);
    const sha256 = (token: string) => createHash('sha256').update(token).digest('hex');
    const hashed = await sql<{ used: boolean }>(
      app,
      'SELECT used_at IS NOT NULL AS used FROM refresh_tokens WHERE token_hash IN ($1, $2) ORDER BY generation',
      [sha256(first.refreshToken), sha256(next.refreshToken)],
    );
    expect(hashed).toEqual([{ used: true }, { used: false }]);
  });

  it('presented a second time revoke the whole session (REFRESH_REUSE), so its access tokens are refused', async () => {
    const first = await signIn(app, account);
    const rotated = (await app.gql(REFRESH, { token: first.refreshToken })).body.data?.refreshSession;

    const reuse = await app.gql(REFRESH, { token: first.refreshToken });

    expect(codeOf(reuse)).toBe('UNAUTHENTICATED');
    expect((await sessionOf(first.accessToken)).revoked_reason).toBe('REFRESH_REUSE');
    expectRefused(await app.gql(ME, {}, rotated.accessToken));
    expect(codeOf(await app.gql(REFRESH, { token: rotated.refreshToken }))).toBe('UNAUTHENTICATED');
    expect(app.logs.text()).toContain('refresh token reused; session revoked');
  });

  it('used twice at the same moment let exactly one request win', async () => {
    const { refreshToken, accessToken } = await signIn(app, account);

    const results = await Promise.all([1, 2].map(() => app.gql(REFRESH, { token: refreshToken })));

    expect(results.filter((r) => r.body.data?.refreshSession?.accessToken)).toHaveLength(1);
    expect((await sessionOf(accessToken)).revoked_reason).toBe('REFRESH_REUSE');
  });

  it('that are unknown or malformed are refused', async () => {
    expect(codeOf(await app.gql(REFRESH, { token: 'A'.repeat(43) }))).toBe('UNAUTHENTICATED');
    expect(codeOf(await app.gql(REFRESH, { token: 'short' }))).toBe('UNAUTHENTICATED');
  });

  it('are refused once the session has passed its absolute end', async () => {
    const { refreshToken, accessToken } = await signIn(app, account);
    const { id } = await sessionOf(accessToken);
    await sql(app, `UPDATE sessions SET expires_at = now() - interval '1 second' WHERE id = $1`, [id]);

    expect(codeOf(await app.gql(REFRESH, { token: refreshToken }))).toBe('UNAUTHENTICATED');
    expectRefused(await app.gql(ME, {}, accessToken));
  });

  it('are refused once they are older than REFRESH_TOKEN_TTL_SECONDS', async () => {
    const { refreshToken, accessToken } = await signIn(app, account);
    const { id } = await sessionOf(accessToken);
    await sql(app, `UPDATE refresh_tokens SET created_at = now() - interval '13 hours' WHERE session_id = $1`, [id]);

    expect(codeOf(await app.gql(REFRESH, { token: refreshToken }))).toBe('UNAUTHENTICATED');
  });
});

describe('idle sessions', () => {
  it('are refused after SESSION_IDLE_SECONDS without a request, for access and refresh', async () => {
    const { accessToken, refreshToken } = await signIn(app, account);
    const { id } = await sessionOf(accessToken);
    await sql(app, `UPDATE sessions SET last_seen_at = now() - interval '601 seconds' WHERE id = $1`, [id]);

    expectRefused(await app.gql(ME, {}, accessToken));
    expect(codeOf(await app.gql(REFRESH, { token: refreshToken }))).toBe('UNAUTHENTICATED');
  });

  it('record activity at most once a minute, not on every request', async () => {
    const { accessToken } = await signIn(app, account);
    const before = await sessionOf(accessToken);
    await app.gql(ME, {}, accessToken);
    expect((await sessionOf(accessToken)).last_seen_at).toEqual(before.last_seen_at);

    await sql(app, `UPDATE sessions SET last_seen_at = now() - interval '5 minutes' WHERE id = $1`, [before.id]);
    await app.gql(ME, {}, accessToken);

    const after = await sessionOf(accessToken);
    expect(Date.now() - after.last_seen_at.getTime()).toBeLessThan(10_000);
  });
});

describe('disabled accounts', () => {
  it('lose every session at once, without waiting for tokens to expire', async () => {
    const target = await createAccount(app, 'RECEPTIONIST');
    const one = await signIn(app, target);
    const two = await signIn(app, target);
    await sql(app, 'UPDATE users SET disabled_at = now() WHERE id = $1', [target.user.id]);

    expectRefused(await app.gql(ME, {}, one.accessToken));
    expectRefused(await app.gql(ME, {}, two.accessToken));
    expect(codeOf(await app.gql(REFRESH, { token: two.refreshToken }))).toBe('UNAUTHENTICATED');
  });
});

describe('logs', () => {
  it('never contain tokens, emails or passwords', async () => {
    const { accessToken, refreshToken } = await signIn(app, account);
    await app.gql(ME, {}, accessToken);
    await app.gql(REFRESH, { token: refreshToken });
    const text = app.logs.text();

    for (const secret of [accessToken, refreshToken, account.email, account.password]) {
      expect(text).not.toContain(secret);
    }
    expect(text).not.toContain('@example.test');
  });
});
