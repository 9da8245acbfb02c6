import { withServices, type Command } from './cli-context';

/** `--expect <seq>:<hash>` from the arguments, or undefined; throws on a malformed value. */
function expectedHead(args: string[]): { seq: string; hash: string } | undefined {
  const at = args.indexOf('--expect');
  if (at < 0) return undefined;
  const match = /^(\d+):([0-9a-f]{64})$/.exec(args[at + 1] ?? '');
  if (!match) throw new Error('--expect takes <seq>:<hash>, as in the last checkpoint the SIEM received');
  return { seq: match[1], hash: match[2] };
}

export const AUDIT_COMMANDS: Record<string, Command> = {
  'audit:verify': {
    summary: 'walk the audit hash chain and its signed checkpoints; name the first broken row (--expect <seq>:<hash>)',
    async run({ args, out }) {
      const expect = expectedHead(args);
      const report = await withServices((s) => s.auditIntegrity.verify(s.orm.em.fork(), { expect }));
      if (!report.ok && report.broken) {
        const row = report.broken.id ? ` (id ${report.broken.id})` : '';
        out(`audit chain BROKEN at row ${report.broken.seq}${row}: ${report.broken.reason}`);
        out(`verified before it: ${report.rows} rows`);
        return 1;
      }
      out(
        `audit chain intact: ${report.rows} rows, head ${report.head ? `${report.head.seq}:${report.head.hash}` : '(empty)'}`,
      );
      out(`checkpoints matched: ${report.checkpointsChecked}`);
      if (report.legacyRows > 0) out(`${report.legacyRows} rows predate the chain and carry no hash (not verifiable)`);
      return 0;
    },
  },
  'audit:checkpoint': {
    summary: 'sign and store the audit chain head now, and send it to the SIEM',
    async run({ out }) {
      const checkpoint = await withServices((s) => s.auditIntegrity.checkpoint(s.orm.em.fork()));
      out(
        checkpoint
          ? `checkpoint at row ${checkpoint.seq}:${checkpoint.hash} (${checkpoint.rowCount} rows)`
          : 'nothing new to checkpoint',
      );
      return 0;
    },
  },
  'audit:public-key': {
    summary: 'print the Ed25519 public key that verifies audit checkpoints (base64url)',
    async run({ out }) {
      out(await withServices(async (s) => s.auditIntegrity.publicKey));
      return 0;
    },
  },
};
