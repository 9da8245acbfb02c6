import { AuthService } from '../../src/auth/auth.service';
import { PASSWORD_POLICY_MESSAGES } from '../../src/auth/password-policy';
import { UserResolver } from '../../src/auth/user.resolver';
import type { User } from '../../src/auth/user.entity';
import { COMMANDS } from '../../src/cli/commands';
import { ROLES, type Role } from '../../src/config/roles';
import type { GraphQLContext } from '../../src/graphql/context';
import { Sex } from '../../src/patients/patient.entity';
import { startTestApp, type TestApp } from '../support/app';
import {
  LOGIN,
  ME,
  codeOf,
  createAccount,
  sessionIdOf,
  signIn,
  sql,
  testEmail,
  testPassword,
  userColumn,
} from '../support/accounts';

let app: TestApp;
let adminToken: string;
const ADMIN_EMAIL = testEmail('bootstrap-admin');
const ADMIN_PASSWORD = testPassword();
const secrets: string[] = [ADMIN_EMAIL, ADMIN_PASSWORD];

const CREATE_USER = `mutation Create($input: CreateUserInput!) {
  createUser(input: $input) { id email role displayName patientId }
}`;
const DISABLE = `mutation Disable($id: ID!) { disableUser(userId: $id) }`;
const ENABLE = `mutation Enable($id: ID!) { enableUser(userId: $id) }`;
const USER_SESSIONS = `query Sessions($id: ID!, $all: Boolean) {
  userSessions(userId: $id, includeEnded: $all) { id userId revokedAt revokedReason current }
}`;
const UNKNOWN_ID = '00000000-0000-4000-8000-000000000000';
const MY_SESSIONS = `{ mySessions { id current ip userAgent } }`;
const REVOKE = `mutation Revoke($id: ID!) { revokeSession(sessionId: $id) }`;

/** Calls createUser as the bootstrap admin. */
function createAsAdmin(input: Record<string, unknown>) {
  return app.gql(CREATE_USER, { input }, adminToken);
}

function newUserInput(role: Role, extra: Record<string, unknown> = {}) {
  const email = testEmail(role.toLowerCase());
  const input = { email, password: testPassword(), role, displayName: `New ${role}`, ...extra };
  secrets.push(input.email, input.password);
  return input;
}

async function createPatient(): Promise<string> {
  const em = app.services.orm.em.fork();
  const patient = await app.services.patients.create(em, {
    firstName: 'Testina',
    lastName: 'Fictional',
    dateOfBirth: '1970-01-01',
    sex: Sex.FEMALE,
  });
  return patient.id;
}

beforeAll(async () => {
  app = await startTestApp({ HMS_BOOTSTRAP_ADMIN_EMAIL: ADMIN_EMAIL, HMS_BOOTSTRAP_ADMIN_PASSWORD: ADMIN_PASSWORD });
  adminToken = (await signIn(app, { email: ADMIN_EMAIL, password: ADMIN_PASSWORD })).accessToken;
});

afterAll(async () => {
  await app?.close();
});

describe('bootstrap admin', () => {
  it('is created on first start and can sign in as ADMIN', async () => {
    const me = await app.gql(ME, {}, adminToken);

    expect(me.body.data?.me).toMatchObject({ email: ADMIN_EMAIL, role: 'ADMIN' });
    const line = app.logs.lines.find((l) => l.includes('bootstrap admin created'));
    expect(JSON.parse(line as string).userId).toBe(me.body.data?.me.id);
  });

  it('is not created again when an ADMIN exists', async () => {
    await app.services.bootstrap();

    const admins = await sql(app, `SELECT id FROM users WHERE role = 'ADMIN'`);
    expect(admins).toHaveLength(1);
  });

  it('with a password that breaks the policy stops the start instead of creating a weak admin', async () => {
    const fresh = await startTestApp();
    try {
      const bootstrapAdmin = { email: testEmail('weak-admin'), password: 'Password123456!' };
      const weak = new AuthService({
        config: { ...fresh.config, auth: { ...fresh.config.auth, bootstrapAdmin } },
        orm: fresh.services.orm,
        vault: fresh.services.vault,
        logger: fresh.logger,
      });

      const refused = /^Bootstrap admin not created \(password\): Password is too common/;
      await expect(weak.bootstrap()).rejects.toThrow(refused);
      expect(await sql(fresh, `SELECT id FROM users WHERE role = 'ADMIN'`)).toEqual([]);
      expect(fresh.logs.text()).not.toContain('Password123456!');
    } finally {
      await fresh.close();
    }
  });
});

