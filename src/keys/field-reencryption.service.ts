import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';

import { ACTIVE_KEY_RECHECK_MS, type ActiveDataKey, type DataKeyService } from './data-key.service';
import { FieldResealService } from './field-reseal.service';
import { DEFAULT_BATCH_SIZE, type RotationOptions } from './key-rotation.options';
import { countSuperseded } from './key-status.service';
import { quote, SealedTableCatalog } from './sealed-table.catalog';

const NIL_UUID = '00000000-0000-0000-0000-000000000000';

/** Options of the field re-encryption (`--reencrypt-fields`). */
export interface ReencryptOptions extends RotationOptions {
  /** Subjects whose newest data key was created before this instant get a new version; default: now. */
  createdBefore?: string;
  /** Age a new version must reach before the one it replaces is destroyed (servers must have switched). */
  graceMs?: number;
  sleep?(ms: number): Promise<void>;
}

/** Outcome of re-encrypting sealed values under new data key versions. */
export interface ReencryptSummary {
  cutoff: string;
  subjects: number;
  newVersions: number;
  rows: number;
  values: number;
  /** Values that could not be opened (destroyed key, tampering), by `table.column`; left as they were. */
  unreadable: Map<string, number>;
  retired: number;
  /** Superseded versions left live because a value still references them or their successor is too young. */
  kept: number;
  stoppedEarly: boolean;
  elapsedMs: number;
}

interface HeadRow {
  id: string;
  subject_id: string;
  version: number;
  stale: boolean;
}

/**
 * Data key re-keying (`--reencrypt-fields`): new data key versions, re-sealing of every sealed value under
 * them, a recheck pass for late writes, and a sweep of superseded versions, in SKIP LOCKED batches.
 */
export class FieldReencryptionService {
  readonly #catalog: SealedTableCatalog;
  readonly #reseal: FieldResealService;

  constructor(
    private readonly orm: MikroORM,
    private readonly dataKeys: DataKeyService,
  ) {
    this.#catalog = new SealedTableCatalog(orm);
    this.#reseal = new FieldResealService(orm, dataKeys, this.#catalog);
  }

  /**
   * Gives every subject whose newest data key predates the cutoff a new version (wrapped under the active
   * master key), re-encrypts all of its sealed values under it, then destroys superseded versions that no
   * value references. Blind indexes do not change: they are keyed by the index key, not by data keys.
   */
  async reencryptFields(options: ReencryptOptions = {}): Promise<ReencryptSummary> {
    const started = Date.now();
    const em = this.orm.em.fork();
    const cutoff = options.createdBefore ?? (await em.execute<{ now: string }[]>('SELECT now()::text AS now'))[0].now;
    const graceMs = options.graceMs ?? 2 * ACTIVE_KEY_RECHECK_MS;
    const summary: ReencryptSummary = {
      cutoff,
      subjects: 0,
      newVersions: 0,
      rows: 0,
      values: 0,
      unreadable: new Map(),
      retired: 0,
      kept: 0,
      stoppedEarly: false,
      elapsedMs: 0,
    };
    const budget = { batches: 0, max: options.maxBatches };

    const total = await this.countHeads(em, cutoff);
    await this.reencryptPass('reencrypt', cutoff, total, options, budget, summary);
    if (!summary.stoppedEarly) {
      // Servers that cached the previous version keep sealing new writes under it until they re-check;
      // wait that out, re-encrypt whatever they wrote meanwhile, and only then destroy old versions.
      const wait = await this.graceRemainingMs(em, graceMs);
      if (wait > 0) await (options.sleep ?? delay)(wait);
      const stragglers = await this.countHeads(em, undefined);
      await this.reencryptPass('recheck', undefined, stragglers, options, budget, summary);
    }
    if (!summary.stoppedEarly) summary.retired = await this.retireUnreferenced(em, graceMs);
    summary.kept = await countSuperseded(em);
    summary.elapsedMs = Date.now() - started;
    return summary;
  }

  private async reencryptPass(
    phase: 'reencrypt' | 'recheck',
    cutoff: string | undefined,
    total: number,
    options: ReencryptOptions,
    budget: { batches: number; max?: number },
    summary: ReencryptSummary,
  ): Promise<void> {
    let after = NIL_UUID;
    let done = 0;
    for (;;) {
      if (budget.max !== undefined && budget.batches >= budget.max) {
        summary.stoppedEarly = true;
        return;
      }
      const batch = budget.batches + 1;
      const result = await this.orm.em.fork().transactional(async (tx) => {
        const heads = await this.lockHeads(tx, cutoff, after, options.batchSize ?? DEFAULT_BATCH_SIZE);
        if (heads.length === 0) return undefined;
        const newest = await this.newestKeys(tx, heads);
        try {
          const counts = await this.#reseal.reencryptRows(tx, newest);
          await options.beforeCommit?.(batch);
          return { heads, counts };
        } finally {
          for (const key of newest.values()) key.key.fill(0);
        }
      });
      if (!result) return;
      budget.batches = batch;
      after = result.heads[result.heads.length - 1].subject_id;
      for (const head of result.heads) this.dataKeys.invalidateSubject(head.subject_id);
      done += result.heads.length;
      summary.newVersions += result.heads.filter((h) => h.stale).length;
      summary.rows += result.counts.rows;
      summary.values += result.counts.values;
      // The recheck pass revisits subjects of the first pass: count them, and their unreadable values, once.
      if (phase === 'reencrypt') {
        summary.subjects += result.heads.length;
        for (const [column, n] of result.counts.unreadable) {
          summary.unreadable.set(column, (summary.unreadable.get(column) ?? 0) + n);
        }
      }
      options.onProgress?.({ phase, done, total: Math.max(total, done) });
    }
  }

