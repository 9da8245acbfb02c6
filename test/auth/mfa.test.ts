import { jose } from '../../src/auth/jose-loader';
import { startTestApp, type TestApp } from '../support/app';
import { LOGIN, ME, codeAt, codeOf, createAccount, signIn, sql, type TestAccount } from '../support/accounts';

let app: TestApp;
const secrets: string[] = [];

const ENROLL = `mutation Enroll($challenge: String) { enrollTotp(challengeToken: $challenge) { secret otpauthUri } }`;
const CONFIRM = `mutation Confirm($code: String!, $challenge: String) {
  confirmTotp(code: $code, challengeToken: $challenge) {
    recoveryCodes
    auth { accessToken refreshToken user { id role } }
  }
}`;
const VERIFY = `mutation Verify($challenge: String!, $code: String, $recoveryCode: String) {
  verifyMfa(challengeToken: $challenge, code: $code, recoveryCode: $recoveryCode) {
    accessToken refreshToken user { id email role }
  }
}`;
const STEP_UP = `mutation StepUp($code: String) { stepUpMfa(code: $code) { accessToken refreshToken } }`;
const DISABLE = `mutation Disable($code: String!) { disableTotp(code: $code) }`;

interface Enrolled extends TestAccount {
  secret: string;
  recoveryCodes: string[];
}

/** Signs in, enrols TOTP with a code of the current step, and returns the secret and recovery codes. */
async function enrolledAccount(role: 'NURSE' | 'BILLING' | 'RECEPTIONIST' = 'NURSE'): Promise<Enrolled> {
  const account = await createAccount(app, role);
  const { accessToken } = await signIn(app, account);
  const enrolment = (await app.gql(ENROLL, {}, accessToken)).body.data?.enrollTotp;
  const confirmed = (await app.gql(CONFIRM, { code: codeAt(enrolment.secret) }, accessToken)).body.data?.confirmTotp;
  secrets.push(account.email, account.password, enrolment.secret, ...confirmed.recoveryCodes);
  return { ...account, secret: enrolment.secret, recoveryCodes: confirmed.recoveryCodes };
}

async function challengeFor(account: TestAccount): Promise<string> {
  const payload = (await app.gql(LOGIN, { email: account.email, password: account.password })).body.data?.login;
  expect(payload.mfaRequired).toBe(true);
  return payload.mfaChallengeToken;
}

async function signInWithRecoveryCode(account: Enrolled): Promise<{ accessToken: string }> {
  const res = await app.gql(VERIFY, { challenge: await challengeFor(account), recoveryCode: account.recoveryCodes[0] });
  return res.body.data?.verifyMfa;
}

async function userRow(userId: string) {
  const [row] = await sql(
    app,
    'SELECT totp_secret, totp_pending_secret, recovery_code_hashes, failed_mfa_count FROM users WHERE id = $1',
    [userId],
  );
  return row as {
    totp_secret: string | null;
    totp_pending_secret: string | null;
    recovery_code_hashes: string[];
    failed_mfa_count: number;
  };
}

beforeAll(async () => {
  app = await startTestApp({ MFA_REQUIRED_ROLES: 'PHYSICIAN', LOGIN_LOCKOUT_THRESHOLD: '3', MFA_ISSUER: 'HMS Test' });
});

afterAll(async () => {
  await app?.close();
});

