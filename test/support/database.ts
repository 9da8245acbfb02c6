import { randomBytes } from 'node:crypto';
import { Client } from 'pg';

import { withDatabase } from '../setup/global-setup';

/** A fresh database for one test file, cloned from the run's migrated template. */
export interface TestDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

function adminUrl(): string {
  const url = process.env.HMS_TEST_ADMIN_URL;
  if (!url) throw new Error('HMS_TEST_ADMIN_URL is not set: run the tests through jest (global setup)');
  return url;
}

/** Clones the migrated template into a new database named after this run. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `hms_t_${process.env.HMS_TEST_RUN_ID}_${randomBytes(4).toString('hex')}`;
  const admin = new Client({ connectionString: adminUrl() });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name} TEMPLATE ${process.env.HMS_TEST_TEMPLATE_DB}`);
  } finally {
    await admin.end();
  }
  return {
    name,
    url: withDatabase(adminUrl(), name),
    async drop() {
      const client = new Client({ connectionString: adminUrl() });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    },
  };
}

/** Runs `sql` against a database URL with a short-lived client (raw scans in tests). */
export async function rawQuery<T extends Record<string, unknown>>(
  url: string,
  sql: string,
  params: unknown[] = [],
): Promise<T[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}
