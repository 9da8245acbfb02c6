import type { RotationProgress } from '../keys/key-rotation.options';
import { KeyRotationService } from '../keys/key-rotation.service';
import { checkPhiClassification, discoverEntityMetadata, type PhiCheckEntry } from '../keys/phi-check';
import type { Services } from '../services';
import { withServices, type Command, type CommandContext } from './cli-context';

/** Where progress goes: stderr in the CLI, a fake stream in tests. */
export interface ProgressStream {
  isTTY?: boolean;
  write(text: string): unknown;
}

type KeyCommand = (services: Services, context: CommandContext, progress: ProgressStream) => Promise<number>;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const keysStatus: KeyCommand = async (services, { out }) => {
  const status = await new KeyRotationService(services.orm, services.dataKeys).status();
  out(`master key versions (active: ${status.activeVersion})`);
  out(`  ${'version'.padEnd(8)} ${'live keys'.padStart(10)} ${'destroyed'.padStart(10)}  retire?`);
  for (const v of status.versions) {
    const verdict = v.retirable ? `yes: ${v.reason}` : `no: ${v.reason}`;
    const counts = `${String(v.live).padStart(10)} ${String(v.destroyed).padStart(10)}`;
    out(`  ${String(v.version).padEnd(8)} ${counts}  ${verdict}`);
  }
  out(
    `data keys: ${status.live} live, ${status.destroyed} destroyed, ` +
      `${status.superseded} superseded versions not yet retired`,
  );
  return 0;
};

/** Key operations are security events (stored, queryable, exported to the SIEM): counts and ids only. */
async function keyEvent(
  services: Services,
  eventType: 'KEY_ROTATION' | 'KEY_SHRED',
  severity: 'MEDIUM' | 'HIGH',
  details: Record<string, string | number>,
): Promise<void> {
  await services.audit.securityEvent(services.orm.em.fork(), { eventType, severity, details });
}

const keysRotate: KeyCommand = async (services, { args, out }, stream) => {
  const batchSize = intOption(args, '--batch-size');
  if (batchSize === 0) throw new UsageError('--batch-size must be at least 1');
  const maxBatches = intOption(args, '--max-batches');
  const rotation = new KeyRotationService(services.orm, services.dataKeys);
  const active = services.dataKeys.ring.activeVersion;
  const newer = (await rotation.status()).versions.filter((v) => v.version > active && v.live > 0);
  if (newer.length > 0) {
    const list = newer.map((v) => `${v.live} under version ${v.version}`).join(', ');
    out(
      'keys:rotate: refusing: data keys are wrapped by a master key version newer than ' +
        `this process's active ${active} (${list}).`,
    );
    out('  Run it with the MASTER_KEYS and MASTER_KEY_ACTIVE the servers use.');
    return 1;
  }
  const progress = new ProgressPrinter(stream);
  const rewrap = await rotation.rewrapAll({ batchSize, maxBatches, onProgress: (p) => progress.update(p) });
  progress.finish();
  if (rewrap.rewrapped > 0) {
    await keyEvent(services, 'KEY_ROTATION', 'MEDIUM', {
      phase: 'rewrap',
      activeVersion: active,
      rewrapped: rewrap.rewrapped,
      remaining: rewrap.remaining,
    });
  }

  const skipped = `${rewrap.destroyedSkipped} destroyed ${plural(rewrap.destroyedSkipped, 'key')} skipped`;
  if (rewrap.rewrapped === 0 && rewrap.remaining === 0) {
    out(`keys:rotate: nothing to do: every live data key is wrapped by master key version ${active} (${skipped})`);
  } else {
    out(
      `keys:rotate: re-wrapped ${rewrap.rewrapped} data keys under master key version ${active} ` +
        `in ${seconds(rewrap.elapsedMs)}`,
    );
    const byVersion = [...rewrap.byVersion].sort((a, b) => a[0] - b[0]);
    for (const [version, n] of byVersion) out(`  from version ${version}: ${n}`);
    out(`  ${skipped}`);
  }
  if (rewrap.newerThanActive > 0) {
    out(
      `  warning: ${rewrap.newerThanActive} data keys were wrapped meanwhile by a version newer than ${active}: ` +
        'is MASTER_KEY_ACTIVE the same on every instance?',
    );
  }
  if (rewrap.stoppedEarly) {
    out(`  stopped after ${maxBatches} batches as asked; ${rewrap.remaining} keys remain: run keys:rotate again`);
    return 0;
  }
  if (rewrap.remaining > 0) {
    out(
      `  ${rewrap.remaining} keys were locked by another run or writer, or written meanwhile under an old version: ` +
        'run keys:rotate again',
    );
    return 1;
  }
  if (!args.includes('--reencrypt-fields')) return 0;
  return reencrypt(services, rotation, args, out, stream);
};

