import { randomBytes } from 'node:crypto';
import { MikroORM } from '@mikro-orm/postgresql';
import { Client } from 'pg';

import { loadConfig } from '../../src/config/config';
import { initCrypto } from '../../src/crypto';
import { migrate } from '../../src/db/database';
import { ormOptions } from '../../src/db/orm.config';
import { startHttpServer, type RunningServer } from '../../src/http/server';
import { createLogger } from '../../src/logging/logger';
import { createServices } from '../../src/services';
import { withDatabase } from '../setup/global-setup';
import { startTestApp, testEnv, type TestApp } from '../support/app';

function adminUrl(): string {
  const url = process.env.HMS_TEST_ADMIN_URL;
  if (!url) throw new Error('HMS_TEST_ADMIN_URL is not set: run the tests through jest (global setup)');
  return url;
}

async function admin<T>(fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: adminUrl() });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Named after the run, so global teardown drops it even when a test fails half-way. */
function runDatabaseName(purpose: string): string {
  return `hms_${purpose}_${process.env.HMS_TEST_RUN_ID}_${randomBytes(3).toString('hex')}`;
}

describe('on a migrated database', () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp();
  });

  afterAll(async () => {
    await app?.close();
  });

  it('answers /healthz with 200', async () => {
    const res = await fetch(`${app.url}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('answers /readyz with 200', async () => {
    const res = await fetch(`${app.url}/readyz`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { status: string }).status).toBe('ready');
  });
});

describe('on a database with pending migrations', () => {
  const name = runDatabaseName('empty');
  let orm: MikroORM;
  let server: RunningServer;

  beforeAll(async () => {
    await initCrypto();
    await admin((client) => client.query(`CREATE DATABASE ${name}`));
    const url = withDatabase(adminUrl(), name);
    const config = loadConfig(testEnv(url));
    const logger = createLogger({ level: 'silent' });
    orm = await MikroORM.init(ormOptions({ url, logger }));
    server = await startHttpServer(createServices(config, orm, logger), 0, '127.0.0.1');
  });

  afterAll(async () => {
    await server?.stop();
    await orm?.close(true);
    await admin((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
  });

  it('stays live: /healthz answers 200', async () => {
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });

  it('answers /readyz with 503 until the migrations are applied, then 200', async () => {
    const before = await fetch(`${server.url}/readyz`);
    expect(before.status).toBe(503);
    expect(await before.json()).toEqual({ status: 'not ready', reason: 'migrations pending' });

    await migrate(orm, createLogger({ level: 'silent' }));

    const after = await fetch(`${server.url}/readyz`);
    expect(after.status).toBe(200);
  });
});

describe('when the database becomes unreachable', () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp();
  });

  afterAll(async () => {
    await app?.close();
  });

  it('answers /readyz with 503 and says nothing about the database but that', async () => {
    expect((await fetch(`${app.url}/readyz`)).status).toBe(200);

    // Drops the database under the running server and cuts its open connections.
    await admin((client) => client.query(`DROP DATABASE ${app.db.name} WITH (FORCE)`));

    const res = await fetch(`${app.url}/readyz`);
    const text = await res.text();
    expect(res.status).toBe(503);
    expect(JSON.parse(text)).toEqual({ status: 'not ready', reason: 'database unreachable' });
    expect(text).not.toContain(app.db.name);
    expect(text).not.toContain('does not exist');
  });

  it('keeps /healthz at 200: liveness does not depend on the database', async () => {
    expect((await fetch(`${app.url}/healthz`)).status).toBe(200);
  });
});
