import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { ConfigError, loadConfig, loadConfigAsync, type Config } from '../../src/config/config';
import {
  applySecretRotation,
  CachedSecrets,
  PROVIDED_SECRET_NAMES,
  VaultSecretsProvider,
} from '../../src/config/secret-providers';
import { initCrypto, MasterKeyRing, parseMasterKeys } from '../../src/crypto';
import { createLogger } from '../../src/logging/logger';

// Each provider runs against a server on loopback that answers in that API's wire format: AWS JSON 1.1 for
// Secrets Manager (what the official v3 client sends and parses), Vault's KV v2 HTTP API.

const strongText = (): string => randomBytes(32).toString('base64url');
const key = (): string => randomBytes(32).toString('base64');

/** The secrets a production start needs, as a provider would hold them. */
function productionSecrets(): Record<string, string> {
  return {
    TOKEN_SIGNING_SECRET: strongText(),
    MASTER_KEYS: `1:${key()}`,
    BLIND_INDEX_KEY: key(),
    AUDIT_HMAC_KEY: key(),
    DATABASE_PASSWORD: strongText(),
    // Production refuses the sandbox payment processor: a live Stripe key is one more provided secret.
    STRIPE_SECRET_KEY: `sk_live_${randomBytes(18).toString('hex')}`,
  };
}

let tempDirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'hms-secrets-'));
  tempDirs.push(dir);
  return dir;
}

