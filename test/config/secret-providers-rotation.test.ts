import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MikroORM } from '@mikro-orm/postgresql';
import { Client } from 'pg';

import { loadConfigAsync, type Config } from '../../src/config/config';
import { databasePassword } from '../../src/config/secret-providers';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../../src/db/embedded-postgres';
import { ormOptions } from '../../src/db/orm.config';
import { createLogger } from '../../src/logging/logger';

// A rotated database password reaches new pool connections without a restart. The shared test server trusts
// loopback connections (no password is ever checked), so this runs its own embedded cluster with scram-sha-256.

// embedded-postgres is ESM only; jest's module loader cannot import it, so it gets the module as Node's
// require(esm) loads it (as test/db/embedded-postgres.test.ts does). Same code, no stand-in.
jest.mock('embedded-postgres', () => {
  const nodeModule = process.getBuiltinModule('node:module') as typeof import('node:module');
  return nodeModule.createRequire(__filename)('embedded-postgres');
});

const logger = createLogger({ level: 'silent' });
const key = (): string => randomBytes(32).toString('base64');
const password = (): string => randomBytes(24).toString('base64url');

/** Vault KV v2 on loopback holding one secret, `secret/hms/rotation`. */
function kvServer(token: string, data: () => Record<string, string>): Server {
  let version = 0;
  return createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    if (req.headers['x-vault-token'] !== token) return void res.writeHead(403).end('{"errors":["permission denied"]}');
    if (req.url !== '/v1/secret/data/hms/rotation') return void res.writeHead(404).end('{"errors":[]}');
    version += 1;
    res.end(JSON.stringify({ data: { data: data(), metadata: { version } } }));
  });
}

/** Runs `count` queries at once, so the pool has to open new connections for all but the idle ones. */
function concurrently(orm: MikroORM, count: number): Promise<PromiseSettledResult<unknown>[]> {
  const connection = orm.em.getConnection();
  return Promise.allSettled(Array.from({ length: count }, () => connection.execute('SELECT pg_sleep(0.2)')));
}

describe('database password rotation', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'hms-rotation-'));
  const token = `hvs.${randomBytes(18).toString('base64url')}`;
  const first = password();
  const secrets: Record<string, string> = {
    TOKEN_SIGNING_SECRET: password() + password(),
    MASTER_KEYS: `1:${key()}`,
    BLIND_INDEX_KEY: key(),
    AUDIT_HMAC_KEY: key(),
    DATABASE_PASSWORD: first,
  };
  const vault = kvServer(token, () => secrets);
  let cluster: EmbeddedDatabase;
  let config: Config;
  let orm: MikroORM;

  beforeAll(async () => {
    cluster = await startEmbeddedPostgres({ dataDir, password: first, database: 'hms', logger, persistent: false });
    await new Promise<void>((resolve) => vault.listen(0, '127.0.0.1', resolve));
    const url = new URL(cluster.url);
    url.password = '';
    config = await loadConfigAsync({
      NODE_ENV: 'test',
      HMS_DATA_DIR: join(dataDir, 'app'),
      DATABASE_URL: url.toString(),
      SECRETS_PROVIDER: 'vault',
      SECRETS_REFRESH_SECONDS: '0',
      VAULT_ADDR: `http://127.0.0.1:${(vault.address() as AddressInfo).port}`,
      VAULT_SECRET_PATH: 'hms/rotation',
      VAULT_TOKEN: token,
    });
    orm = await MikroORM.init(ormOptions({ url: url.toString(), password: databasePassword(config), logger }));
  }, 120_000);

  afterAll(async () => {
    config?.secrets?.stop();
    await orm?.close(true);
    await new Promise((resolve) => vault.close(resolve));
    await cluster?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('connects with the provider password, and new connections use the rotated one after a refresh', async () => {
    expect(await orm.em.getConnection().execute('SELECT current_user AS who')).toEqual([{ who: 'hms' }]);
    expect((await concurrently(orm, 3)).map((result) => result.status)).toEqual([
      'fulfilled',
      'fulfilled',
      'fulfilled',
    ]);

    // The password changes in the database first (as a rotation job does), then in Vault.
    const second = password();
    await orm.em.getConnection().execute(`ALTER ROLE hms PASSWORD '${second}'`);
    const oldPassword = new Client({ connectionString: cluster.url });
    await expect(oldPassword.connect()).rejects.toThrow(/password authentication failed/);

    // Before the refresh the pool still holds the old password: connections beyond the open ones fail.
    const before = await concurrently(orm, 6);
    const refused = before.filter((result) => result.status === 'rejected') as PromiseRejectedResult[];
    expect(refused.length).toBeGreaterThan(0);
    for (const { reason } of refused) {
      expect(String(reason)).toMatch(/password authentication failed/);
      expect(String(reason)).not.toContain(first);
      expect(String(reason)).not.toContain(second);
    }

    secrets.DATABASE_PASSWORD = second;
    expect(await config.secrets?.refresh()).toEqual(['DATABASE_PASSWORD']);

    const after = await concurrently(orm, 8);
    expect(after.filter((result) => result.status === 'rejected')).toEqual([]);
    const pool = (orm.em.getConnection().getKnex().client as { pool: { numUsed(): number; numFree(): number } }).pool;
    expect(pool.numUsed() + pool.numFree()).toBeGreaterThanOrEqual(6);
  });

  it('keeps the password a plain value when nothing refreshes it', () => {
    expect(databasePassword({ database: { password: first } })).toBe(first);
    expect(databasePassword({ database: {}, secrets: config.secrets })).toBeUndefined();
  });
});
