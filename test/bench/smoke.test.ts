import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { withDatabase } from '../setup/global-setup';

const run = promisify(execFile);

describe('npm run bench', () => {
  it('runs briefly and reports every figure as JSON', async () => {
    const root = join(__dirname, '..', '..');
    const { stdout } = await run(
      process.execPath,
      ['-r', join(root, 'test/setup/swc-register.js'), join(root, 'bench/run.ts'), '--json'],
      {
        cwd: root,
        env: {
          ...process.env,
          NODE_ENV: 'development',
          BENCH_SECONDS: '0.2',
          DATABASE_URL: withDatabase(process.env.HMS_TEST_ADMIN_URL as string, 'postgres'),
          HMS_DATA_DIR: join(root, 'node_modules/.cache/hms-bench-smoke'),
          LOG_LEVEL: 'silent',
        },
        maxBuffer: 1024 * 1024,
      },
    );

    const figures = JSON.parse(stdout);
    for (const name of [
      'encryptCachedPerSec',
      'decryptCachedPerSec',
      'encryptUncachedPerSec',
      'decryptUncachedPerSec',
    ]) {
      expect(figures.crypto[name]).toBeGreaterThan(0);
    }
    for (const name of [
      'patients100DecryptedPerSec',
      'patients100ReadNotDecryptedPerSec',
      'ratioDecryptedToReadOnly',
    ]) {
      expect(figures.patients[name]).toBeGreaterThan(0);
    }
  }, 120_000);
});
