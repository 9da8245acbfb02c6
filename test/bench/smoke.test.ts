import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { withDatabase } from '../setup/global-setup';

const run = promisify(execFile);

interface Figures {
  rps: number;
  p50: number;
  p99: number;
}

/** Numbers a report must carry for one server: throughput above zero, latencies as non-negative numbers. */
function expectFigures(figures: Figures | null): void {
  expect(figures).not.toBeNull();
  expect(figures!.rps).toBeGreaterThan(0);
  expect(figures!.p50).toBeGreaterThanOrEqual(0);
  expect(figures!.p99).toBeGreaterThanOrEqual(figures!.p50);
}

describe('npm run bench (smoke run: tiny dataset, half-second rounds)', () => {
  it('drives the product and both baselines through every scenario and prints every figure as one JSON document', async () => {
    const root = join(__dirname, '..', '..');
    const { stdout } = await run(
      process.execPath,
      ['-r', join(root, 'test/setup/swc-register.js'), join(root, 'bench/run.ts'), '--json'],
      {
        cwd: root,
        env: {
          ...process.env,
          DATABASE_URL: withDatabase(process.env.HMS_TEST_ADMIN_URL as string, 'postgres'),
          HMS_DATA_DIR: join(root, 'node_modules/.cache/hms-bench-smoke'),
          BENCH_PATIENTS: '150',
          BENCH_USERS: '3',
          BENCH_SECONDS: '0.5',
          BENCH_ROUNDS: '1',
          BENCH_WARMUP_SECONDS: '0',
          BENCH_SETTLE_SECONDS: '0.2',
          LOG_LEVEL: 'warn',
        },
        maxBuffer: 4 * 1024 * 1024,
        timeout: 150_000,
      },
    );

    // Exactly one JSON document on stdout: JSON.parse refuses anything before or after it.
    const report = JSON.parse(stdout);
    expect(report.scenarios.map((s: { id: number }) => s.id)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    for (const scenario of report.scenarios) {
      if (scenario.skipped) {
        // Only the per-user rate-limit scenario may be skipped, and only without Redis.
        expect(scenario.id).toBe(6);
        expect(process.env.REDIS_URL).toBeUndefined();
        expect(scenario.skipped).toMatch(/REDIS_URL/);
        continue;
      }
      expectFigures(scenario.product);
      expectFigures(scenario.baseline);
      expectFigures(scenario.cryptoFloor);
      expect(scenario.throughputRatio).toBeCloseTo(scenario.product.rps / scenario.baseline.rps, 6);
      expect(scenario.floorRatio).toBeCloseTo(scenario.product.rps / scenario.cryptoFloor.rps, 6);
      // A refused or failed request would be fast and meaningless: none may happen (RATE_LIMITED counted apart).
      expect(scenario.failures).toEqual({ product: 0, baseline: 0, cryptoFloor: 0 });
    }

    const [, , , , login, manyUsers, withLogins] = report.scenarios;
    expect(login.rawHashRate).toBeGreaterThan(0);
    expect(login.toHashRate).toBeCloseTo(login.product.rps / login.rawHashRate, 6);
    if (!manyUsers.skipped) {
      expect(manyUsers.limited).toBeGreaterThanOrEqual(0);
      expect(manyUsers.servedRps).toBeGreaterThan(0);
      expect(report.memory.rssAfterScenario6MiB).toBeGreaterThan(0);
    }
    expect(withLogins.toScenario1).toBeCloseTo(withLogins.product.rps / report.scenarios[0].product.rps, 6);
    expect(withLogins.loginsBeside.product).toBeGreaterThan(0);
    expect(report.memory.productRssAtEndMiB).toBeGreaterThan(0);

    expect(report.goals).toHaveLength(12);
    for (const goal of report.goals) expect(['PASS', 'MISS', 'SKIP']).toContain(goal.result);
    expect(report.machine.cpus).toBeGreaterThan(0);
    expect(report.settings.secondsPerRound).toBe(0.5);
  }, 180_000);
});
