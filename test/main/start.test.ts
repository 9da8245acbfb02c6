import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Starts the compiled server as `npm start` does (node dist/src/main.js) and talks to it over HTTP. The build goes
// to a directory of this run, not dist/, so a build running elsewhere cannot swap files under the server; it sits
// inside node_modules/ so the compiled files resolve their dependencies as dist/ would.
const ROOT = join(__dirname, '..', '..');
const BUILD_DIR = join(
  ROOT,
  'node_modules',
  '.cache',
  `hms-start-test-${process.pid}-${randomBytes(3).toString('hex')}`,
);
const MAIN = join(BUILD_DIR, 'src', 'main.js');

interface Started {
  child: ChildProcess;
  stdout: string[];
  stderr: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Spawns the server with exactly `env` (plus PATH), in `cwd`. */
function startServer(env: Record<string, string>, cwd: string): Started {
  const child = spawn(process.execPath, [MAIN], {
    cwd,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
    stdio: 'pipe',
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  let partial = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    const lines = (partial + String(chunk)).split('\n');
    partial = lines.pop() ?? '';
    stdout.push(...lines.filter(Boolean));
  });
  child.stderr?.on('data', (chunk: Buffer) => stderr.push(String(chunk)));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, stdout, stderr, exited };
}

/** Polls the server's JSON log for the "ready" line and returns the GraphQL URL it names. */
async function readyUrl(started: Started, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    for (const line of started.stdout) {
      const entry = JSON.parse(line) as { msg?: string; url?: string };
      if (entry.msg === 'HMS API ready' && entry.url) return entry.url;
    }
    if (started.child.exitCode !== null) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`server not ready within ${timeoutMs} ms; stderr: ${started.stderr.join('')}`);
}

/** PIDs of PostgreSQL servers whose data directory is `databaseDir`. */
function postgresFor(databaseDir: string): number[] {
  const ps = spawnSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' });
  return ps.stdout
    .split('\n')
    .filter((line) => line.includes('postgres') && line.includes(`-D ${databaseDir} `))
    .map((line) => Number(line.trim().split(/\s+/)[0]));
}

const tempDirs: string[] = [];
function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

