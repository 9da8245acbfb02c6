import type { Services } from '../services';
import { withServices, type Command, type CommandContext } from './cli-context';

const USAGE = 'usage: ueba:scan [--since ISO-8601] [--until ISO-8601] (default: the last 24 hours)';

/** `ueba:scan`: judges every calendar day overlapping [since, until) and raises each new finding once. */
export async function runUebaScan(services: Services, { args, out }: CommandContext): Promise<number> {
  const option = (name: string): string | undefined => {
    const at = args.indexOf(`--${name}`);
    return at === -1 ? undefined : (args[at + 1] ?? '');
  };
  const until = parseInstant(option('until')) ?? new Date();
  const since = parseInstant(option('since')) ?? new Date(until.getTime() - 86_400_000);
  if (Number.isNaN(since.getTime()) || Number.isNaN(until.getTime()) || since >= until) {
    out(USAGE);
    out('--since and --until must be timestamps, --since before --until');
    return 2;
  }

  const summary = await services.ueba.scan({ since, until });
  out(
    `ueba:scan: ${summary.fromDay}..${summary.toDay} (${summary.timeZone}): ${summary.userDays} user-days judged, ` +
      `${summary.findings} findings, ${summary.raised} new ANOMALY security events, ` +
      `${summary.alreadyRaised} raised by an earlier scan`,
  );
  return 0;
}

function parseInstant(value: string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  return new Date(Number.isNaN(Date.parse(value)) ? NaN : Date.parse(value));
}

/** Behaviour-analytics operator commands. */
export const UEBA_COMMANDS: Record<string, Command> = {
  'ueba:scan': {
    summary: 'behaviour analytics over the audit trail (--since, --until ISO; default last 24 h); idempotent',
    run: (context) => withServices((services) => runUebaScan(services, context), { migrate: false }),
  },
};