describe('createUser', () => {
  it('lets an ADMIN create an account and shows the ADMIN its email', async () => {
    const input = newUserInput('NURSE');

    const res = await createAsAdmin(input);

    const created = res.body.data?.createUser;
    expect(created).toMatchObject({ email: input.email, role: 'NURSE', displayName: 'New NURSE', patientId: null });
    expect(await userColumn(app, created.id, 'email')).toMatch(/^phi1\./);
    await signIn(app, input);
  });

  it.each(ROLES.filter((role) => role !== 'ADMIN'))('refuses a %s caller with FORBIDDEN', async (role) => {
    const caller = await createAccount(app, role, role === 'PATIENT' ? { patientId: await createPatient() } : {});
    secrets.push(caller.email, caller.password);
    const { accessToken } = await signIn(app, caller);

    const res = await app.gql(CREATE_USER, { input: newUserInput('ADMIN') }, accessToken);

    expect(codeOf(res)).toBe('FORBIDDEN');
    expect(res.body.data?.createUser ?? null).toBeNull();
  });

  it('refuses an anonymous caller with UNAUTHENTICATED', async () => {
    const res = await app.gql(CREATE_USER, { input: newUserInput('ADMIN') });

    expect(codeOf(res)).toBe('UNAUTHENTICATED');
  });

  it.each([
    ['too short', 'Sh0rt-pass', PASSWORD_POLICY_MESSAGES.TOO_SHORT],
    ['common', 'password1234', PASSWORD_POLICY_MESSAGES.COMMON],
  ])('refuses a %s password with BAD_USER_INPUT on the password field', async (_label, password, message) => {
    const res = await app.gql(CREATE_USER, { input: { ...newUserInput('NURSE'), password } }, adminToken);

    expect(res.body.errors?.[0]).toMatchObject({ message, extensions: { code: 'BAD_USER_INPUT', field: 'password' } });
  });

  it('refuses a password that contains the email user name', async () => {
    const input = newUserInput('NURSE');
    const res = await createAsAdmin({ ...input, password: `${input.email.split('@')[0]}-Zebra-Harbour` });

    expect(res.body.errors?.[0]).toMatchObject({
      message: PASSWORD_POLICY_MESSAGES.CONTAINS_EMAIL,
      extensions: { code: 'BAD_USER_INPUT', field: 'password' },
    });
  });

  it('refuses an email that is already taken, whatever its case', async () => {
    const first = newUserInput('BILLING');
    await app.gql(CREATE_USER, { input: first }, adminToken);

    const res = await createAsAdmin({ ...newUserInput('BILLING'), email: ` ${first.email.toUpperCase()}` });

    expect(res.body.errors?.[0].extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'email' });
    expect(res.body.errors?.[0].message).not.toContain(first.email);
  });

  it('links a PATIENT account to an existing patient record, once', async () => {
    const patientId = await createPatient();

    const res = await app.gql(CREATE_USER, { input: newUserInput('PATIENT', { patientId }) }, adminToken);
    const again = await app.gql(CREATE_USER, { input: newUserInput('PATIENT', { patientId }) }, adminToken);

    expect(res.body.data?.createUser).toMatchObject({ role: 'PATIENT', patientId });
    expect(again.body.errors?.[0].extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'patientId' });
  });

  it('refuses a PATIENT account without a patient, or naming one that does not exist', async () => {
    const missing = await app.gql(CREATE_USER, { input: newUserInput('PATIENT') }, adminToken);
    const unknown = await app.gql(
      CREATE_USER,
      { input: newUserInput('PATIENT', { patientId: UNKNOWN_ID }) },
      adminToken,
    );

    expect(missing.body.errors?.[0].extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'patientId' });
    expect(unknown.body.errors?.[0].extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'patientId' });
  });

  it('refuses a patient link on any other role', async () => {
    const res = await createAsAdmin(newUserInput('NURSE', { patientId: await createPatient() }));

    expect(res.body.errors?.[0].extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'patientId' });
  });

  it('refuses an invalid email address', async () => {
    const res = await createAsAdmin({ ...newUserInput('NURSE'), email: 'not an address' });

    expect(res.body.errors?.[0].extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'email' });
  });
});

