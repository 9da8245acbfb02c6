import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { ConfigError, loadConfig } from '../../src/config/config';
import { GENERATED_SECRETS, isWeakSecret } from '../../src/config/secrets';
import { initCrypto } from '../../src/crypto';

// Pure tests: every environment is a literal object, never process.env.

const strongText = (): string => randomBytes(32).toString('base64url');
const key = (): string => randomBytes(32).toString('base64');
const encode = (bytes: Buffer): string => bytes.toString('base64');

let tempDirs: string[] = [];

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'hms-config-'));
  tempDirs.push(dir);
  return dir;
}

/** A complete, strong production environment; the data directory is a fresh temp dir. */
function productionEnv(overrides: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  return {
    NODE_ENV: 'production',
    HMS_DATA_DIR: join(tempDir(), 'data'),
    DATABASE_URL: 'postgresql://hms@db.hospital.test:5432/hms',
    DATABASE_PASSWORD: strongText(),
    TOKEN_SIGNING_SECRET: strongText(),
    MASTER_KEYS: `1:${key()}`,
    BLIND_INDEX_KEY: key(),
    AUDIT_HMAC_KEY: key(),
    PAYMENT_PROCESSOR: 'stripe',
    STRIPE_SECRET_KEY: `sk_live_${randomBytes(18).toString('hex')}`,
    ...overrides,
  };
}

function without(env: NodeJS.ProcessEnv, ...names: string[]): NodeJS.ProcessEnv {
  const copy = { ...env };
  for (const name of names) delete copy[name];
  return copy;
}

/** The ConfigError loadConfig throws for `env`; fails the test when it accepts it. */
function refusal(env: NodeJS.ProcessEnv): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('loadConfig accepted an environment it should refuse');
}

/** Asserts the refusal names `name` and that `secret` appears nowhere in what it says. */
function expectRefusedFor(error: ConfigError, name: string, secret?: string): void {
  expect(error.problems.some((problem) => problem.startsWith(`${name}:`))).toBe(true);
  expect(error.message).toContain(name);
  if (secret !== undefined) {
    expect(error.message).not.toContain(secret);
    expect(error.problems.join('\n')).not.toContain(secret);
    expect(String(error.stack)).not.toContain(secret);
  }
}

beforeAll(async () => {
  await initCrypto();
});

afterEach(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs = [];
});