  /**
   * Locks the newest live key of the next subjects that need work: a newest key older than the cutoff
   * (needs a new version), or superseded versions still live (values may still reference them).
   */
  private lockHeads(tx: EntityManager, cutoff: string | undefined, after: string, limit: number): Promise<HeadRow[]> {
    const stale = cutoff === undefined ? 'false' : 'dk.created_at < ?::timestamptz';
    const params = cutoff === undefined ? [after, limit] : [cutoff, after, cutoff, limit];
    return tx.execute<HeadRow[]>(
      `SELECT dk.id, dk.subject_id, dk.version, (${stale}) AS stale FROM data_keys dk
       WHERE ${HEAD_CONDITION} AND dk.subject_id > ?::uuid AND (${stale} OR ${HAS_LIVE_OLDER})
       ORDER BY dk.subject_id LIMIT ? FOR UPDATE OF dk SKIP LOCKED`,
      params,
    );
  }

  private async countHeads(em: EntityManager, cutoff: string | undefined): Promise<number> {
    const stale = cutoff === undefined ? 'false' : 'dk.created_at < ?::timestamptz';
    const rows = await em.execute<{ n: number }[]>(
      `SELECT count(*)::int AS n FROM data_keys dk WHERE ${HEAD_CONDITION} AND (${stale} OR ${HAS_LIVE_OLDER})`,
      cutoff === undefined ? [] : [cutoff],
    );
    return rows[0].n;
  }

  /** The key each locked subject's values end up under: a new version for stale heads, else the head. */
  private async newestKeys(tx: EntityManager, heads: HeadRow[]): Promise<Map<string, ActiveDataKey>> {
    const newest = new Map<string, ActiveDataKey>();
    try {
      const stale = heads.filter((h) => h.stale);
      const created = await this.dataKeys.createVersions(
        tx,
        stale.map((h) => ({ subjectId: h.subject_id, version: h.version + 1 })),
      );
      stale.forEach((head, i) => newest.set(head.subject_id, created[i]));
      const current = heads.filter((h) => !h.stale);
      const keys = await Promise.all(current.map((h) => this.dataKeys.keyById(tx, h.id)));
      current.forEach((head, i) => newest.set(head.subject_id, { id: head.id, key: new Uint8Array(keys[i]) }));
      return newest;
    } catch (error) {
      for (const key of newest.values()) key.key.fill(0);
      throw error;
    }
  }

  /**
   * Destroys superseded live versions that no sealed value references and whose successor is older
   * than the grace period. References are collected from every sealed column of every table (one scan
   * per table, one hash anti-join), so a value moved to another subject's row still keeps its key alive.
   */
  private async retireUnreferenced(em: EntityManager, graceMs: number): Promise<number> {
    const sources = this.#catalog.sealedTables().map(
      (t) =>
        `SELECT substr(v.envelope, 6, 36) AS key_id FROM ${quote(t.table)} r
         CROSS JOIN LATERAL (VALUES ${t.columns.map((c) => `(r.${quote(c.sql)})`).join(', ')}) AS v(envelope)
         WHERE v.envelope IS NOT NULL`,
    );
    const rows = await em.execute<{ id: string }[]>(
      `WITH referenced AS MATERIALIZED (${[...sources, 'SELECT NULL::text WHERE false'].join(' UNION ALL ')})
       UPDATE data_keys dk SET wrapped = NULL, destroyed_at = now()
       WHERE dk.wrapped IS NOT NULL
         AND EXISTS (SELECT 1 FROM data_keys n WHERE n.subject_id = dk.subject_id AND n.version > dk.version
                     AND n.wrapped IS NOT NULL AND n.created_at <= now() - ? * interval '1 millisecond')
         AND NOT EXISTS (SELECT 1 FROM referenced WHERE referenced.key_id = dk.id::text)
       RETURNING dk.id`,
      [graceMs],
    );
    for (const { id } of rows) this.dataKeys.cache.delete(id);
    return rows.length;
  }

  private async graceRemainingMs(em: EntityManager, graceMs: number): Promise<number> {
    const rows = await em.execute<{ wait: number | null }[]>(
      `SELECT (EXTRACT(EPOCH FROM max(dk.created_at) + ? * interval '1 millisecond' - clock_timestamp()) * 1000)::float8
         AS wait FROM data_keys dk WHERE ${HEAD_CONDITION} AND ${HAS_LIVE_OLDER}`,
      [graceMs],
    );
    return Math.min(graceMs, Math.max(0, Math.ceil(rows[0]?.wait ?? 0)));
  }
}

// `dk` is the subject's newest version and still live.
const HEAD_CONDITION =
  'dk.wrapped IS NOT NULL AND NOT EXISTS ' +
  '(SELECT 1 FROM data_keys n WHERE n.subject_id = dk.subject_id AND n.version > dk.version)';
// An older version of the same subject is still live (superseded, not yet retired).
const HAS_LIVE_OLDER =
  'EXISTS (SELECT 1 FROM data_keys o ' +
  'WHERE o.subject_id = dk.subject_id AND o.version < dk.version AND o.wrapped IS NOT NULL)';

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
