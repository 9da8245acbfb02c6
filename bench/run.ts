import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, freemem, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import * as argon2 from 'argon2';
import { Client } from 'pg';

import { loadConfig, type Config } from '../src/config/config';
import { initCrypto } from '../src/crypto';
import { createLogger } from '../src/logging/logger';
import { benchSecrets, openBenchDatabase, type BenchSecrets } from './database';
import type { LoadResult, LoadSpec } from './load';
import { combine, emptyReport, failures, goals, table, withRatios, type ScenarioReport } from './report';
import { scenarios, type ScenarioData } from './scenarios';
import { seed, seededData, type SeedData } from './seed';
import { benchModule, LoadGenerator, rssMiB, startServer, type BenchServer } from './servers';

const json = process.argv.includes('--json');
const keep = process.argv.includes('--keep');
const knob = (name: string, fallback: number, min = Number.MIN_VALUE) => {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(value) || value < min) throw new Error(`${name} must be a number of at least ${min}`);
  return value;
};
// Fractions of a second are allowed (the smoke test runs rounds of 0.5 s); 0 warm-up skips warming up.
const seconds = knob('BENCH_SECONDS', 10, 0.2);
const rounds = Math.round(knob('BENCH_ROUNDS', 3, 1));
const warmup = knob('BENCH_WARMUP_SECONDS', Math.min(3, seconds), 0);
const settle = knob('BENCH_SETTLE_SECONDS', 5, 0);
const users = Math.round(knob('BENCH_USERS', 50));
const patients = Math.round(knob('BENCH_PATIENTS', 10_000));
const only = process.env.BENCH_SCENARIOS?.split(',').map(Number);
const profileDir = process.env.BENCH_CPU_PROF_DIR;

/** Progress goes to stderr; stdout carries only the table, or the one JSON document with --json. */
const progress = (message: string) => process.stderr.write(`[bench] ${message}\n`);

type Target = 'baseline' | 'cryptoFloor' | 'product';
const TARGETS: Target[] = ['baseline', 'cryptoFloor', 'product'];

function rotate<T>(list: T[], by: number): T[] {
  const k = by % list.length;
  return [...list.slice(k), ...list.slice(0, k)];
}

/**
 * argon2id hashes per second with the configured parameters, `concurrency` at a time, for `ms`, in this process
 * while the servers are idle. Known bias: during the login rounds the load generator and PostgreSQL share the
 * CPUs with argon2, so on a small machine even a bare server reaches only about 0.9-1.0 of this rate.
 */
async function rawHashRate(config: Config, concurrency: number, ms: number): Promise<number> {
  const { memoryKiB, timeCost, parallelism } = config.auth.argon2;
  const options = { type: argon2.argon2id as 2, memoryCost: memoryKiB, timeCost, parallelism };
  let done = 0;
  const started = Date.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() - started < ms) {
        await argon2.hash(randomBytes(16).toString('hex'), options);
        done += 1;
      }
    }),
  );
  return done / ((Date.now() - started) / 1000);
}

/** Signs each account in through the product; the benchmark's bearer tokens (short-lived: taken per scenario). */
async function signIn(product: BenchServer, emails: string[], password: string): Promise<string[]> {
  return Promise.all(
    emails.map(async (email) => {
      const res = await fetch(product.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          query: 'mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }',
          variables: { e: email, p: password },
        }),
      });
      const body = (await res.json()) as { data?: { login?: { accessToken?: string } } };
      const token = body.data?.login?.accessToken;
      if (!token) throw new Error('a benchmark account could not sign in to the product');
      return token;
    }),
  );
}

/**
 * Deletes the encounters scenario 4 wrote (to the care-team patients, from `since` on) from the product's table and
 * B0's plain copy, so that a kept database (--keep) gives scenario 2 the same patients with the same encounters in
 * every run; otherwise each run adds about two encounters per care-team patient and scenario 2 grows heavier run by
 * run. The seeded encounters of those patients are dated hours before the seeding (seed.ts) and are never matched.
 */
async function removeWrittenEncounters(url: string, password: string | undefined, patientIds: string[], since: Date) {
  const client = new Client({ connectionString: url, ...(password ? { password } : {}) });
  await client.connect();
  try {
    for (const table of ['encounters', 'bench_plain_encounters']) {
      await client.query(`DELETE FROM ${table} WHERE patient_id = ANY($1::uuid[]) AND created_at >= $2`, [
        patientIds,
        since,
      ]);
    }
  } finally {
    await client.end();
  }
}

async function machine(url: string) {
  const password = process.env.DATABASE_PASSWORD;
  const client = new Client({ connectionString: url, ...(password ? { password } : {}) });
  await client.connect();
  let pg: string;
  try {
    pg = (await client.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0].v;
  } finally {
    await client.end();
  }
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    freeMemoryGiB: Math.round(freemem() / 2 ** 30),
    node: process.version,
    postgres: pg,
  };
}

