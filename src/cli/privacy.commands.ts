import type { SweepReport } from '../privacy/retention.service';
import { withServices, type Command } from './cli-context';

/** `--batch-size N` from the arguments, or undefined; throws on a malformed value. */
function batchSize(args: string[]): number | undefined {
  const at = args.indexOf('--batch-size');
  if (at < 0) return undefined;
  const value = Number(args[at + 1]);
  if (!Number.isInteger(value) || value < 1 || value > 10_000) throw new Error('--batch-size takes 1 to 10000');
  return value;
}

/** The report as printed: one line per category, counts only (never ids or values). */
export function formatSweepReport(report: SweepReport): string[] {
  const verb = report.dryRun ? 'would act on' : 'done';
  const lines = [
    `retention sweep ${report.dryRun ? '(dry run: nothing changed)' : ''} at ${report.now}`.replace('  ', ' '),
  ];
  for (const l of report.lines) {
    const done = report.dryRun ? '' : `, ${verb}: ${l.done}`;
    lines.push(`  ${l.category} (${l.rule}): expired ${l.expired} ${l.unit}${done}`);
  }
  lines.push('  audit trail: kept (append-only; the sweep never touches it)');
  if (!report.dryRun) lines.push(`batches committed: ${report.batches}`);
  return lines;
}

export const PRIVACY_COMMANDS: Record<string, Command> = {
  'retention:sweep': {
    summary:
      'delete or crypto-shred data past its retention period, in batches, resumably (--dry-run: counts only; --batch-size N)',
    async run({ args, out }) {
      const dryRun = args.includes('--dry-run');
      const size = batchSize(args);
      const report = await withServices((s) => s.retention.sweep({ dryRun, batchSize: size }));
      for (const line of formatSweepReport(report)) out(line);
      return 0;
    },
  },
  'erasure:public-key': {
    summary: 'print the Ed25519 public key that verifies erasure certificates (base64url)',
    async run({ out }) {
      out(await withServices(async (s) => s.erasure.publicKey));
      return 0;
    },
  },
};