describe('TOTP enrolment', () => {
  it('gives a secret and an otpauth URI, then confirms with a code and returns ten recovery codes once', async () => {
    const account = await createAccount(app, 'NURSE');
    const { accessToken } = await signIn(app, account);

    const enrolment = (await app.gql(ENROLL, {}, accessToken)).body.data?.enrollTotp;
    const confirmed = await app.gql(CONFIRM, { code: codeAt(enrolment.secret) }, accessToken);

    secrets.push(account.email, account.password, enrolment.secret);
    expect(enrolment.secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(enrolment.otpauthUri).toMatch(/^otpauth:\/\/totp\/HMS%20Test:/);
    expect(enrolment.otpauthUri).toContain(`secret=${enrolment.secret}`);
    const { recoveryCodes, auth } = confirmed.body.data!.confirmTotp;
    secrets.push(...recoveryCodes);
    expect(recoveryCodes).toHaveLength(10);
    expect(new Set(recoveryCodes).size).toBe(10);
    expect(jose().decodeJwt(auth.accessToken).mfa_at).toEqual(expect.any(Number));
    const row = await userRow(account.user.id);
    expect(row.totp_secret).toMatch(/^phi1\./);
    expect(row.totp_pending_secret).toBeNull();
    expect(row.recovery_code_hashes).toHaveLength(10);
    expect(JSON.stringify(row)).not.toContain(recoveryCodes[0]);
  });

  it('refuses a wrong confirmation code and leaves TOTP off', async () => {
    const account = await createAccount(app, 'NURSE');
    const { accessToken } = await signIn(app, account);
    const enrolment = (await app.gql(ENROLL, {}, accessToken)).body.data?.enrollTotp;
    const wrong = codeAt(enrolment.secret) === '000000' ? '111111' : '000000';

    const res = await app.gql(CONFIRM, { code: wrong }, accessToken);

    expect(codeOf(res)).toBe('UNAUTHENTICATED');
    expect((await userRow(account.user.id)).totp_secret).toBeNull();
  });

  it('needs a recent second-factor check to replace an enrolled authenticator', async () => {
    const account = await enrolledAccount();
    const challenge = await challengeFor(account);
    const session = (await app.gql(VERIFY, { challenge, code: codeAt(account.secret, 1) })).body.data?.verifyMfa;
    await sql(app, `UPDATE sessions SET mfa_at = now() - interval '1 hour' WHERE user_id = $1`, [account.user.id]);

    const res = await app.gql(ENROLL, {}, session.accessToken);

    expect(codeOf(res)).toBe('FORBIDDEN');
  });
});

describe('sign-in with TOTP enrolled', () => {
  it('answers the password with a challenge and no tokens, then the code with tokens', async () => {
    const account = await enrolledAccount();

    const login = (await app.gql(LOGIN, { email: account.email, password: account.password })).body.data?.login;
    const verified = await app.gql(VERIFY, { challenge: login.mfaChallengeToken, code: codeAt(account.secret, 1) });

    expect(login).toMatchObject({ mfaRequired: true, mfaEnrollmentRequired: false, accessToken: null, user: null });
    expect(login.refreshToken).toBeNull();
    const payload = verified.body.data?.verifyMfa;
    expect(payload.user).toEqual({ id: account.user.id, email: account.email, role: 'NURSE' });
    expect(jose().decodeJwt(payload.accessToken).mfa_at).toEqual(expect.any(Number));
    expect((await app.gql(ME, {}, payload.accessToken)).body.data?.me.id).toBe(account.user.id);
  });

  it('clears the password failure count once the password is right, before the second factor', async () => {
    const account = await enrolledAccount();
    const failures = async () =>
      (await sql(app, 'SELECT failed_login_count FROM users WHERE id = $1', [account.user.id]))[0].failed_login_count;
    for (const attempt of ['wrong-password-one', 'wrong-password-two'])
      expect(codeOf(await app.gql(LOGIN, { email: account.email, password: attempt }))).toBe('UNAUTHENTICATED');
    expect(await failures()).toBe(2);

    await challengeFor(account);

    expect(await failures()).toBe(0);
  });

  it('refuses a wrong code', async () => {
    const account = await enrolledAccount();
    const challenge = await challengeFor(account);
    const wrong = [-1, 0, 1].map((step) => codeAt(account.secret, step)).includes('123456') ? '654321' : '123456';

    const res = await app.gql(VERIFY, { challenge, code: wrong });

    expect(res.body.errors?.[0].message).toBe('Invalid authentication code');
    expect(codeOf(res)).toBe('UNAUTHENTICATED');
  });

  it('refuses a code that was already accepted (replay)', async () => {
    const account = await enrolledAccount();
    const code = codeAt(account.secret, 1);
    await app.gql(VERIFY, { challenge: await challengeFor(account), code });

    const replay = await app.gql(VERIFY, { challenge: await challengeFor(account), code });

    expect(codeOf(replay)).toBe('UNAUTHENTICATED');
  });

  it('accepts the same code only once when it is sent twice at the same moment', async () => {
    const account = await enrolledAccount();
    const [one, two] = [await challengeFor(account), await challengeFor(account)];
    const code = codeAt(account.secret, 1);

    const results = await Promise.all([one, two].map((challenge) => app.gql(VERIFY, { challenge, code })));

    expect(results.filter((r) => r.body.data?.verifyMfa?.accessToken)).toHaveLength(1);
  });

  it('accepts a recovery code once, and removes it', async () => {
    const account = await enrolledAccount();
    const [recoveryCode] = account.recoveryCodes;

    const first = await app.gql(VERIFY, {
      challenge: await challengeFor(account),
      recoveryCode: recoveryCode.toUpperCase(),
    });
    const second = await app.gql(VERIFY, { challenge: await challengeFor(account), recoveryCode });

    expect(first.body.data?.verifyMfa.accessToken).toEqual(expect.any(String));
    expect(codeOf(second)).toBe('UNAUTHENTICATED');
    expect((await userRow(account.user.id)).recovery_code_hashes).toHaveLength(9);
  });

  it('voids the challenge once the sign-in it belongs to has completed', async () => {
    const account = await enrolledAccount();
    const challenge = await challengeFor(account);
    await app.gql(VERIFY, { challenge, recoveryCode: account.recoveryCodes[1] });

    const again = await app.gql(VERIFY, { challenge, recoveryCode: account.recoveryCodes[2] });

    expect(again.body.errors?.[0].message).toBe('Sign-in challenge is not valid; sign in again');
  });

  it('refuses an access token presented as a challenge', async () => {
    const account = await createAccount(app, 'BILLING');
    const { accessToken } = await signIn(app, account);

    const res = await app.gql(VERIFY, { challenge: accessToken, code: '123456' });

    expect(codeOf(res)).toBe('UNAUTHENTICATED');
  });

  it('locks the second factor after the threshold of failures, until mfaLockedUntil has passed', async () => {
    const account = await enrolledAccount();
    const challenge = await challengeFor(account);
    const valid = new Set([-1, 0, 1, 2].map((step) => codeAt(account.secret, step)));
    const wrong = ['111111', '222222', '333333', '444444', '555555'].filter((c) => !valid.has(c)).slice(0, 3);
    for (const code of wrong) await app.gql(VERIFY, { challenge, code });

    const whileLocked = await app.gql(VERIFY, { challenge, code: codeAt(account.secret, 1) });
    await sql(app, `UPDATE users SET mfa_locked_until = now() - interval '1 second' WHERE id = $1`, [account.user.id]);
    const afterLock = await app.gql(VERIFY, { challenge, code: codeAt(account.secret, 1) });

    expect(codeOf(whileLocked)).toBe('UNAUTHENTICATED');
    expect(afterLock.body.data?.verifyMfa.accessToken).toEqual(expect.any(String));
    expect((await userRow(account.user.id)).failed_mfa_count).toBe(0);
  });
});

describe('roles that require MFA', () => {
  it('get an enrolment challenge instead of tokens, and a session only after confirming an authenticator', async () => {
    const account = await createAccount(app, 'PHYSICIAN');
    secrets.push(account.email, account.password);

    const login = (await app.gql(LOGIN, { email: account.email, password: account.password })).body.data?.login;
    expect(login).toMatchObject({ mfaRequired: true, mfaEnrollmentRequired: true, accessToken: null });
    const enrolment = (await app.gql(ENROLL, { challenge: login.mfaChallengeToken })).body.data?.enrollTotp;
    const confirmed = await app.gql(CONFIRM, { code: codeAt(enrolment.secret), challenge: login.mfaChallengeToken });

    secrets.push(enrolment.secret);
    const { auth, recoveryCodes } = confirmed.body.data!.confirmTotp;
    expect(recoveryCodes).toHaveLength(10);
    expect(auth.user).toEqual({ id: account.user.id, role: 'PHYSICIAN' });
    expect((await app.gql(ME, {}, auth.accessToken)).body.data?.me.role).toBe('PHYSICIAN');
    const next = (await app.gql(LOGIN, { email: account.email, password: account.password })).body.data?.login;
    expect(next).toMatchObject({ mfaRequired: true, mfaEnrollmentRequired: false });
  });

  it('cannot use a session without a second-factor check', async () => {
    const account = await createAccount(app, 'PHYSICIAN');
    const em = app.services.orm.em.fork();
    const client = { ip: '', userAgent: '', log: app.logger };
    const tokens = await app.services.auth.sessions.start(em, account.user, client, null);

    const res = await app.gql(ME, {}, tokens.accessToken);

    expect(res.status).toBe(401);
    expect(codeOf(res)).toBe('UNAUTHENTICATED');
  });

  it('cannot remove their second factor', async () => {
    const account = await createAccount(app, 'PHYSICIAN');
    const login = (await app.gql(LOGIN, { email: account.email, password: account.password })).body.data?.login;
    const enrolment = (await app.gql(ENROLL, { challenge: login.mfaChallengeToken })).body.data?.enrollTotp;
    const confirmed = await app.gql(CONFIRM, { code: codeAt(enrolment.secret), challenge: login.mfaChallengeToken });
    secrets.push(account.email, account.password, enrolment.secret);

    const { accessToken } = confirmed.body.data!.confirmTotp.auth;
    const res = await app.gql(DISABLE, { code: codeAt(enrolment.secret, 1) }, accessToken);

    expect(codeOf(res)).toBe('FORBIDDEN');
  });
});

describe('step-up and removal', () => {
  it('stepUpMfa returns an access token with a newer mfa_at for the same session', async () => {
    const account = await enrolledAccount();
    const session = await signInWithRecoveryCode(account);
    await sql(app, `UPDATE sessions SET mfa_at = now() - interval '1 hour' WHERE user_id = $1`, [account.user.id]);

    const res = await app.gql(STEP_UP, { code: codeAt(account.secret, 1) }, session.accessToken);

    const stepped = res.body.data?.stepUpMfa;
    expect(stepped.refreshToken).toBeNull();
    const before = jose().decodeJwt(session.accessToken);
    const after = jose().decodeJwt(stepped.accessToken);
    expect(after.sid).toBe(before.sid);
    expect(Math.abs((after.mfa_at as number) - Date.now() / 1000)).toBeLessThan(10);
  });

  it('disableTotp with a valid code turns TOTP off, and sign-in answers with tokens again', async () => {
    const account = await enrolledAccount('RECEPTIONIST');
    const session = await signInWithRecoveryCode(account);

    const res = await app.gql(DISABLE, { code: codeAt(account.secret, 1) }, session.accessToken);

    expect(res.body).toEqual({ data: { disableTotp: true } });
    expect((await userRow(account.user.id)).totp_secret).toBeNull();
    await signIn(app, account);
  });

  it('needs a signed-in caller or an enrolment challenge', async () => {
    expect(codeOf(await app.gql(ENROLL, {}))).toBe('UNAUTHENTICATED');
    expect(codeOf(await app.gql(STEP_UP, { code: '123456' }))).toBe('UNAUTHENTICATED');
  });
});

describe('logs', () => {
  it('never contain secrets, recovery codes, emails or passwords', async () => {
    const text = app.logs.text();

    expect(text).toContain('second factor failed');
    for (const secret of secrets) expect(text).not.toContain(secret);
    expect(text).not.toContain('@example.test');
  });
});
