import 'reflect-metadata';

import { startTestApp } from '../support/app';

/**
 * A second API server in its own process, for the cross-process rate-limit test: the database URL
 * is the first argument, environment overrides come as JSON in HMS_CHILD_OVERRIDES. Prints the
 * server's URL as one JSON line, and closes on SIGTERM.
 */
async function main(databaseUrl: string): Promise<void> {
  const overrides = JSON.parse(process.env.HMS_CHILD_OVERRIDES ?? '{}') as Record<string, string>;
  const app = await startTestApp(overrides, { databaseUrl });
  process.on('SIGTERM', () => {
    app.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
  process.stdout.write(`${JSON.stringify({ url: app.url, pid: process.pid })}\n`);
}

main(process.argv[2]).catch((error: unknown) => {
  process.stderr.write(`test server failed to start: ${error instanceof Error ? error.message : 'unknown error'}\n`);
  process.exit(1);
});