async function main(): Promise<void> {
  await initCrypto();
  const logger = createLogger({ level: process.env.BENCH_LOG_LEVEL ?? 'warn' }, process.stderr);
  const work = mkdtempSync(join(tmpdir(), 'hms-bench-'));
  const dataDir = process.env.HMS_DATA_DIR ?? '.data';
  const secrets: BenchSecrets = benchSecrets(keep, dataDir);
  const db = await openBenchDatabase(keep, logger);
  const servers: BenchServer[] = [];
  let load: LoadGenerator | undefined;
  let finished = false;
  try {
    // The product runs outside production (NODE_ENV=test): no MFA at sign-in, no production secret checks.
    const { password, ...keys } = secrets;
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      NODE_ENV: 'test',
      DATABASE_URL: db.url,
      MIGRATE_ON_START: 'false',
      HMS_DATA_DIR: work,
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'info',
      RATE_LIMIT_KEY_PREFIX: `hms:bench:${randomBytes(4).toString('hex')}:`,
      ...keys,
    };
    const config = loadConfig({ ...env, RATE_LIMIT_MULTIPLIER: '1' });
    let data: SeedData;
    if (db.seeded) {
      progress(`reusing the seeded database ${db.name} (--keep)`);
      data = await seededData(db.url, config.database.password);
    } else {
      progress(`seeding ${patients} patients into ${db.name}`);
      const started = Date.now();
      data = await seed(
        config,
        db.url,
        {
          patients,
          encountersPerPatient: Math.round(knob('BENCH_ENCOUNTERS_PER_PATIENT', 5)),
          physicians: users,
          careTeamSize: Math.round(knob('BENCH_CARE_TEAM', 2_000)),
          loginAccounts: 16,
        },
        password,
        logger,
      );
      progress(`seeded ${data.patients} patients, ${data.encounters} encounters in ${(Date.now() - started) / 1000} s`);
    }

    // Rate limits are raised so they do not cap what is measured, except on the scenario 6 server.
    // The product applies pending migrations at start, so a database kept from an older run is brought up to date.
    const productEnv = { ...env, RATE_LIMIT_MULTIPLIER: '1000000', MIGRATE_ON_START: 'true' };
    const profile = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
    const log = (name: string) => join(work, `${name}.log`);
    const b0 = await startServer('B0', benchModule('baseline', 'b0'), env, log('b0'));
    servers.push(b0);
    const b1 = await startServer('B1', benchModule('baseline', 'b1'), env, log('b1'));
    servers.push(b1);
    const product = await startServer('product', benchModule('..', 'src', 'main'), productEnv, log('product'), profile);
    servers.push(product);
    const bases: Record<Target, BenchServer> = { baseline: b0, cryptoFloor: b1, product };
    load = new LoadGenerator();
    progress(`servers up: B0 pid ${b0.pid}, B1 pid ${b1.pid}, product pid ${product.pid}; logs in ${work}`);

    const scenarioData: ScenarioData = {
      patientIds: data.team.map((t) => t.id),
      ssns: data.team.map((t) => t.ssn),
      loginEmails: data.loginEmails,
      password,
    };
    const reports: ScenarioReport[] = [];
    let rssAfter6: number | null = null;
    const list = scenarios(users).filter((s) => !only || only.includes(s.id));
    for (const scenario of list) {
      const report = emptyReport(scenario);
      reports.push(report);
      if (scenario.perUser && !process.env.REDIS_URL) {
        report.skipped = 'REDIS_URL is unset: per-user rate-limit buckets need Redis';
        progress(`(${scenario.id}) skipped: ${report.skipped}`);
        continue;
      }
      const targets = { ...bases };
      let limitedServer: BenchServer | undefined;
      let tokens: string[];
      if (scenario.perUser) {
        // A product at the configured (not raised) limits, sharing the database, sessions and Redis.
        limitedServer = await startServer('product-limited', benchModule('..', 'src', 'main'), env, log('limited'));
        servers.push(limitedServer);
        targets.product = limitedServer;
        tokens = await signIn(product, data.physicians.map((p) => p.email).slice(0, users), password);
      } else {
        tokens = await signIn(product, [data.physicians[0].email], password);
      }
      const spec = (target: Target, secs: number): LoadSpec[] => {
        const base: LoadSpec = {
          url: targets[target].url,
          operation: scenario.operation,
          connections: scenario.connections,
          seconds: secs,
          tokens: target === 'product' ? tokens : tokens.map(() => ''),
          perUser: scenario.perUser,
          data: scenarioData,
        };
        if (!scenario.loginsBeside) return [base];
        const beside = { ...base, operation: 'login' as const, connections: 2, tokens: [''], perUser: false };
        return [base, { ...beside, overallRate: scenario.loginsBeside }];
      };
      const results: Record<Target, LoadResult[]> = { baseline: [], cryptoFloor: [], product: [] };
      const besides: Record<Target, LoadResult[]> = { baseline: [], cryptoFloor: [], product: [] };
      const hashRates: number[] = [];
      const started = new Date();
      if (warmup > 0) {
        progress(`(${scenario.id}) ${scenario.title}: warm-up`);
        for (const target of TARGETS) await load.run(spec(target, warmup));
      }
      for (let round = 0; round < rounds; round++) {
        for (const target of rotate(TARGETS, round)) {
          const [main, beside] = await load.run<LoadResult & { firstError?: string }>(spec(target, seconds));
          results[target].push(main);
          if (beside) besides[target].push(beside);
          if (main.firstError) progress(`(${scenario.id}) ${target} answered an error: ${main.firstError}`);
        }
        if (scenario.operation === 'login') {
          hashRates.push(await rawHashRate(config, scenario.connections, seconds * 1000));
        }
        progress(`(${scenario.id}) round ${round + 1}/${rounds} done`);
      }
      if (scenario.operation === 'createEncounter') {
        await removeWrittenEncounters(db.url, config.database.password, scenarioData.patientIds, started);
      }
      for (const target of TARGETS) {
        report[target] = combine(results[target]);
        report.failures[target] = failures(results[target]) + failures(besides[target]);
      }
      withRatios(report);
      if (hashRates.length > 0) {
        report.rawHashRate = hashRates.reduce((a, b) => a + b, 0) / hashRates.length;
        report.toHashRate = (report.product?.rps ?? 0) / report.rawHashRate;
      }
      if (scenario.perUser) {
        const runs = results.product;
        report.limited = runs.reduce((sum, r) => sum + r.limited, 0);
        const served = runs.reduce((sum, r) => sum + r.requests - r.limited, 0);
        report.servedRps = served / (runs.length * seconds);
        progress(`(${scenario.id}) letting the product settle for ${settle} s before reading its memory`);
        await new Promise((r) => setTimeout(r, settle * 1000));
        rssAfter6 = rssMiB(limitedServer!.pid);
        await limitedServer!.stop();
      }
      if (scenario.loginsBeside) {
        const s1 = reports.find((r) => r.id === 1)?.product?.rps;
        report.toScenario1 = s1 && report.product ? report.product.rps / s1 : undefined;
        const beside = (t: Target) => combine(besides[t])?.rps ?? 0;
        report.loginsBeside = {
          product: beside('product'),
          baseline: beside('baseline'),
          cryptoFloor: beside('cryptoFloor'),
        };
      }
    }

    const productRss = rssMiB(product.pid);
    const goalList = goals(reports, rssAfter6);
    const figures = {
      date: new Date().toISOString(),
      machine: await machine(db.url),
      settings: {
        secondsPerRound: seconds,
        rounds,
        warmupSeconds: warmup,
        patients: data.patients,
        encounters: data.encounters,
        users,
        redis: Boolean(process.env.REDIS_URL),
        productNodeEnv: 'test',
      },
      scenarios: reports,
      memory: { rssAfterScenario6MiB: rssAfter6, productRssAtEndMiB: productRss },
      goals: goalList,
    };
    if (json) {
      process.stdout.write(`${JSON.stringify(figures, null, 2)}\n`);
    } else {
      const m = figures.machine;
      process.stdout.write(
        `HMS load benchmark, ${figures.date}: ${m.cpus} x ${m.cpuModel}, ${m.memoryGiB} GiB, node ${m.node}, ` +
          `PostgreSQL ${m.postgres}; ${seconds} s x ${rounds} rounds per server; r/s p50/p99\n\n` +
          table(reports, goalList, [
            `RSS after (6) settled: ${rssAfter6 == null ? '-' : rssAfter6.toFixed(0)} MiB; ` +
              `product RSS at the end: ${productRss == null ? '-' : productRss.toFixed(0)} MiB`,
          ]),
      );
    }
    finished = true;
  } finally {
    load?.close();
    for (const server of servers.reverse()) await server.stop();
    await db.close();
    // Server logs stay for a failed run (their path was printed); they hold no PHI, like every server log.
    if (finished) rmSync(work, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    // The first line only: driver messages can repeat whole statements with their parameters.
    const message = error instanceof Error ? error.message.split('\n')[0].slice(0, 300) : 'unknown error';
    progress(`benchmark failed: ${message}`);
    process.exit(1);
  },
);