describe('User.email', () => {
  it('is null for a caller who is neither the user nor an ADMIN', async () => {
    const owner = await createAccount(app, 'NURSE');
    const other = await createAccount(app, 'PHYSICIAN');
    secrets.push(owner.email, owner.password, other.email, other.password);
    const ctxFor = (userId: string, role: Role) => {
      const actor = { userId, role, sessionId: owner.user.id };
      return { actor, em: app.services.orm.em.fork(), services: app.services } as unknown as GraphQLContext;
    };
    const resolver = new UserResolver();

    expect(await resolver.email(owner.user as User, ctxFor(other.user.id, 'PHYSICIAN'))).toBeNull();
    expect(await resolver.email(owner.user as User, ctxFor(owner.user.id, 'NURSE'))).toBe(owner.email);
    expect(await resolver.email(owner.user as User, ctxFor(other.user.id, 'ADMIN'))).toBe(owner.email);
  });
});

describe('disableUser', () => {
  it('revokes every session of the account at once and refuses its sign-in with the usual answer', async () => {
    const target = await createAccount(app, 'RECEPTIONIST');
    secrets.push(target.email, target.password);
    const one = await signIn(app, target);
    const two = await signIn(app, target);

    const res = await app.gql(DISABLE, { id: target.user.id }, adminToken);

    expect(res.body).toEqual({ data: { disableUser: true } });
    expect((await app.gql(ME, {}, one.accessToken)).status).toBe(401);
    expect((await app.gql(ME, {}, two.accessToken)).status).toBe(401);
    const sessions = await sql(app, 'SELECT revoked_reason FROM sessions WHERE user_id = $1', [target.user.id]);
    expect(sessions.map((s) => s.revoked_reason)).toEqual(['DISABLED', 'DISABLED']);
    const login = await app.gql(LOGIN, { email: target.email, password: target.password });
    expect(login.body.errors?.[0].message).toBe('Invalid email or password');
  });

  it('can be undone by enableUser', async () => {
    const target = await createAccount(app, 'BILLING');
    secrets.push(target.email, target.password);
    await app.gql(DISABLE, { id: target.user.id }, adminToken);

    const res = await app.gql(ENABLE, { id: target.user.id }, adminToken);

    expect(res.body).toEqual({ data: { enableUser: true } });
    await signIn(app, target);
  });

  it('is refused for non-ADMIN callers, for an unknown id, and for the caller themselves', async () => {
    const nurse = await createAccount(app, 'NURSE');
    secrets.push(nurse.email, nurse.password);
    const { accessToken } = await signIn(app, nurse);
    const me = (await app.gql(ME, {}, adminToken)).body.data?.me;

    expect(codeOf(await app.gql(DISABLE, { id: me.id }, accessToken))).toBe('FORBIDDEN');
    expect(codeOf(await app.gql(DISABLE, { id: UNKNOWN_ID }, adminToken))).toBe('NOT_FOUND');
    expect(codeOf(await app.gql(DISABLE, { id: 'nonsense' }, adminToken))).toBe('NOT_FOUND');
    const self = await app.gql(DISABLE, { id: me.id }, adminToken);
    expect(self.body.errors?.[0].extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'userId' });
  });
});