describe('production', () => {
  it('accepts a complete environment of strong secrets', () => {
    const env = productionEnv({ DATABASE_LOG_SQL: 'true' });
    const config = loadConfig(env);

    expect(config.isProduction).toBe(true);
    expect(config.tokens.signingSecret).toBe(env.TOKEN_SIGNING_SECRET);
    expect(config.database.password).toBe(env.DATABASE_PASSWORD);
    expect(config.keys.blindIndexKey).toHaveLength(32);
    expect(config.http.graphiqlEnabled).toBe(false);
    expect(config.database.logSql).toBe(false);
    expect(config.generatedSecrets).toEqual([]);
  });

  it('never writes generated secrets to disk', () => {
    const env = productionEnv();
    loadConfig(env);
    expect(existsSync(join(env.HMS_DATA_DIR as string, 'secrets.json'))).toBe(false);

    refusal(without(productionEnv(), 'TOKEN_SIGNING_SECRET', 'MASTER_KEYS', 'BLIND_INDEX_KEY', 'AUDIT_HMAC_KEY'));
    expect(existsSync(join(env.HMS_DATA_DIR as string, 'secrets.json'))).toBe(false);
  });

  it('names every missing secret in one message', () => {
    const error = refusal({ NODE_ENV: 'production', HMS_DATA_DIR: tempDir() });
    for (const name of [
      'DATABASE_URL',
      'TOKEN_SIGNING_SECRET',
      'MASTER_KEYS',
      'BLIND_INDEX_KEY',
      'AUDIT_HMAC_KEY',
      'DATABASE_PASSWORD',
    ]) {
      expectRefusedFor(error, name);
    }
  });

  it.each(['TOKEN_SIGNING_SECRET', 'MASTER_KEYS', 'BLIND_INDEX_KEY', 'AUDIT_HMAC_KEY', 'DATABASE_PASSWORD'])(
    'refuses to start without %s',
    (name) => {
      expectRefusedFor(refusal(without(productionEnv(), name)), name);
    },
  );

  it('refuses in production a second-factor list that drops a role reading PHI or opening it (regression: "," turned MFA off)', () => {
    for (const value of [',', 'PHYSICIAN', 'ADMIN,PHYSICIAN,NURSE,RECEPTIONIST,BILLING,INTEGRATOR']) {
      expect(() => loadConfig(productionEnv({ MFA_REQUIRED_ROLES: value }))).toThrow(/MFA_REQUIRED_ROLES/);
    }
    const all = 'ADMIN,PHYSICIAN,NURSE,RECEPTIONIST,BILLING,INTEGRATOR,PRIVACY_OFFICER,AUDITOR,PATIENT';
    expect(loadConfig(productionEnv({ MFA_REQUIRED_ROLES: all })).auth.mfaRequiredRoles).toContain('PATIENT');
  });

  it('treats an empty MFA_REQUIRED_ROLES as unset, keeping the second factor for roles that read PHI', () => {
    const config = loadConfig(productionEnv({ MFA_REQUIRED_ROLES: '' }));
    expect(config.auth.mfaRequiredRoles).toEqual(expect.arrayContaining(['ADMIN', 'PHYSICIAN', 'NURSE']));
  });

  it('treats an empty secret as missing', () => {
    expectRefusedFor(refusal(productionEnv({ TOKEN_SIGNING_SECRET: '' })), 'TOKEN_SIGNING_SECRET');
  });

  it('refuses a Redis URL without a password', () => {
    const error = refusal(productionEnv({ REDIS_URL: 'redis://cache.hospital.test:6379' }));
    expectRefusedFor(error, 'REDIS_PASSWORD');
  });

  it('accepts a Redis password given beside the URL or inside it', () => {
    const password = strongText();
    expect(
      loadConfig(productionEnv({ REDIS_URL: 'redis://cache.hospital.test:6379', REDIS_PASSWORD: password })).redis
        .password,
    ).toBe(password);
    expect(() =>
      loadConfig(productionEnv({ REDIS_URL: `redis://:${password}@cache.hospital.test:6379` })),
    ).not.toThrow();
  });

  it('takes the database password from DATABASE_URL when DATABASE_PASSWORD is unset', () => {
    const password = strongText();
    const env = without(
      productionEnv({ DATABASE_URL: `postgresql://hms:${password}@db.hospital.test:5432/hms` }),
      'DATABASE_PASSWORD',
    );
    expect(() => loadConfig(env)).not.toThrow();
  });

  const shortValues: Array<[string, string]> = [
    ['TOKEN_SIGNING_SECRET', 'kP9#vL2q-Xw7zR4m'],
    ['MASTER_KEYS', `1:${encode(randomBytes(16))}`],
    ['BLIND_INDEX_KEY', encode(randomBytes(16))],
    ['AUDIT_HMAC_KEY', encode(randomBytes(31))],
    ['DATABASE_PASSWORD', 'Tq7-vN2xHs'],
    ['REDIS_PASSWORD', 'Rz4!mK8wPd'],
  ];
  it.each(shortValues)('refuses a short %s without echoing it', (name, value) => {
    const env = productionEnv({
      [name]: value,
      ...(name === 'REDIS_PASSWORD' ? { REDIS_URL: 'redis://cache.hospital.test:6379' } : {}),
    });
    expectRefusedFor(refusal(env), name, value);
  });

  const weakValues: Array<[string, string, string]> = [
    ['TOKEN_SIGNING_SECRET', 'one repeated character', 'a'.repeat(34)],
    ['TOKEN_SIGNING_SECRET', 'a repeated default', 'changemechangemechangemechangeme!1'],
    ['TOKEN_SIGNING_SECRET', 'a phrase around "password"', 'my-password-for-the-hospital-api-2024'],
    ['DATABASE_PASSWORD', '"password"', 'password'],
    ['DATABASE_PASSWORD', '"changeme"', 'changeme'],
    ['DATABASE_PASSWORD', 'one repeated character', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'],
    ['DATABASE_PASSWORD', '"postgres"', 'postgres'],
    ['REDIS_PASSWORD', '"changeme"', 'changeme'],
    ['REDIS_PASSWORD', 'one repeated character', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'],
    ['MASTER_KEYS', 'an all-zero key', `1:${encode(Buffer.alloc(32))}`],
    ['MASTER_KEYS', 'encoded text as a second version', `1:${key()},2:${encode(Buffer.from('a'.repeat(32)))}`],
    ['BLIND_INDEX_KEY', 'an all-zero key', encode(Buffer.alloc(32))],
    ['AUDIT_HMAC_KEY', 'encoded text', encode(Buffer.from('changemechangemechangemechangeme'))],
  ];
  it.each(weakValues)('refuses a weak %s (%s) without echoing it', (name, _label, value) => {
    const env = productionEnv({
      [name]: value,
      ...(name === 'REDIS_PASSWORD' ? { REDIS_URL: 'redis://cache.hospital.test:6379' } : {}),
    });
    expectRefusedFor(refusal(env), name, value);
  });

  it.each(['password', 'changeme', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'])(
    'refuses a weak database password (%s) inside DATABASE_URL without echoing it',
    (value) => {
      const env = without(
        productionEnv({ DATABASE_URL: `postgresql://hms:${value}@db.hospital.test:5432/hms` }),
        'DATABASE_PASSWORD',
      );
      expectRefusedFor(refusal(env), 'DATABASE_PASSWORD', value);
    },
  );

  it('refuses a weak Redis password inside REDIS_URL without echoing it', () => {
    const error = refusal(productionEnv({ REDIS_URL: 'redis://:changeme@cache.hospital.test:6379' }));
    expectRefusedFor(error, 'REDIS_PASSWORD', 'changeme');
  });

  it('names each of several bad secrets and echoes none of them', () => {
    const values = {
      TOKEN_SIGNING_SECRET: 'x'.repeat(40),
      DATABASE_PASSWORD: 'changeme',
      BLIND_INDEX_KEY: encode(Buffer.alloc(32)),
    };
    const error = refusal(productionEnv(values));
    for (const [name, value] of Object.entries(values)) expectRefusedFor(error, name, value);
  });
});

describe('secrets from files (NAME_FILE)', () => {
  it('reads every secret from the file its _FILE variable names, without the trailing newline', () => {
    const dir = tempDir();
    const values: Record<string, string> = {
      TOKEN_SIGNING_SECRET: strongText(),
      MASTER_KEYS: `1:${key()}`,
      BLIND_INDEX_KEY: key(),
      AUDIT_HMAC_KEY: key(),
      DATABASE_PASSWORD: strongText(),
      REDIS_PASSWORD: strongText(),
    };
    const env = without(productionEnv({ REDIS_URL: 'redis://cache.hospital.test:6379' }), ...Object.keys(values));
    for (const [name, value] of Object.entries(values)) {
      const file = join(dir, name.toLowerCase());
      writeFileSync(file, `${value}\n`, { mode: 0o600 });
      env[`${name}_FILE`] = file;
    }

    const config = loadConfig(env);

    expect(config.tokens.signingSecret).toBe(values.TOKEN_SIGNING_SECRET);
    expect(config.keys.masterKeys).toBe(values.MASTER_KEYS);
    expect(config.keys.blindIndexKey.equals(Buffer.from(values.BLIND_INDEX_KEY, 'base64'))).toBe(true);
    expect(config.keys.auditHmacKey.equals(Buffer.from(values.AUDIT_HMAC_KEY, 'base64'))).toBe(true);
    expect(config.database.password).toBe(values.DATABASE_PASSWORD);
    expect(config.redis.password).toBe(values.REDIS_PASSWORD);
  });

  it('refuses a variable set both directly and through _FILE', () => {
    const file = join(tempDir(), 'token');
    const fromFile = strongText();
    writeFileSync(file, fromFile);
    const direct = strongText();

    const error = refusal(productionEnv({ TOKEN_SIGNING_SECRET: direct, TOKEN_SIGNING_SECRET_FILE: file }));

    expectRefusedFor(error, 'TOKEN_SIGNING_SECRET', direct);
    expect(error.message).not.toContain(fromFile);
  });

  it('refuses a _FILE variable naming a file that cannot be read', () => {
    const env = without(productionEnv({ AUDIT_HMAC_KEY_FILE: join(tempDir(), 'missing') }), 'AUDIT_HMAC_KEY');
    expectRefusedFor(refusal(env), 'AUDIT_HMAC_KEY_FILE');
  });

  it('applies the strength checks to a secret read from a file', () => {
    const file = join(tempDir(), 'db-password');
    writeFileSync(file, 'changeme\n');
    const env = without(productionEnv({ DATABASE_PASSWORD_FILE: file }), 'DATABASE_PASSWORD');
    expectRefusedFor(refusal(env), 'DATABASE_PASSWORD', 'changeme');
  });
});

describe('outside production', () => {
  function devEnv(dataDir: string, overrides: Record<string, string> = {}): NodeJS.ProcessEnv {
    return { NODE_ENV: 'development', HMS_DATA_DIR: dataDir, ...overrides };
  }

  it('generates missing secrets once into <data dir>/secrets.json with mode 0600 and reuses them', () => {
    const dataDir = join(tempDir(), 'nested', 'data');

    const first = loadConfig(devEnv(dataDir));
    const file = join(dataDir, 'secrets.json');
    const stored = readFileSync(file, 'utf8');
    const second = loadConfig(devEnv(dataDir));

    expect([...first.generatedSecrets].sort()).toEqual([...GENERATED_SECRETS].sort());
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(second.generatedSecrets).toEqual([]);
    expect(readFileSync(file, 'utf8')).toBe(stored);
    expect(second.tokens.signingSecret).toBe(first.tokens.signingSecret);
    expect(second.keys.masterKeys).toBe(first.keys.masterKeys);
    expect(second.keys.blindIndexKey.equals(first.keys.blindIndexKey)).toBe(true);
    expect(second.keys.auditHmacKey.equals(first.keys.auditHmacKey)).toBe(true);
    expect(second.database.embeddedPassword).toBe(first.database.embeddedPassword);
  });

  it('generates secrets that would pass the production checks', () => {
    const dataDir = tempDir();
    const dev = loadConfig(devEnv(dataDir));
    const stored = JSON.parse(readFileSync(join(dataDir, 'secrets.json'), 'utf8')) as Record<string, string>;

    expect(() =>
      loadConfig(
        productionEnv({
          TOKEN_SIGNING_SECRET: dev.tokens.signingSecret,
          MASTER_KEYS: dev.keys.masterKeys,
          BLIND_INDEX_KEY: stored.BLIND_INDEX_KEY,
          AUDIT_HMAC_KEY: stored.AUDIT_HMAC_KEY,
          DATABASE_PASSWORD: stored.EMBEDDED_DB_PASSWORD,
        }),
      ),
    ).not.toThrow();
    expect(isWeakSecret(stored.EMBEDDED_DB_PASSWORD)).toBe(false);
  });

  it('generates different secrets for different data directories', () => {
    const a = loadConfig(devEnv(tempDir()));
    const b = loadConfig(devEnv(tempDir()));
    expect(a.tokens.signingSecret).not.toBe(b.tokens.signingSecret);
    expect(a.keys.masterKeys).not.toBe(b.keys.masterKeys);
  });

  it('prefers a secret from the environment over the stored one', () => {
    const dataDir = tempDir();
    loadConfig(devEnv(dataDir));
    const given = strongText();
    expect(loadConfig(devEnv(dataDir, { TOKEN_SIGNING_SECRET: given })).tokens.signingSecret).toBe(given);
  });

  it('tightens a secrets file that was left readable by others back to 0600', () => {
    const dataDir = tempDir();
    loadConfig(devEnv(dataDir));
    const file = join(dataDir, 'secrets.json');
    chmodSync(file, 0o644);

    loadConfig(devEnv(dataDir));

    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('writes nothing when the database and every secret are given', () => {
    const dataDir = join(tempDir(), 'untouched');
    const config = loadConfig({
      NODE_ENV: 'test',
      HMS_DATA_DIR: dataDir,
      DATABASE_URL: 'postgresql://postgres@127.0.0.1:5432/hms',
      TOKEN_SIGNING_SECRET: strongText(),
      MASTER_KEYS: `1:${key()}`,
      BLIND_INDEX_KEY: key(),
      AUDIT_HMAC_KEY: key(),
    });
    expect(config.generatedSecrets).toEqual([]);
    expect(existsSync(dataDir)).toBe(false);
  });

  it('treats an empty DATABASE_URL as unset (the embedded database) rather than as a bad URL', () => {
    const config = loadConfig(devEnv(tempDir(), { DATABASE_URL: '', GRAPHIQL_ENABLED: '' }));
    expect(config.database.url).toBeUndefined();
    expect(config.database.embeddedPassword).toBeDefined();
  });

  it('enables GraphiQL by default, and production does not', () => {
    expect(loadConfig(devEnv(tempDir())).http.graphiqlEnabled).toBe(true);
    expect(loadConfig(productionEnv()).http.graphiqlEnabled).toBe(false);
    expect(loadConfig(productionEnv({ GRAPHIQL_ENABLED: 'true' })).http.graphiqlEnabled).toBe(true);
  });
});

describe('master keys', () => {
  const testEnv = (overrides: Record<string, string>): NodeJS.ProcessEnv => ({
    NODE_ENV: 'test',
    HMS_DATA_DIR: tempDir(),
    DATABASE_URL: 'postgresql://postgres@127.0.0.1:5432/hms',
    TOKEN_SIGNING_SECRET: strongText(),
    BLIND_INDEX_KEY: key(),
    AUDIT_HMAC_KEY: key(),
    ...overrides,
  });

  const malformed: Array<[string, string]> = [
    ['without a version', key()],
    ['with a short key', `1:${encode(randomBytes(16))}`],
    ['with version 0', `0:${key()}`],
    ['with a word for a version', `one:${key()}`],
    ['with a duplicate version', `1:${key()},1:${key()}`],
    ['with a trailing comma', `1:${key()},`],
    ['as unpadded base64', `1:${key().replace(/=$/, '')}`],
  ];
  it.each(malformed)('refuses MASTER_KEYS %s without echoing it', (_case, value) => {
    expectRefusedFor(refusal(testEnv({ MASTER_KEYS: value })), 'MASTER_KEYS', value);
  });

  it('refuses MASTER_KEY_ACTIVE naming a version MASTER_KEYS does not contain', () => {
    const error = refusal(testEnv({ MASTER_KEYS: `1:${key()}`, MASTER_KEY_ACTIVE: '2' }));
    expectRefusedFor(error, 'MASTER_KEY_ACTIVE');
  });

  it('accepts MASTER_KEY_ACTIVE naming a version that exists', () => {
    const config = loadConfig(testEnv({ MASTER_KEYS: `1:${key()},2:${key()}`, MASTER_KEY_ACTIVE: '2' }));
    expect(config.keys.masterKeyActive).toBe(2);
  });
});

describe('plain variables', () => {
  it('refuses a DATABASE_URL of another scheme without echoing its password', () => {
    const password = `Hunter${randomBytes(8).toString('hex')}`;
    const error = refusal(productionEnv({ DATABASE_URL: `mysql://root:${password}@db.hospital.test/hms` }));
    expectRefusedFor(error, 'DATABASE_URL', password);
  });

  it('names a bad number and a bad enumeration', () => {
    const error = refusal(productionEnv({ PORT: 'eighty', LOG_LEVEL: 'loud' }));
    expectRefusedFor(error, 'PORT', 'eighty');
    expectRefusedFor(error, 'LOG_LEVEL', 'loud');
  });

  it('refuses a body limit outside its bounds', () => {
    expectRefusedFor(refusal(productionEnv({ BODY_LIMIT_BYTES: '10' })), 'BODY_LIMIT_BYTES');
  });
});

describe('one failed start lists every bad variable', () => {
  it('names a malformed plain variable and every missing production secret in the same error', () => {
    let caught: unknown;
    try {
      loadConfig({ NODE_ENV: 'production', PORT: 'not-a-port', LOG_LEVEL: 'loud' });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const message = (caught as ConfigError).message;
    for (const name of [
      'PORT',
      'LOG_LEVEL',
      'DATABASE_URL',
      'TOKEN_SIGNING_SECRET',
      'MASTER_KEYS',
      'BLIND_INDEX_KEY',
      'AUDIT_HMAC_KEY',
      'DATABASE_PASSWORD',
    ]) {
      expect(message).toContain(`${name}:`);
    }
    expect(message).not.toContain('not-a-port');
  });
});