beforeAll(() => {
  const build = spawnSync(
    process.execPath,
    [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json', '--outDir', BUILD_DIR],
    {
      cwd: ROOT,
      encoding: 'utf8',
    },
  );
  if (build.status !== 0) throw new Error(`build failed:\n${build.stdout}${build.stderr}`);
}, 180_000);

afterAll(() => {
  rmSync(BUILD_DIR, { recursive: true, force: true });
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

describe('npm start without DATABASE_URL', () => {
  let server: Started | undefined;
  let dataDir: string;

  afterAll(async () => {
    // Only if a test failed half-way: the server this file started, by its own pid, then its cluster.
    if (server && server.child.exitCode === null && server.child.signalCode === null) {
      server.child.kill('SIGTERM');
      const timer = setTimeout(() => server?.child.kill('SIGKILL'), 10_000);
      await server.exited;
      clearTimeout(timer);
    }
    if (dataDir) for (const pid of postgresFor(join(dataDir, 'pg'))) process.kill(pid, 'SIGINT');
  });

  it('serves GraphQL on an embedded PostgreSQL under HMS_DATA_DIR, then shuts down cleanly on SIGTERM', async () => {
    dataDir = tempDir('hms-start-data-');
    const cwd = tempDir('hms-start-cwd-');
    server = startServer(
      { NODE_ENV: 'development', HMS_DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info' },
      cwd,
    );

    const url = await readyUrl(server, 30_000);
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ health }' }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ data: { health: 'ok' } });
    expect(new URL(url).hostname).toBe('127.0.0.1');

    // Data and generated secrets live where HMS_DATA_DIR says, and nothing is written to the working directory.
    expect(existsSync(join(dataDir, 'pg', 'PG_VERSION'))).toBe(true);
    expect(statSync(join(dataDir, 'secrets.json')).mode & 0o777).toBe(0o600);
    expect(readdirSync(cwd)).toEqual([]);
    const clusters = postgresFor(join(dataDir, 'pg'));
    expect(clusters).toHaveLength(1);

    server.child.kill('SIGTERM');
    const { code, signal } = await server.exited;

    expect({ code, signal }).toEqual({ code: 0, signal: null });
    expect(server.stdout.some((line) => JSON.parse(line).msg === 'stopped')).toBe(true);
    expect(postgresFor(join(dataDir, 'pg'))).toEqual([]);
  }, 60_000);

  it('starts again on the same data directory, reusing its cluster and secrets', async () => {
    const secretsBefore = statSync(join(dataDir, 'secrets.json')).mtimeMs;
    server = startServer(
      { NODE_ENV: 'development', HMS_DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info' },
      tempDir('hms-start-cwd-'),
    );

    const url = await readyUrl(server, 30_000);
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ health }' }),
    });
    server.child.kill('SIGTERM');
    const { code } = await server.exited;

    expect(res.status).toBe(200);
    expect(code).toBe(0);
    expect(statSync(join(dataDir, 'secrets.json')).mtimeMs).toBe(secretsBefore);
    const lines = server.stdout.map((line) => JSON.parse(line) as { msg?: string });
    expect(lines.some((entry) => entry.msg?.startsWith('generated development secrets'))).toBe(false);
    expect(lines.some((entry) => entry.msg === 'initialising embedded PostgreSQL cluster')).toBe(false);
  }, 60_000);
});

describe('npm start in production', () => {
  it('refuses to start without secrets, naming every missing variable', async () => {
    const dataDir = tempDir('hms-start-prod-');
    const started = startServer({ NODE_ENV: 'production', HMS_DATA_DIR: dataDir }, dataDir);
    const { code } = await started.exited;
    const stderr = started.stderr.join('');

    expect(code).not.toBe(0);
    for (const name of [
      'DATABASE_URL',
      'TOKEN_SIGNING_SECRET',
      'MASTER_KEYS',
      'BLIND_INDEX_KEY',
      'AUDIT_HMAC_KEY',
      'DATABASE_PASSWORD',
    ]) {
      expect(stderr).toContain(name);
    }
    expect(readdirSync(dataDir)).toEqual([]);
  });

  it('refuses weak secrets without printing any of them', async () => {
    const values = {
      TOKEN_SIGNING_SECRET: 'changeme-changeme-changeme-changeme',
      // A deliberately weak, fake password: the start-up check must refuse it.
      // secretlint-disable-next-line
      DATABASE_URL: 'postgresql://hms:Passw0rd@db.hospital.test:5432/hms',
      MASTER_KEYS: `1:${Buffer.alloc(32).toString('base64')}`,
      BLIND_INDEX_KEY: Buffer.from('a'.repeat(32)).toString('base64'),
      AUDIT_HMAC_KEY: randomBytes(16).toString('base64'),
      REDIS_URL: 'redis://:letmein@cache.hospital.test:6379',
    };
    const started = startServer(
      { NODE_ENV: 'production', HMS_DATA_DIR: tempDir('hms-start-prod-'), ...values },
      tmpdir(),
    );
    const { code } = await started.exited;
    const output = started.stderr.join('') + started.stdout.join('\n');

    expect(code).not.toBe(0);
    for (const name of [
      'TOKEN_SIGNING_SECRET',
      'DATABASE_PASSWORD',
      'MASTER_KEYS',
      'BLIND_INDEX_KEY',
      'AUDIT_HMAC_KEY',
      'REDIS_PASSWORD',
    ]) {
      expect(output).toContain(name);
    }
    for (const secret of [
      'changeme-changeme',
      'Passw0rd',
      'letmein',
      values.MASTER_KEYS,
      values.BLIND_INDEX_KEY,
      values.AUDIT_HMAC_KEY,
    ]) {
      expect(output).not.toContain(secret);
    }
  });
});
