import { fork, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { freePort } from '../src/db/embedded-postgres';

/** A server the benchmark started as a child process, with its GraphQL URL. */
export interface BenchServer {
  name: string;
  url: string;
  pid: number;
  child: ChildProcess;
  stop(): Promise<void>;
}

// Compiled (dist/bench/*.js) or run from source through the swc hook (the smoke test): children follow suit.
const EXT = __filename.endsWith('.ts') ? '.ts' : '.js';

/** Path of a module beside the benchmark, in the same form (.ts or .js) as this file. */
export function benchModule(...parts: string[]): string {
  return join(__dirname, ...parts) + EXT;
}

async function waitHealthy(url: string, child: ChildProcess, name: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${name} exited with code ${child.exitCode} before it was ready`);
    try {
      const res = await fetch(`${url}/healthz`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${name} did not become ready within ${timeoutMs / 1000} s`);
}

/**
 * Starts `module` as a child process on a free loopback port with `env`, its output appended to `logFile`
 * (never the benchmark's stdout), and waits for /healthz. `nodeArgs` go to node (e.g. --cpu-prof).
 */
export async function startServer(
  name: string,
  module: string,
  env: NodeJS.ProcessEnv,
  logFile: string,
  nodeArgs: string[] = [],
): Promise<BenchServer> {
  const port = await freePort();
  const fd = openSync(logFile, 'a');
  const child = fork(module, [], {
    env: { ...env, PORT: String(port), HOST: '127.0.0.1' },
    execArgv: [...process.execArgv.filter((a) => !a.startsWith('--cpu-prof')), ...nodeArgs],
    stdio: ['ignore', fd, fd, 'ipc'],
  });
  closeSync(fd);
  const base = `http://127.0.0.1:${port}`;
  await waitHealthy(base, child, name);
  return {
    name,
    url: `${base}/graphql`,
    pid: child.pid as number,
    child,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        const force = setTimeout(() => child.kill('SIGKILL'), 20_000);
        child.once('exit', () => {
          clearTimeout(force);
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}

/** Resident memory of a process in MiB, from /proc/<pid>/status (Linux); null elsewhere. */
export function rssMiB(pid: number): number | null {
  try {
    const match = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/** The load generator: a separate process running autocannon, so its CPU is not the servers'. */
export class LoadGenerator {
  private readonly child: ChildProcess;
  private next = 0;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  constructor() {
    this.child = fork(benchModule('load'), [], {
      execArgv: process.execArgv.filter((a) => !a.startsWith('--cpu-prof')),
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    this.child.on('message', (m: { id: number; results?: unknown; error?: string }) => {
      const w = this.waiting.get(m.id);
      this.waiting.delete(m.id);
      if (m.error) w?.reject(new Error(m.error));
      else w?.resolve(m.results);
    });
    this.child.on('exit', (code) => {
      for (const w of this.waiting.values()) w.reject(new Error(`load generator exited (${code})`));
      this.waiting.clear();
    });
  }

  /** Runs the specs concurrently in the load process and returns one result per spec. */
  run<T>(specs: unknown[]): Promise<T[]> {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ id, specs });
    });
  }

  close(): void {
    this.child.disconnect();
  }
}