async function reencrypt(
  services: Services,
  rotation: KeyRotationService,
  args: string[],
  out: (line: string) => void,
  stream: ProgressStream,
): Promise<number> {
  const createdBefore = stringOption(args, '--created-before');
  if (createdBefore !== undefined && Number.isNaN(Date.parse(createdBefore))) {
    throw new UsageError('--created-before must be a timestamp');
  }
  const graceSeconds = intOption(args, '--grace-seconds');
  const progress = new ProgressPrinter(stream);
  const summary = await rotation.reencryptFields({
    batchSize: intOption(args, '--batch-size'),
    maxBatches: intOption(args, '--max-batches'),
    createdBefore,
    graceMs: graceSeconds === undefined ? undefined : graceSeconds * 1000,
    onProgress: (p) => progress.update(p),
  });
  progress.finish();
  if (summary.subjects > 0 || summary.retired > 0) {
    await keyEvent(services, 'KEY_ROTATION', 'MEDIUM', {
      phase: 'reencrypt-fields',
      subjects: summary.subjects,
      values: summary.values,
      retired: summary.retired,
    });
  }

  const unreadable = [...summary.unreadable.values()].reduce((a, b) => a + b, 0);
  if (summary.subjects === 0 && summary.values === 0 && summary.retired === 0) {
    const what = "nothing to do: every subject's newest data key was created after";
    out(`keys:rotate --reencrypt-fields: ${what} ${summary.cutoff}`);
  } else {
    out(
      `keys:rotate --reencrypt-fields: ${summary.subjects} subjects, ${summary.newVersions} new data key versions, ` +
        `${summary.values} values in ${summary.rows} rows re-encrypted, ${summary.retired} old versions destroyed ` +
        `in ${seconds(summary.elapsedMs)}`,
    );
  }
  out(
    `  cutoff: ${summary.cutoff} ` +
      `(to resume after a crash without re-keying finished subjects: --created-before '${summary.cutoff}')`,
  );
  for (const [column, n] of summary.unreadable) out(`  unreadable values left as they were: ${column} ${n}`);
  if (summary.kept > 0) {
    out(`  ${summary.kept} superseded versions kept (still referenced, or too recent to retire): run again later`);
  }
  if (summary.stoppedEarly) out('  stopped early as asked: run again to finish');
  return unreadable > 0 ? 1 : 0;
}

const keysRetire: KeyCommand = async (services, { args, out }) => {
  const version = intOption(args, '--version');
  if (version === undefined) throw new UsageError('usage: keys:retire --version <N>');
  const status = await new KeyRotationService(services.orm, services.dataKeys).status();
  const v = status.versions.find((s) => s.version === version);
  if (v?.active) {
    out(`keys:retire: refusing: version ${version} is the active master key version; activate a newer one first`);
    return 1;
  }
  if (v && v.live > 0) {
    out(`keys:retire: refusing: master key version ${version} still wraps ${v.live} data keys; run keys:rotate first`);
    return 1;
  }
  if (!v?.configured) {
    out(`keys:retire: version ${version} is not in MASTER_KEYS and no data key is wrapped by it: nothing to remove`);
    return 0;
  }
  out(
    `keys:retire: no data key is wrapped by master key version ${version}: it is safe to remove it from MASTER_KEYS ` +
      `once no instance runs with MASTER_KEY_ACTIVE=${version}. ` +
      'This command changes nothing; the configuration is yours.',
  );
  return 0;
};