/** The ConfigError `load` rejects with; fails the test when it resolves. */
async function refusal(load: Promise<Config>): Promise<ConfigError> {
  try {
    await load;
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('the configuration was accepted but should have been refused');
}

/** Asserts no value of `secrets` (nor `extra`) appears in what the error says. */
function expectNoValues(error: Error, secrets: Record<string, string>, ...extra: string[]): void {
  const said = `${error.message}\n${String(error.stack)}`;
  for (const value of [...Object.values(secrets), ...extra]) expect(said).not.toContain(value);
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function body(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** AWS Secrets Manager's GetSecretValue over the AWS JSON 1.1 protocol, with SigV4-shaped authorization. */
class FakeSecretsManager {
  readonly secrets = new Map<string, { value: string; versionId: string }>();
  readonly targets: string[] = [];
  readonly server = createServer((req, res) => void this.#handle(req, res));
  url = '';

  constructor(
    readonly accessKeyId: string,
    readonly region: string,
  ) {}

  put(secretId: string, value: string): void {
    this.secrets.set(secretId, { value, versionId: randomBytes(16).toString('hex') });
  }

  async start(): Promise<void> {
    this.url = await listen(this.server);
  }

  async #handle(req: IncomingMessage, res: import('node:http').ServerResponse): Promise<void> {
    const text = await body(req);
    const target = String(req.headers['x-amz-target']);
    this.targets.push(target);
    const fail = (status: number, type: string, message: string) => {
      res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-errortype': type });
      res.end(JSON.stringify({ __type: type, message }));
    };
    const scope = `Credential=${this.accessKeyId}/\\d{8}/${this.region}/secretsmanager/aws4_request`;
    const authorization = String(req.headers.authorization);
    if (req.method !== 'POST' || target !== 'secretsmanager.GetSecretValue') {
      return fail(400, 'InvalidAction', 'unsupported action');
    }
    if (!String(req.headers['content-type']).startsWith('application/x-amz-json-1.1')) {
      return fail(400, 'SerializationException', 'expected application/x-amz-json-1.1');
    }
    if (
      !new RegExp(`^AWS4-HMAC-SHA256 ${scope}, SignedHeaders=[a-z0-9;-]+, Signature=[0-9a-f]{64}$`).test(authorization)
    ) {
      return fail(400, 'UnrecognizedClientException', 'The security token included in the request is invalid.');
    }
    const { SecretId } = JSON.parse(text) as { SecretId: string };
    const secret = this.secrets.get(SecretId);
    if (!secret) return fail(400, 'ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
    res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
    res.end(
      JSON.stringify({
        ARN: `arn:aws:secretsmanager:${this.region}:123456789012:secret:${SecretId}-AbCdEf`,
        Name: SecretId,
        SecretString: secret.value,
        VersionId: secret.versionId,
        VersionStages: ['AWSCURRENT'],
        CreatedDate: Math.floor(Date.now() / 1000),
      }),
    );
  }
}

/** Vault KV v2: GET /v1/<mount>/data/<path> with X-Vault-Token (and X-Vault-Namespace when expected). */
class FakeVault {
  readonly kv = new Map<string, { data: Record<string, string>; version: number }>();
  readonly namespaces: (string | undefined)[] = [];
  readonly server = createServer((req, res) => this.#handle(req, res));
  url = '';

  constructor(public token: string) {}

  write(mountAndPath: string, data: Record<string, string>): void {
    const version = (this.kv.get(mountAndPath)?.version ?? 0) + 1;
    this.kv.set(mountAndPath, { data, version });
  }

  async start(): Promise<void> {
    this.url = await listen(this.server);
  }

  #handle(req: IncomingMessage, res: import('node:http').ServerResponse): void {
    this.namespaces.push(req.headers['x-vault-namespace'] as string | undefined);
    const answer = (status: number, json: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(json));
    };
    if (req.headers['x-vault-token'] !== this.token) return answer(403, { errors: ['permission denied'] });
    const match = /^\/v1\/([^/]+)\/data\/(.+)$/.exec(req.url ?? '');
    const entry = match && req.method === 'GET' ? this.kv.get(`${match[1]}/${match[2]}`) : undefined;
    if (!entry) return answer(404, { errors: [] });
    answer(200, {
      request_id: randomBytes(8).toString('hex'),
      lease_id: '',
      renewable: false,
      lease_duration: 0,
      data: {
        data: entry.data,
        metadata: {
          created_time: new Date().toISOString(),
          deletion_time: '',
          destroyed: false,
          version: entry.version,
        },
      },
      wrap_info: null,
      warnings: null,
      auth: null,
    });
  }
}

const AKID = 'AKIAHMSTEST000000001';
const aws = new FakeSecretsManager(AKID, 'eu-central-1');
const vaultToken = `hvs.${randomBytes(18).toString('base64url')}`;
const vault = new FakeVault(vaultToken);

beforeAll(async () => {
  await initCrypto();
  await aws.start();
  await vault.start();
});

afterAll(async () => {
  await new Promise((resolve) => aws.server.close(resolve));
  await new Promise((resolve) => vault.server.close(resolve));
});

afterEach(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs = [];
});

/** A production environment whose secrets come from the fake Secrets Manager under `prefix`. */
function awsEnv(prefix: string, overrides: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    NODE_ENV: 'production',
    HMS_DATA_DIR: join(tempDir(), 'data'),
    DATABASE_URL: 'postgresql://hms@db.hospital.test:5432/hms',
    PAYMENT_PROCESSOR: 'stripe',
    SECRETS_PROVIDER: 'aws',
    SECRETS_AWS_REGION: 'eu-central-1',
    SECRETS_AWS_PREFIX: prefix,
    SECRETS_AWS_ENDPOINT: aws.url,
    SECRETS_REFRESH_SECONDS: '0',
    AWS_ACCESS_KEY_ID: AKID,
    AWS_SECRET_ACCESS_KEY: strongText(),
    ...overrides,
  };
}

function putAll(prefix: string, secrets: Record<string, string>): void {
  for (const [name, value] of Object.entries(secrets)) aws.put(`${prefix}${name}`, value);
}

describe('AWS Secrets Manager', () => {
  it('fills every secret from GetSecretValue and validates them like the environment', async () => {
    const prefix = `hms/${randomBytes(4).toString('hex')}/`;
    const secrets = productionSecrets();
    putAll(prefix, secrets);
    aws.targets.length = 0;

    const config = await loadConfigAsync(awsEnv(prefix));

    expect(config.isProduction).toBe(true);
    expect(config.tokens.signingSecret).toBe(secrets.TOKEN_SIGNING_SECRET);
    expect(config.keys.masterKeys).toBe(secrets.MASTER_KEYS);
    expect(config.keys.blindIndexKey.toString('base64')).toBe(secrets.BLIND_INDEX_KEY);
    expect(config.keys.auditHmacKey.toString('base64')).toBe(secrets.AUDIT_HMAC_KEY);
    expect(config.database.password).toBe(secrets.DATABASE_PASSWORD);
    expect(config.secrets?.kind).toBe('aws');
    expect(aws.targets.length).toBeGreaterThanOrEqual(5);
    expect(new Set(aws.targets)).toEqual(new Set(['secretsmanager.GetSecretValue']));
    config.secrets?.stop();
  });

  it('picks up a rotated database password and a new master key version on refresh', async () => {
    const prefix = `hms/${randomBytes(4).toString('hex')}/`;
    const secrets = productionSecrets();
    putAll(prefix, secrets);
    const config = await loadConfigAsync(awsEnv(prefix));
    const live = config.secrets as NonNullable<Config['secrets']>;
    const seen: string[][] = [];
    live.onChange((changed) => void seen.push(changed));

    expect(await live.refresh()).toEqual([]);
    const rotatedPassword = strongText();
    const masterKeys = `${secrets.MASTER_KEYS},2:${key()}`;
    aws.put(`${prefix}DATABASE_PASSWORD`, rotatedPassword);
    aws.put(`${prefix}MASTER_KEYS`, masterKeys);
    const changed = await live.refresh();

    expect(changed.sort()).toEqual(['DATABASE_PASSWORD', 'MASTER_KEYS']);
    expect(seen).toHaveLength(1);
    expect(live.get('DATABASE_PASSWORD')).toBe(rotatedPassword);
    expect(live.get('MASTER_KEYS')).toBe(masterKeys);
    live.stop();
  });

  it('names a missing secret and its secret id, and prints no value', async () => {
    const prefix = `hms/${randomBytes(4).toString('hex')}/`;
    const secrets = productionSecrets();
    putAll(prefix, { ...secrets, MASTER_KEYS: '' });
    aws.secrets.delete(`${prefix}MASTER_KEYS`);

    const error = await refusal(loadConfigAsync(awsEnv(prefix)));

    expect(error.problems).toEqual([`MASTER_KEYS: not found in AWS Secrets Manager (secret id ${prefix}MASTER_KEYS)`]);
    expectNoValues(error, secrets);
  });

  it('reports refused credentials per secret as a configuration error, without the key or any value', async () => {
    const prefix = `hms/${randomBytes(4).toString('hex')}/`;
    const secrets = productionSecrets();
    putAll(prefix, secrets);
    const env = awsEnv(prefix, { AWS_ACCESS_KEY_ID: 'AKIAHMSWRONGKEY00000' });

    const error = await refusal(loadConfigAsync(env));

    expect(error.problems).toContain(
      `TOKEN_SIGNING_SECRET: AWS Secrets Manager refused to read ${prefix}TOKEN_SIGNING_SECRET (UnrecognizedClientException): check the credentials and the IAM policy`,
    );
    expectNoValues(error, secrets, env.AWS_SECRET_ACCESS_KEY as string);
  });

  it('refuses in production plain http to a remote endpoint, and a missing prefix or region', async () => {
    const env = awsEnv('hms/', { SECRETS_AWS_ENDPOINT: 'http://secretsmanager.hospital.test' });
    delete env.SECRETS_AWS_REGION;
    delete env.SECRETS_AWS_PREFIX;

    const error = await refusal(loadConfigAsync(env));

    expect(error.problems.sort()).toEqual([
      'SECRETS_AWS_ENDPOINT: must use https in production (plain http only to an agent on loopback)',
      'SECRETS_AWS_PREFIX: required with SECRETS_PROVIDER=aws',
      'SECRETS_AWS_REGION: required with SECRETS_PROVIDER=aws (or AWS_REGION)',
    ]);
  });

  it('refuses a secret given both by the provider and by the environment', async () => {
    const prefix = `hms/${randomBytes(4).toString('hex')}/`;
    const secrets = productionSecrets();
    putAll(prefix, secrets);
    const other = strongText();

    const error = await refusal(loadConfigAsync(awsEnv(prefix, { TOKEN_SIGNING_SECRET: other })));

    expect(error.problems).toEqual([
      'TOKEN_SIGNING_SECRET: given by both SECRETS_PROVIDER=aws and the environment; remove one',
    ]);
    expectNoValues(error, secrets, other);
  });
});

/** A production environment reading Vault secret `secret/<path>` with a token file. */
function vaultEnv(path: string, overrides: Record<string, string> = {}): NodeJS.ProcessEnv {
  const tokenFile = join(tempDir(), 'vault-token');
  writeFileSync(tokenFile, `${vault.token}\n`, { mode: 0o600 });
  return {
    NODE_ENV: 'production',
    HMS_DATA_DIR: join(tempDir(), 'data'),
    DATABASE_URL: 'postgresql://hms@db.hospital.test:5432/hms',
    PAYMENT_PROCESSOR: 'stripe',
    SECRETS_PROVIDER: 'vault',
    SECRETS_REFRESH_SECONDS: '0',
    VAULT_ADDR: vault.url,
    VAULT_SECRET_PATH: path,
    VAULT_TOKEN_FILE: tokenFile,
    ...overrides,
  };
}

describe('HashiCorp Vault KV v2', () => {
  it('reads every secret from one KV v2 secret with the token file and the namespace header', async () => {
    const path = `hms/${randomBytes(4).toString('hex')}`;
    const secrets = productionSecrets();
    vault.write(`secret/${path}`, secrets);
    vault.namespaces.length = 0;

    const config = await loadConfigAsync(vaultEnv(path, { VAULT_NAMESPACE: 'hospital/prod' }));

    expect(config.tokens.signingSecret).toBe(secrets.TOKEN_SIGNING_SECRET);
    expect(config.keys.masterKeys).toBe(secrets.MASTER_KEYS);
    expect(config.database.password).toBe(secrets.DATABASE_PASSWORD);
    expect(config.secrets?.kind).toBe('vault');
    expect(vault.namespaces).toEqual(['hospital/prod']);
    config.secrets?.stop();
  });

  it('reads another mount given by VAULT_KV_MOUNT', async () => {
    const path = `hms/${randomBytes(4).toString('hex')}`;
    const secrets = productionSecrets();
    vault.write(`kv-hms/${path}`, secrets);

    const config = await loadConfigAsync(vaultEnv(path, { VAULT_KV_MOUNT: 'kv-hms' }));

    expect(config.keys.auditHmacKey.toString('base64')).toBe(secrets.AUDIT_HMAC_KEY);
    config.secrets?.stop();
  });

  it('adds a new master key version to the live ring on refresh, keeping the active version', async () => {
    const path = `hms/${randomBytes(4).toString('hex')}`;
    const secrets = productionSecrets();
    vault.write(`secret/${path}`, secrets);
    const config = await loadConfigAsync(vaultEnv(path));
    const live = config.secrets as NonNullable<Config['secrets']>;
    const ring = new MasterKeyRing({ versions: parseMasterKeys(config.keys.masterKeys), active: 1 });
    const stop = applySecretRotation(live, ring, createLogger({ level: 'silent' }));

    // Another replica already wraps data keys under version 2.
    const masterKeys = `${secrets.MASTER_KEYS},2:${key()}`;
    const replica = new MasterKeyRing({ versions: parseMasterKeys(masterKeys), active: 2 });
    const dataKey = new Uint8Array(randomBytes(32));
    const ctx = { subjectId: 'patient-1', dataKeyId: '0f9c2b1e-6a4d-4c59-9d3e-2b7a1c8e5f40' };
    const wrapped = replica.wrapDataKey(dataKey, ctx);
    expect(() => ring.unwrapDataKey(wrapped.wrapped, 2, ctx)).toThrow(/version 2 is not in the key ring/);

    vault.write(`secret/${path}`, { ...secrets, MASTER_KEYS: masterKeys });
    expect(await live.refresh()).toEqual(['MASTER_KEYS']);

    expect(ring.versions()).toEqual([1, 2]);
    expect(ring.activeVersion).toBe(1);
    expect(Buffer.from(ring.unwrapDataKey(wrapped.wrapped, 2, ctx))).toEqual(Buffer.from(dataKey));
    stop();
    ring.destroy();
    replica.destroy();
  });

  it('refreshes on its interval and tells listeners which secrets changed', async () => {
    const path = `hms/${randomBytes(4).toString('hex')}`;
    const secrets = productionSecrets();
    vault.write(`secret/${path}`, secrets);
    const config = await loadConfigAsync(vaultEnv(path, { SECRETS_REFRESH_SECONDS: '1' }));
    const live = config.secrets as NonNullable<Config['secrets']>;
    const changes: string[][] = [];
    live.onChange((changed) => void changes.push(changed));
    live.start(() => undefined);

    const rotated = strongText();
    vault.write(`secret/${path}`, { ...secrets, DATABASE_PASSWORD: rotated });
    const deadline = Date.now() + 5_000;
    while (changes.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    live.stop();

    expect(changes).toEqual([['DATABASE_PASSWORD']]);
    expect(live.get('DATABASE_PASSWORD')).toBe(rotated);
  });

  it('keeps the last good values when a refresh fails, and reports it without the token', async () => {
    const path = `hms/${randomBytes(4).toString('hex')}`;
    const secrets = productionSecrets();
    vault.write(`secret/${path}`, secrets);
    const env = vaultEnv(path);
    const config = await loadConfigAsync(env);
    const live = config.secrets as NonNullable<Config['secrets']>;

    // The token in the file is revoked (written over with one Vault does not know).
    const revoked = `hvs.${randomBytes(18).toString('base64url')}`;
    writeFileSync(env.VAULT_TOKEN_FILE as string, revoked);
    const failure = await live.refresh().then(
      () => undefined,
      (error: Error) => error,
    );

    expect(failure?.message).toContain(`VAULT_TOKEN: Vault refused to read secret/${path} (HTTP 403)`);
    expectNoValues(failure as Error, secrets, revoked, vault.token);
    expect(live.get('TOKEN_SIGNING_SECRET')).toBe(secrets.TOKEN_SIGNING_SECRET);

    // A renewed token written to the file is used on the next refresh, without a restart.
    writeFileSync(env.VAULT_TOKEN_FILE as string, vault.token);
    vault.write(`secret/${path}`, { ...secrets, TOKEN_SIGNING_SECRET: strongText() });
    expect(await live.refresh()).toEqual(['TOKEN_SIGNING_SECRET']);
    live.stop();
  });

  it('reports a secret deleted in the provider and keeps using its last value', async () => {
    const path = `hms/${randomBytes(4).toString('hex')}`;
    const secrets = productionSecrets();
    vault.write(`secret/${path}`, secrets);
    const live = new CachedSecrets(
      new VaultSecretsProvider({ address: vault.url, mount: 'secret', path, token: vault.token }),
      Object.keys(secrets),
      0,
    );
    await live.load();
    const reported: string[][] = [];
    live.start((problems) => reported.push(problems));

    const { DATABASE_PASSWORD: _removed, ...rest } = secrets;
    vault.write(`secret/${path}`, rest);

    expect(await live.refresh()).toEqual([]);
    expect(live.get('DATABASE_PASSWORD')).toBe(secrets.DATABASE_PASSWORD);
    expect(reported).toEqual([['DATABASE_PASSWORD: no longer found in vault; the value loaded earlier stays in use']]);
    live.stop();
  });

  it('refuses a bad token at start as a configuration error naming VAULT_TOKEN, without the token', async () => {
    const path = `hms/${randomBytes(4).toString('hex')}`;
    const secrets = productionSecrets();
    vault.write(`secret/${path}`, secrets);
    const wrong = `hvs.${randomBytes(18).toString('base64url')}`;
    const env = vaultEnv(path, { VAULT_TOKEN: wrong });
    delete env.VAULT_TOKEN_FILE;

    const error = await refusal(loadConfigAsync(env));

    expect(error.problems).toEqual([
      `VAULT_TOKEN: Vault refused to read secret/${path} (HTTP 403): the token is invalid, expired or lacks the policy`,
    ]);
    expectNoValues(error, secrets, wrong, vault.token);
  });

  it('names a missing path, and a missing key of the secret', async () => {
    const missingPath = await refusal(loadConfigAsync(vaultEnv('hms/nowhere')));
    expect(missingPath.problems).toEqual(['VAULT_SECRET_PATH: Vault has no secret at secret/hms/nowhere']);

    const path = `hms/${randomBytes(4).toString('hex')}`;
    const { BLIND_INDEX_KEY: _missing, ...secrets } = productionSecrets();
    vault.write(`secret/${path}`, secrets);
    const missingKey = await refusal(loadConfigAsync(vaultEnv(path)));
    expect(missingKey.problems).toEqual([
      `BLIND_INDEX_KEY: not found in Vault secret secret/${path} (key BLIND_INDEX_KEY)`,
    ]);
    expectNoValues(missingKey, secrets);
  });

  it('still validates what Vault delivers: a weak secret is refused by name, never echoed', async () => {
    const path = `hms/${randomBytes(4).toString('hex')}`;
    const secrets = { ...productionSecrets(), DATABASE_PASSWORD: 'changeme' };
    vault.write(`secret/${path}`, secrets);

    const error = await refusal(loadConfigAsync(vaultEnv(path)));

    expect(error.problems).toEqual(['DATABASE_PASSWORD: must be at least 16 characters']);
    expectNoValues(error, secrets);
  });

  it('refuses in production a remote http address, a missing token, and a token given twice', async () => {
    const remote = vaultEnv('hms/x', { VAULT_ADDR: 'http://vault.hospital.test:8200' });
    expect((await refusal(loadConfigAsync(remote))).problems).toEqual([
      'VAULT_ADDR: must use https in production (plain http only to an agent on loopback)',
    ]);

    const noToken = vaultEnv('hms/x');
    delete noToken.VAULT_TOKEN_FILE;
    expect((await refusal(loadConfigAsync(noToken))).problems).toEqual([
      'VAULT_TOKEN: required with SECRETS_PROVIDER=vault (or VAULT_TOKEN_FILE)',
    ]);

    const both = vaultEnv('hms/x', { VAULT_TOKEN: vault.token });
    const twice = await refusal(loadConfigAsync(both));
    expect(twice.problems).toEqual(['VAULT_TOKEN: set either VAULT_TOKEN or VAULT_TOKEN_FILE, not both']);
    expectNoValues(twice, {}, vault.token);

    const noAddress = vaultEnv('hms/x');
    delete noAddress.VAULT_ADDR;
    delete noAddress.VAULT_SECRET_PATH;
    expect((await refusal(loadConfigAsync(noAddress))).problems.sort()).toEqual([
      'VAULT_ADDR: required with SECRETS_PROVIDER=vault',
      'VAULT_SECRET_PATH: required with SECRETS_PROVIDER=vault',
    ]);
  });

  it('names an unreachable Vault without the token', async () => {
    const closed = createServer();
    const url = await listen(closed);
    await new Promise((resolve) => closed.close(resolve));

    const error = await refusal(loadConfigAsync(vaultEnv('hms/x', { VAULT_ADDR: url })));

    expect(error.problems).toEqual(['VAULT_ADDR: cannot reach Vault to read secret/hms/x (ECONNREFUSED)']);
    expectNoValues(error, {}, vault.token);
  });
});

describe('environment and mounted files', () => {
  it('keeps loadConfig synchronous and refuses a remote provider there, pointing at loadConfigAsync', () => {
    expect(() => loadConfig({ NODE_ENV: 'test', HMS_DATA_DIR: tempDir(), SECRETS_PROVIDER: 'vault' })).toThrow(
      'SECRETS_PROVIDER: vault is read at start by loadConfigAsync, not loadConfig',
    );
  });

  it('refuses an unknown provider', async () => {
    const error = await refusal(
      loadConfigAsync({ NODE_ENV: 'test', HMS_DATA_DIR: tempDir(), SECRETS_PROVIDER: 'gcp' }),
    );
    expect(error.problems[0]).toMatch(/^SECRETS_PROVIDER: /);
  });

  it('gives the same configuration as loadConfig when secrets are plain variables, with nothing to refresh', async () => {
    const env = {
      NODE_ENV: 'production',
      HMS_DATA_DIR: tempDir(),
      DATABASE_URL: 'postgresql://hms@db.test/hms',
      PAYMENT_PROCESSOR: 'stripe',
      ...productionSecrets(),
    };

    const config = await loadConfigAsync(env);

    expect(config).toEqual(loadConfig(env));
    expect(config.secrets).toBeUndefined();
  });

  it('re-reads a mounted secret file on refresh, so a rotated Kubernetes Secret reaches the server', async () => {
    const secrets = productionSecrets();
    const file = join(tempDir(), 'database-password');
    writeFileSync(file, `${secrets.DATABASE_PASSWORD}\n`);
    const { DATABASE_PASSWORD: _inFile, ...inEnv } = secrets;
    const env = {
      NODE_ENV: 'production',
      HMS_DATA_DIR: tempDir(),
      DATABASE_URL: 'postgresql://hms@db.test/hms',
      PAYMENT_PROCESSOR: 'stripe',
      DATABASE_PASSWORD_FILE: file,
      ...inEnv,
    };

    const config = await loadConfigAsync(env);
    const live = config.secrets as NonNullable<Config['secrets']>;
    expect(config.database.password).toBe(secrets.DATABASE_PASSWORD);
    expect(live.kind).toBe('env');

    const rotated = strongText();
    writeFileSync(file, `${rotated}\n`);
    expect(await live.refresh()).toEqual(['DATABASE_PASSWORD']);
    expect(live.get('DATABASE_PASSWORD')).toBe(rotated);
    live.stop();
  });
});

describe('MasterKeyRing.addVersion', () => {
  it('adds a version once, ignores the same key again, and refuses another key under a held version', () => {
    const one = new Uint8Array(randomBytes(32));
    const ring = new MasterKeyRing({ versions: new Map([[1, one]]), active: 1 });
    const two = new Uint8Array(randomBytes(32));

    expect(ring.addVersion(2, two)).toBe(true);
    expect(ring.addVersion(2, new Uint8Array(two))).toBe(false);
    const other = new Uint8Array(randomBytes(32));
    expect(() => ring.addVersion(1, other)).toThrow('master key version 1 is already in the ring with a different key');
    expect(() => ring.addVersion(0, other)).toThrow(/not an integer/);

    // The ring copied the key: wiping the caller's copy changes nothing.
    two.fill(0);
    const ctx = { subjectId: 'patient-2', dataKeyId: '3c1d2e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f' };
    const wrapped = ring.wrapDataKey(new Uint8Array(randomBytes(32)), ctx);
    expect(wrapped.masterVersion).toBe(1);
    ring.destroy();
    expect(() => ring.addVersion(3, other)).toThrow(/destroyed/);
  });
});

describe('provided secret names', () => {
  it('cover every secret config.ts reads, so a new secret can come from a provider too', () => {
    const source = readFileSync(join(__dirname, '..', '..', 'src', 'config', 'config.ts'), 'utf8');
    const read = [...new Set([...source.matchAll(/secret\('([A-Z][A-Z0-9_]+)'\)/g)].map((match) => match[1]))];

    expect(read.length).toBeGreaterThanOrEqual(7);
    expect([...PROVIDED_SECRET_NAMES]).toEqual(expect.arrayContaining(read));
  });
});

describe('applying refreshed secrets', () => {
  it('logs names and versions only: an invalid MASTER_KEYS or a changed key of a held version is refused', async () => {
    const path = `hms/${randomBytes(4).toString('hex')}`;
    const secrets = productionSecrets();
    vault.write(`secret/${path}`, secrets);
    const config = await loadConfigAsync(vaultEnv(path));
    const live = config.secrets as NonNullable<Config['secrets']>;
    const ring = new MasterKeyRing({ versions: parseMasterKeys(config.keys.masterKeys), active: 1 });
    const lines: string[] = [];
    const logger = createLogger({ level: 'info' }, { write: (line: string) => void lines.push(line) });
    const stop = applySecretRotation(live, ring, logger);

    const broken = `${secrets.MASTER_KEYS},2:${randomBytes(20).toString('base64')}`;
    vault.write(`secret/${path}`, { ...secrets, MASTER_KEYS: broken });
    expect(await live.refresh()).toEqual(['MASTER_KEYS']);
    expect(ring.versions()).toEqual([1]);

    const replaced = `1:${key()},2:${key()}`;
    const rotatedSigning = strongText();
    vault.write(`secret/${path}`, { ...secrets, MASTER_KEYS: replaced, TOKEN_SIGNING_SECRET: rotatedSigning });
    expect((await live.refresh()).sort()).toEqual(['MASTER_KEYS', 'TOKEN_SIGNING_SECRET']);
    // Version 2 is new and joins; version 1 keeps the key that wraps existing data keys.
    expect(ring.versions()).toEqual([1, 2]);
    stop();
    ring.destroy();

    const log = lines.map((line) => JSON.parse(line) as { msg: string });
    expect(log.map((entry) => entry.msg)).toEqual([
      'refreshed MASTER_KEYS is invalid; ignored',
      'master key version refused',
      'master key versions added to the live ring',
      'secrets changed in the provider; they take effect at the next restart',
    ]);
    const text = lines.join('\n');
    for (const value of [...Object.values(secrets), broken, replaced, rotatedSigning, ...replaced.split(/[:,]/)]) {
      if (value.length > 2) expect(text).not.toContain(value);
    }
  });
});
