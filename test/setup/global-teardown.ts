import { Client } from 'pg';

import type { EmbeddedDatabase } from '../../src/db/embedded-postgres';

/** Drops every database this run created, then stops the embedded cluster if one was started. */
export default async function globalTeardown(): Promise<void> {
  const adminUrl = process.env.HMS_TEST_ADMIN_URL;
  const runId = process.env.HMS_TEST_RUN_ID;
  if (adminUrl && runId) {
    const admin = new Client({ connectionString: adminUrl });
    await admin.connect();
    const { rows } = await admin.query<{ datname: string }>(
      "SELECT datname FROM pg_database WHERE datname LIKE 'hms\\_%' AND datname LIKE $1",
      [`%${runId}%`],
    );
    for (const { datname } of rows) await admin.query(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`);
    await admin.end();
  }
  const embedded = (globalThis as Record<string, unknown>).__HMS_EMBEDDED__ as EmbeddedDatabase | undefined;
  await embedded?.stop();
}