const keysShred: KeyCommand = async (services, { args, out }) => {
  const subject = stringOption(args, '--subject')?.toLowerCase();
  if (subject === undefined || !UUID.test(subject)) throw new UsageError('usage: keys:shred --subject <uuid> --yes');
  const em = services.orm.em.fork();
  const [{ total }] = await em.execute<{ total: number }[]>(
    'SELECT count(*)::int AS total FROM data_keys WHERE subject_id = ?::uuid',
    [subject],
  );
  if (total === 0) {
    out(`keys:shred: subject ${subject} has no data keys (never written, or a wrong id); nothing done`);
    return 1;
  }
  if (!args.includes('--yes')) {
    out(`keys:shred: this destroys every data key of subject ${subject}: its sealed values become unreadable`);
    out('  everywhere, backups included, and it cannot be undone. Run again with --yes to proceed.');
    return 1;
  }
  const destroyed = await services.dataKeys.shred(em, subject);
  if (destroyed > 0) await keyEvent(services, 'KEY_SHRED', 'HIGH', { subjectId: subject, destroyed });
  if (destroyed === 0) {
    out(`keys:shred: subject ${subject} was already shredded`);
    return 0;
  }
  out(
    `keys:shred: destroyed ${destroyed} data ${plural(destroyed, 'key')} of subject ${subject}; ` +
      'its sealed values can no longer be decrypted.',
  );
  // Known gap: other processes' DataKeyCache is not invalidated across processes (see DataKeyService).
  out(
    '  Running servers may hold the unwrapped key in memory until their data key cache expires (5 minutes): ' +
      'restart them to end that now.',
  );
  return 0;
};

/** `phi:check`: prints every persisted property's classification; exit 1 on unmarked PHI-looking ones. */
export async function phiCheck({ out }: CommandContext): Promise<number> {
  const report = checkPhiClassification(await discoverEntityMetadata());
  const width = Math.max(...report.entries.map((e) => e.property.length));
  let entity = '';
  for (const e of report.entries) {
    if (e.entity !== entity) {
      entity = e.entity;
      out(`${e.entity} (${e.table})`);
    }
    out(`  ${e.property.padEnd(width)}  ${label(e).padEnd(16)} ${detailOf(e)}`);
  }
  for (const e of report.failures) out(`FAIL ${e.entity}.${e.property}: ${e.failure}`);
  const counts = new Map(['PHI', 'sealed', 'blind-index', 'not-PHI', 'structural', 'UNCLASSIFIED'].map((k) => [k, 0]));
  for (const e of report.entries) {
    const kind = label(e).split(' ')[0];
    counts.set(kind, (counts.get(kind) ?? 0) + 1);
  }
  const entities = new Set(report.entries.map((e) => e.entity)).size;
  out(
    `phi:check: ${report.entries.length} properties in ${entities} entities: ` +
      `${[...counts].map(([k, n]) => `${n} ${k}`).join(', ')}; ` +
      `${report.failures.length} ${plural(report.failures.length, 'failure')}`,
  );
  return report.failures.length > 0 ? 1 : 0;
}

function detailOf(e: PhiCheckEntry): string {
  if (e.classification === 'phi') return '';
  if (e.classification === 'unclassified' && e.failure === undefined) {
    return 'no mark and no rule; does not look like PHI';
  }
  return e.detail;
}

