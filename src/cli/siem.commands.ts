import type { Services } from '../services';
import { withServices, type Command, type CommandContext } from './cli-context';

/** Undelivered rows per stream and sink, and the age of the oldest, for `siem:flush` and `siem:status`. */
async function backlog(services: Services, { out }: CommandContext): Promise<number> {
  const rows = await services.orm.em
    .fork()
    .execute<{ stream: string; http: string; syslog: string; oldest: Date | null; last_error: string | null }[]>(
      `SELECT stream,
            count(*) FILTER (WHERE delivered_at IS NULL)::text AS http,
            count(*) FILTER (WHERE syslog_delivered_at IS NULL)::text AS syslog,
            min(created_at) FILTER (WHERE delivered_at IS NULL OR syslog_delivered_at IS NULL) AS oldest,
            (array_agg(last_error ORDER BY id) FILTER (WHERE last_error IS NOT NULL AND
              (delivered_at IS NULL OR syslog_delivered_at IS NULL)))[1] AS last_error
     FROM siem_outbox GROUP BY stream ORDER BY stream`,
    );
  const sinks = services.siem.sinkNames;
  if (sinks.length === 0)
    out('no SIEM configured (SIEM_ENDPOINT, SIEM_SYSLOG_URL): the outbox is kept for the retention window only');
  let pending = 0;
  for (const row of rows) {
    const counts = sinks.map((sink) => `${sink} ${sink === 'http' ? row.http : row.syslog}`);
    for (const sink of sinks) pending += Number(sink === 'http' ? row.http : row.syslog);
    const oldest = row.oldest ? ` oldest ${new Date(row.oldest).toISOString()}` : '';
    const error = row.last_error ? ` last error ${row.last_error}` : '';
    out(`  ${row.stream.padEnd(10)} undelivered: ${counts.join(', ') || '-'}${oldest}${error}`);
  }
  return pending;
}

export const SIEM_COMMANDS: Record<string, Command> = {
  'siem:flush': {
    summary: 'deliver the SIEM outbox once, in order, and prune past retention; exit 1 when a backlog remains',
    async run(context) {
      return withServices(async (services) => {
        const report = await services.siem.drainOnce();
        for (const [lane, n] of Object.entries(report.delivered)) context.out(`delivered ${n} to ${lane}`);
        for (const [lane, code] of Object.entries(report.failed)) context.out(`failed ${lane}: ${code}`);
        for (const lane of report.busy) context.out(`skipped ${lane}: another exporter holds it`);
        const pending = await backlog(services, context);
        return pending > 0 && services.siem.sinkNames.length > 0 ? 1 : 0;
      });
    },
  },
  'siem:status': {
    summary: 'undelivered SIEM outbox rows per stream and sink, the oldest, and the last delivery error',
    async run(context) {
      return withServices(async (services) => {
        await backlog(services, context);
        return 0;
      });
    },
  },
};
