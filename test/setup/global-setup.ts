import 'reflect-metadata';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { execFileSync } from 'node:child_process';

import { startEmbeddedPostgres } from '../../src/db/embedded-postgres';
import { createLogger } from '../../src/logging/logger';

/**
 * Once per run: find a PostgreSQL (DATABASE_URL, or an embedded cluster in a temporary
 * directory), migrate a template database, and tell the workers where it is. Each test file
 * then gets its own database cloned from the template.
 */
export default async function globalSetup(): Promise<void> {
  const logger = createLogger({ level: 'silent' });
  const runId = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  let adminUrl = process.env.DATABASE_URL;
  if (!adminUrl) {
    const embedded = await startEmbeddedPostgres({
      dataDir: mkdtempSync(join(tmpdir(), 'hms-test-')),
      password: randomBytes(24).toString('base64url'),
      database: 'postgres',
      logger,
      persistent: false,
    });
    adminUrl = embedded.url;
    (globalThis as Record<string, unknown>).__HMS_EMBEDDED__ = embedded;
  }
  const template = `hms_tpl_${runId}`;
  const admin = new Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${template}`);
  await admin.end();

  const templateUrl = withDatabase(adminUrl, template);
  // MikroORM.init() inside jest's global setup corrupts metadata for in-band test files
  // (mikro-orm#3783), so the template is migrated by a child process.
  execFileSync(
    process.execPath,
    ['-r', join(__dirname, 'swc-register.js'), join(__dirname, 'migrate-template.ts'), templateUrl],
    {
      stdio: ['ignore', 'inherit', 'inherit'],
    },
  );

  process.env.HMS_TEST_ADMIN_URL = adminUrl;
  process.env.HMS_TEST_RUN_ID = runId;
  process.env.HMS_TEST_TEMPLATE_DB = template;
  delete process.env.DATABASE_URL;
}

/** The same server URL with another database name. */
export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}
