import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';

import { loadConfig } from '../src/config/config';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../src/db/embedded-postgres';
import type { Logger } from '../src/logging/logger';

/** The benchmark's own database on the chosen server; never the user's database. */
export interface BenchDatabase {
  url: string;
  name: string;
  /** True when `--keep` found an already seeded database. */
  seeded: boolean;
  close(): Promise<void>;
}

/** Secrets shared by the seed, the product and B1 (B1 needs the master and blind-index keys to read the rows). */
export interface BenchSecrets {
  TOKEN_SIGNING_SECRET: string;
  MASTER_KEYS: string;
  BLIND_INDEX_KEY: string;
  AUDIT_HMAC_KEY: string;
  /** Password of every seeded account (fictional, bench only). */
  password: string;
}

const KEPT_DB = 'hms_bench_kept';

function newSecrets(): BenchSecrets {
  return {
    TOKEN_SIGNING_SECRET: randomBytes(32).toString('base64url'),
    MASTER_KEYS: `1:${randomBytes(32).toString('base64')}`,
    BLIND_INDEX_KEY: randomBytes(32).toString('base64'),
    AUDIT_HMAC_KEY: randomBytes(32).toString('base64'),
    password: `Bench-${randomBytes(9).toString('base64url')}-Lantern-Quartz`,
  };
}

/**
 * Fresh random secrets; with `--keep`, the ones stored beside the kept database (HMS_DATA_DIR/bench-secrets.json,
 * mode 0600, like the development secrets), since its rows are sealed under them.
 */
export function benchSecrets(keep: boolean, dataDir: string): BenchSecrets {
  if (!keep) return newSecrets();
  const file = join(dataDir, 'bench-secrets.json');
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as BenchSecrets;
  const secrets = newSecrets();
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  writeFileSync(file, JSON.stringify(secrets), { mode: 0o600 });
  return secrets;
}

/**
 * Creates the benchmark database next to DATABASE_URL's (or in the embedded PostgreSQL `npm start` uses when it is
 * unset). Without `--keep` it has a random name and is dropped by `close`; with `--keep` it is `hms_bench_kept`,
 * reused (not re-seeded) by the next `--keep` run.
 */
export async function openBenchDatabase(keep: boolean, logger: Logger): Promise<BenchDatabase> {
  const config = loadConfig({ ...process.env, NODE_ENV: 'development' });
  let embedded: EmbeddedDatabase | undefined;
  let adminUrl = config.database.url;
  const password = adminUrl ? config.database.password : undefined;
  if (!adminUrl) {
    embedded = await startEmbeddedPostgres({
      dataDir: config.dataDir,
      password: config.database.embeddedPassword as string,
      database: 'hms',
      logger,
    });
    adminUrl = embedded.url;
  }
  const admin = new Client({ connectionString: adminUrl, ...(password ? { password } : {}) });
  await admin.connect();
  const name = keep ? KEPT_DB : `hms_bench_${randomBytes(4).toString('hex')}`;
  const exists = (await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount === 1;
  if (!exists) await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  let seeded = false;
  if (exists) {
    const probe = new Client({ connectionString: url.toString(), ...(password ? { password } : {}) });
    await probe.connect();
    seeded = (await probe.query("SELECT to_regclass('bench_meta') AS t")).rows[0].t !== null;
    await probe.end();
  }
  return {
    url: url.toString(),
    name,
    seeded,
    async close() {
      if (!keep) await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
      await embedded?.stop();
    },
  };
}