describe('session review', () => {
  it('lists an account’s sessions for an ADMIN and lets the ADMIN revoke one', async () => {
    const target = await createAccount(app, 'NURSE');
    secrets.push(target.email, target.password);
    const kept = await signIn(app, target);
    const ended = await signIn(app, target);
    const listed = (await app.gql(USER_SESSIONS, { id: target.user.id }, adminToken)).body.data?.userSessions;
    expect(listed).toHaveLength(2);
    const endedId = sessionIdOf(ended.accessToken);
    expect(listed.map((s: { id: string }) => s.id).sort()).toEqual([sessionIdOf(kept.accessToken), endedId].sort());

    const res = await app.gql(REVOKE, { id: endedId }, adminToken);

    expect(res.body).toEqual({ data: { revokeSession: true } });
    expect((await app.gql(ME, {}, ended.accessToken)).status).toBe(401);
    expect((await app.gql(ME, {}, kept.accessToken)).body.data?.me.id).toBe(target.user.id);
    expect((await app.gql(USER_SESSIONS, { id: target.user.id }, adminToken)).body.data?.userSessions).toHaveLength(1);
    const all = (await app.gql(USER_SESSIONS, { id: target.user.id, all: true }, adminToken)).body.data?.userSessions;
    expect(all.find((s: { id: string }) => s.id === endedId)).toMatchObject({ revokedReason: 'ADMIN' });
  });

  it('shows callers their own sessions, marking the current one', async () => {
    const account = await createAccount(app, 'AUDITOR');
    secrets.push(account.email, account.password);
    await signIn(app, account);
    const { accessToken } = await signIn(app, account);

    const mine = (await app.gql(MY_SESSIONS, {}, accessToken)).body.data?.mySessions;

    expect(mine).toHaveLength(2);
    expect(mine.filter((s: { current: boolean }) => s.current)).toHaveLength(1);
    expect(mine[0]).toMatchObject({ ip: expect.any(String) });
  });

  it('answers a non-ADMIN revoking someone else’s session exactly like a session that does not exist', async () => {
    const owner = await createAccount(app, 'NURSE');
    const other = await createAccount(app, 'NURSE');
    secrets.push(owner.email, owner.password, other.email, other.password);
    const ownerSession = await signIn(app, owner);
    const { accessToken } = await signIn(app, other);
    const sid = sessionIdOf(ownerSession.accessToken);

    const foreign = await app.gql(REVOKE, { id: sid }, accessToken);
    const missing = await app.gql(REVOKE, { id: UNKNOWN_ID }, accessToken);

    expect(foreign.body.errors?.[0]).toMatchObject({ message: 'Session not found', extensions: { code: 'NOT_FOUND' } });
    expect(missing.body.errors?.[0]).toMatchObject({ message: 'Session not found', extensions: { code: 'NOT_FOUND' } });
    expect((await app.gql(ME, {}, ownerSession.accessToken)).body.data?.me.id).toBe(owner.user.id);
  });

  it('refuses userSessions to non-ADMIN callers', async () => {
    const nurse = await createAccount(app, 'NURSE');
    secrets.push(nurse.email, nurse.password);
    const { accessToken } = await signIn(app, nurse);

    expect(codeOf(await app.gql(USER_SESSIONS, { id: nurse.user.id }, accessToken))).toBe('FORBIDDEN');
    expect(codeOf(await app.gql(USER_SESSIONS, { id: nurse.user.id }))).toBe('UNAUTHENTICATED');
  });
});

describe('user:create command', () => {
  const saved = { ...process.env };

  afterEach(() => {
    process.env = { ...saved };
  });

  function useAppEnvironment(): void {
    process.env.NODE_ENV = 'test';
    process.env.DATABASE_URL = app.db.url;
    process.env.TOKEN_SIGNING_SECRET = app.config.tokens.signingSecret;
    process.env.MASTER_KEYS = app.config.keys.masterKeys;
    process.env.BLIND_INDEX_KEY = app.config.keys.blindIndexKey.toString('base64');
    process.env.AUDIT_HMAC_KEY = app.config.keys.auditHmacKey.toString('base64');
    process.env.LOG_LEVEL = 'silent';
  }

  it('creates an account with the password from HMS_NEW_USER_PASSWORD, and it can sign in', async () => {
    useAppEnvironment();
    const email = testEmail('cli');
    const password = testPassword();
    secrets.push(email, password);
    process.env.HMS_NEW_USER_PASSWORD = password;
    const lines: string[] = [];

    const code = await COMMANDS['user:create'].run({
      args: ['--email', email, '--role', 'INTEGRATOR', '--display-name', 'Lab interface'],
      out: (line) => lines.push(line),
    });

    expect(code).toBe(0);
    expect(lines.join('\n')).toMatch(/^created user [0-9a-f-]{36} with role INTEGRATOR$/);
    expect(lines.join('\n')).not.toContain(email);
    await signIn(app, { email, password });
  });

  it('refuses a password given on the command line', async () => {
    const lines: string[] = [];

    const code = await COMMANDS['user:create'].run({
      args: ['--email', testEmail('cli'), '--role', 'NURSE', '--display-name', 'N', '--password', 'whatever'],
      out: (line) => lines.push(line),
    });

    expect(code).toBe(2);
    expect(lines.join('\n')).not.toContain('whatever');
  });
});

describe('logs', () => {
  it('never contain an email or a password used in this file', () => {
    const text = app.logs.text();

    expect(text).toContain('user created');
    for (const secret of secrets) expect(text).not.toContain(secret);
    expect(text).not.toContain('@example.test');
  });
});
