import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

/** A test server in a process of its own (a second replica, or one that must receive real signals). */
export interface ChildApp {
  child: ChildProcess;
  url: string;
  pid: number;
}

/**
 * Starts `node -r swc-register <args...>` with environment overrides as JSON in HMS_CHILD_OVERRIDES; the script
 * prints one JSON line `{ url }` when it serves (see test/ratelimit/serve-app.ts). Rejects with its stderr if it
 * exits first. `label` names it in that error.
 */
export function startChildApp(args: string[], overrides: Record<string, string>, label: string): Promise<ChildApp> {
  const child = spawn(process.execPath, ['-r', join(__dirname, '..', 'setup', 'swc-register.js'), ...args], {
    env: { ...process.env, HMS_CHILD_OVERRIDES: JSON.stringify(overrides) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += String(chunk)));
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += String(chunk);
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) resolve({ child, pid: child.pid ?? -1, ...(JSON.parse(line) as { url: string }) });
    });
    child.on('exit', (code) => reject(new Error(`${label} exited (${code}): ${stderr}`)));
  });
}

/** Stops a child server with SIGTERM (it drains and closes) and waits for it to exit. */
export async function stopChildApp(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}
