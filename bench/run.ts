import 'reflect-metadata';
import { randomBytes, randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { graphql } from 'graphql';
import { Client } from 'pg';
import { MikroORM } from '@mikro-orm/postgresql';

import { loadConfig } from '../src/config/config';
import { DataKeyCache, MasterKeyRing, generateDataKey, initCrypto, openField, sealField } from '../src/crypto';
import { openDatabase } from '../src/db/database';
import { ormOptions } from '../src/db/orm.config';
import type { GraphQLContext } from '../src/graphql/context';
import { buildExecutableSchema } from '../src/graphql/schema';
import { createLogger } from '../src/logging/logger';
import { Sex } from '../src/patients/patient.entity';
import { createServices } from '../src/services';

const seconds = Number(process.env.BENCH_SECONDS ?? 2);
const json = process.argv.includes('--json');

/** Runs `fn` repeatedly for about `ms` and returns operations per second. */
async function rate(ms: number, fn: () => unknown | Promise<unknown>): Promise<number> {
  let ops = 0;
  const start = performance.now();
  while (performance.now() - start < ms) {
    await fn();
    ops += 1;
  }
  return ops / ((performance.now() - start) / 1000);
}

/** Field crypto: 64-byte values, data key cached (no unwrap) and uncached (unwrap every time). */
async function cryptoFigures() {
  const ring = new MasterKeyRing({ versions: new Map([[1, randomBytes(32)]]), active: 1 });
  const dataKey = generateDataKey();
  const keyId = randomUUID();
  const wrapped = ring.wrapDataKey(dataKey, { subjectId: keyId, dataKeyId: keyId });
  const ctx = { table: 'patients', column: 'notes', rowId: keyId };
  const value = 'x'.repeat(64);
  const envelope = sealField(dataKey, keyId, ctx, value);
  const cache = new DataKeyCache({ maxEntries: 10, ttlMs: 60_000 });
  cache.set(keyId, ring.unwrapDataKey(wrapped.wrapped, 1, { subjectId: keyId, dataKeyId: keyId }));
  const ms = seconds * 500;
  return {
    encryptCachedPerSec: await rate(ms, () => sealField(cache.get(keyId)!, keyId, ctx, value)),
    decryptCachedPerSec: await rate(ms, () => openField(cache.get(keyId)!, keyId, ctx, envelope)),
    encryptUncachedPerSec: await rate(ms, () => {
      const key = ring.unwrapDataKey(wrapped.wrapped, 1, { subjectId: keyId, dataKeyId: keyId });
      return sealField(key, keyId, ctx, value);
    }),
    decryptUncachedPerSec: await rate(ms, () => {
      const key = ring.unwrapDataKey(wrapped.wrapped, 1, { subjectId: keyId, dataKeyId: keyId });
      return openField(key, keyId, ctx, envelope);
    }),
  };
}

const PATIENT_FIELDS =
  'id mrn firstName lastName dateOfBirth sex ssn email phone address { line1 city postalCode country } insuranceMemberId createdAt';

/**
 * `patients(first: 100)` with every PHI field, executed in-process as a PHYSICIAN, next to the
 * same page read with its PHI columns but no decryption (the service's row read alone).
 */
async function patientsFigures() {
  // Rate limits are raised through configuration so they do not cap what is measured.
  const config = loadConfig({
    ...process.env,
    NODE_ENV: 'development',
    RATE_LIMIT_MULTIPLIER: process.env.RATE_LIMIT_MULTIPLIER ?? '100000',
  });
  const logger = createLogger({ level: 'warn' });
  const database = await openDatabase(config, logger, { migrate: false });
  const url = String(database.orm.config.get('clientUrl'));
  await database.orm.close(true);
  const benchDb = `hms_bench_${randomBytes(4).toString('hex')}`;
  // The URL carries the embedded cluster's password; an external one takes DATABASE_PASSWORD when given.
  const password = config.database.url ? config.database.password : undefined;
  const admin = new Client({ connectionString: url, ...(password ? { password } : {}) });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${benchDb}`);
  const benchUrl = new URL(url);
  benchUrl.pathname = `/${benchDb}`;
  const orm = await MikroORM.init(ormOptions({ url: benchUrl.toString(), password, logger }));
  let services: ReturnType<typeof createServices> | undefined;
  try {
    await orm.getMigrator().up();
    const app = createServices(config, orm, logger);
    services = app;
    const em = orm.em.fork();
    const physician = await app.auth.users.create(
      em,
      {
        email: `bench.${randomUUID()}@example.test`,
        password: `Bench-${randomUUID()}`,
        role: 'PHYSICIAN',
        displayName: 'Bench physician',
        patientId: null,
      },
      logger,
      null,
    );
    for (let i = 0; i < 120; i += 1) {
      // The physician registers them, so is on each care team: the list is the care-team path.
      await app.patients.create(
        em,
        {
          firstName: `Bench${i}`,
          lastName: `Patient${i}`,
          dateOfBirth: '1970-01-01',
          sex: Sex.UNKNOWN,
          ssn: `123-45-${String(1000 + i).padStart(4, '0')}`,
          email: `bench${i}@example.test`,
          phone: `+1415555${String(1000 + i).padStart(4, '0')}`,
          address: { line1: `${i} Bench Street`, city: 'Benchville', postalCode: '00000', country: 'US' },
          insuranceMemberId: `BENCH-${i}`,
        },
        physician.id,
      );
    }
    const schema = await buildExecutableSchema();
    const contextValue = (): GraphQLContext => ({
      requestId: 'bench',
      log: logger,
      em: orm.em.fork(),
      actor: { userId: physician.id, role: 'PHYSICIAN', sessionId: randomUUID() },
      ip: '127.0.0.1',
      userAgent: 'bench',
      services: app,
      loaders: new Map(),
    });
    const source = `{ patients(first: 100) { nodes { ${PATIENT_FIELDS} } } }`;
    const check = await graphql({ schema, source, contextValue: contextValue() });
    if (check.errors) throw new Error(`bench query failed: ${check.errors[0].message}`);
    if ((check.data?.patients as { nodes: unknown[] }).nodes.length !== 100)
      throw new Error('bench query did not return 100 patients');
    const ms = seconds * 1000;
    const decrypted = await rate(ms, async () => {
      const result = await graphql({ schema, source, contextValue: contextValue() });
      // A refused or failed request would be fast and meaningless: any error stops the benchmark.
      if (result.errors) throw new Error(`bench query failed: ${result.errors[0].message}`);
    });
    const scope = app.access.listScope({ userId: physician.id, role: 'PHYSICIAN', sessionId: randomUUID() });
    const readOnly = await rate(ms, () => app.patients.page(orm.em.fork(), 100, null, scope));
    return {
      patients100DecryptedPerSec: decrypted,
      patients100ReadNotDecryptedPerSec: readOnly,
      patients100DecryptedMs: 1000 / decrypted,
      patients100ReadNotDecryptedMs: 1000 / readOnly,
      ratioDecryptedToReadOnly: decrypted / readOnly,
    };
  } finally {
    await services?.close();
    await orm.close(true);
    await admin.query(`DROP DATABASE IF EXISTS ${benchDb} WITH (FORCE)`);
    await admin.end();
    await database.embedded?.stop();
  }
}

async function main(): Promise<void> {
  await initCrypto();
  const figures = {
    date: new Date().toISOString(),
    seconds,
    crypto: await cryptoFigures(),
    patients: await patientsFigures(),
  };
  if (json) {
    process.stdout.write(`${JSON.stringify(figures, null, 2)}\n`);
    return;
  }
  const f = (n: number) => (n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(2));
  process.stdout.write(`HMS benchmark (${figures.date}, ${seconds}s per measurement)\n\n`);
  for (const [name, value] of Object.entries({ ...figures.crypto, ...figures.patients })) {
    process.stdout.write(`  ${name.padEnd(36)} ${f(value)}\n`);
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`benchmark failed: ${error instanceof Error ? error.message : 'unknown error'}\n`);
    process.exit(1);
  },
);
