import { join, relative, resolve } from 'node:path';

import { measureAll, observedPurposes, type Measurements } from '../compliance/measurements';
import { buildProcessingRegister, type ProcessingRegister } from '../compliance/processing-register';
import { buildReport, writeReport } from '../compliance/report';
import type { Config } from '../config/config';
import { withServices, type Command } from './cli-context';

/** Which database was measured, without user or password. */
function databaseLabel(config: Config): string {
  if (!config.database.url) return `the embedded PostgreSQL under ${config.dataDir}`;
  const url = new URL(config.database.url);
  return `PostgreSQL at ${url.host}${url.pathname}`;
}

export const COMPLIANCE_COMMANDS: Record<string, Command> = {
  'compliance:report': {
    summary:
      'write reports/compliance-report.md and .html: controls with the results of the last test run, and measurements (--out DIR instead of reports/; --strict: exit 1 unless every control passed)',
    async run({ args, out }) {
      const root = process.cwd();
      let measurements: Measurements | { error: string };
      let register: ProcessingRegister | undefined;
      try {
        [measurements, register] = await withServices(
          async (s) => [
            await measureAll(
              { orm: s.orm, ring: s.dataKeys.ring, integrity: s.auditIntegrity },
              root,
              databaseLabel(s.config),
            ),
            buildProcessingRegister(root, s.config, await observedPurposes(s.orm.em.fork())),
          ],
          { migrate: true },
        );
      } catch (error) {
        // The controls are still reported; the measurements say why they are missing.
        measurements = {
          error: `the database could not be measured: ${error instanceof Error ? error.message : 'unknown error'}`,
        };
      }
      const report = buildReport({ root, measurements, register });
      const at = args.indexOf('--out');
      const files = writeReport(at >= 0 && args[at + 1] ? resolve(args[at + 1]) : join(root, 'reports'), report);
      out(`wrote ${relative(root, files.markdown)} and ${relative(root, files.html)}`);
      out(
        Object.entries(report.summary)
          .map(([status, n]) => `${status}: ${n}`)
          .join(', '),
      );
      for (const note of report.results.notes) out(`test results: ${note}`);
      if ('error' in measurements) out(`measurements: ${measurements.error}`);
      const passing = report.controls.every((c) => c.status === 'PASSED' || c.status === 'PARTIAL');
      return args.includes('--strict') && !passing ? 1 : 0;
    },
  },
};