function label(e: PhiCheckEntry): string {
  if (e.failure !== undefined && e.classification === 'unclassified') return 'UNCLASSIFIED';
  switch (e.classification) {
    case 'phi':
      return `PHI ${e.detail}`;
    case 'not-phi':
      return 'not-PHI';
    case 'blind-index':
      return 'blind-index';
    case 'unclassified':
      return 'UNCLASSIFIED';
    default:
      return e.classification;
  }
}

const IMPLEMENTATIONS: Record<string, { summary: string; run: KeyCommand }> = {
  'keys:status': { summary: 'data keys per master key version, and which versions can be retired', run: keysStatus },
  'keys:rotate': {
    summary: 're-wrap data keys under the active master key (--reencrypt-fields: also re-key every subject)',
    run: keysRotate,
  },
  'keys:retire': {
    summary: 'check that master key version N (--version N) can be removed from MASTER_KEYS',
    run: keysRetire,
  },
  'keys:shred': { summary: 'crypto-shred one data subject (--subject <uuid> --yes)', run: keysShred },
};

/** Runs a key command against given services (the CLI opens its own; tests pass theirs). */
export async function runKeyCommand(
  name: string,
  services: Services,
  context: CommandContext,
  progress: ProgressStream = process.stderr,
): Promise<number> {
  const command = IMPLEMENTATIONS[name];
  if (!command) throw new Error(`unknown key command ${name}`);
  try {
    return await command.run(services, context, progress);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    context.out(error.message);
    return 2;
  }
}

/** Key and PHI operator commands: keys:rotate, keys:status, keys:retire, keys:shred, phi:check. */
export const KEY_COMMANDS: Record<string, Command> = {
  ...Object.fromEntries(
    Object.entries(IMPLEMENTATIONS).map(([name, { summary }]) => [
      name,
      {
        summary,
        // No implicit migration: an operator command must not change the schema behind the operator's back.
        run: (context: CommandContext) =>
          withServices((services) => runKeyCommand(name, services, context), { migrate: false }),
      },
    ]),
  ),
  'phi:check': {
    summary: 'classify every persisted property (PHI, sealed, not PHI, structural); fail on unmarked PHI',
    run: phiCheck,
  },
};

/** A progress bar on a terminal, a plain line at most once a second otherwise. */
class ProgressPrinter {
  #last = 0;
  #open = false;

  constructor(private readonly stream: ProgressStream) {}

  update({ phase, done, total }: RotationProgress): void {
    const now = Date.now();
    const final = done >= total;
    if (!final && now - this.#last < (this.stream.isTTY ? 100 : 1000)) return;
    this.#last = now;
    const percent = total === 0 ? 100 : Math.floor((done / total) * 100);
    const what = PHASES[phase];
    if (this.stream.isTTY) {
      const filled = Math.round(percent / 5);
      this.stream.write(`\r${what} [${'#'.repeat(filled)}${'.'.repeat(20 - filled)}] ${done}/${total} ${percent}%`);
      this.#open = true;
    } else {
      this.stream.write(`${what}: ${done}/${total} (${percent}%)\n`);
    }
  }

  finish(): void {
    if (this.#open) this.stream.write('\n');
    this.#open = false;
  }
}

const PHASES: Record<RotationProgress['phase'], string> = {
  rewrap: 're-wrapping data keys',
  reencrypt: 're-encrypting subjects',
  recheck: 'rechecking for late writes',
};

class UsageError extends Error {}

function stringOption(args: string[], name: string): string | undefined {
  const inline = args.find((a) => a.startsWith(`${name}=`));
  if (inline) return inline.slice(name.length + 1);
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const value = args[i + 1];
  if (value === undefined || value.startsWith('--')) throw new UsageError(`${name} needs a value`);
  return value;
}

function intOption(args: string[], name: string): number | undefined {
  const text = stringOption(args, name);
  if (text === undefined) return undefined;
  if (!/^[0-9]{1,9}$/.test(text)) throw new UsageError(`${name} must be a non-negative integer`);
  return Number(text);
}

function plural(n: number, word: string): string {
  return n === 1 ? word : `${word}s`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
