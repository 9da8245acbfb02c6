import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';

import { CryptoError, envelopeKeyId, openField, sealField } from '../crypto';
import { phiFieldsOf, sealedEntities, subjectPropertyOf } from '../phi/phi.decorator';
import { ACTIVE_KEY_RECHECK_MS, type ActiveDataKey, type DataKeyService } from './data-key.service';

/** Data keys (or subjects) handled per transaction. */
export const DEFAULT_BATCH_SIZE = 500;

const NIL_UUID = '00000000-0000-0000-0000-000000000000';

/** Where a rotation stands, for progress display. */
export interface RotationProgress {
  phase: 'rewrap' | 'reencrypt' | 'recheck';
  done: number;
  total: number;
}

/** Batching and test hooks shared by both rotations. */
export interface RotationOptions {
  batchSize?: number;
  /** Stops after this many batches, exactly as a crash between two batches would. */
  maxBatches?: number;
  onProgress?(progress: RotationProgress): void;
  /** Runs inside each batch's transaction just before it commits; throwing rolls that batch back. */
  beforeCommit?(batch: number): void | Promise<void>;
}

/** Options of the field re-encryption (`--reencrypt-fields`). */
export interface ReencryptOptions extends RotationOptions {
  /** Subjects whose newest data key was created before this instant get a new version; default: now. */
  createdBefore?: string;
  /** Age a new version must reach before the one it replaces is destroyed (servers must have switched). */
  graceMs?: number;
  sleep?(ms: number): Promise<void>;
}

/** Outcome of re-wrapping data keys under the active master key. */
export interface RewrapSummary {
  activeVersion: number;
  rewrapped: number;
  byVersion: Map<number, number>;
  destroyedSkipped: number;
  /** Live keys still under an older version (batch limit reached, or locked by another run). */
  remaining: number;
  /** Live keys under a version newer than the active one: an instance runs with a different MASTER_KEY_ACTIVE. */
  newerThanActive: number;
  stoppedEarly: boolean;
  elapsedMs: number;
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

/** Data keys per master version, for `keys:status` and `keys:retire`. */
export interface MasterVersionStatus {
  version: number;
  live: number;
  destroyed: number;
  configured: boolean;
  active: boolean;
  retirable: boolean;
  reason: string;
}

export interface KeyStatus {
  activeVersion: number;
  versions: MasterVersionStatus[];
  live: number;
  destroyed: number;
  /** Live data key versions that a newer version of the same subject supersedes. */
  superseded: number;
}

interface SealedTable {
  table: string;
  id: string;
  idType: string;
  subject: string;
  subjectType: string;
  columns: { ad: string; sql: string }[];
}

interface KeyRow {
  id: string;
  subject_id: string;
  master_version: number;
  wrapped: Buffer;
}

interface HeadRow {
  id: string;
  subject_id: string;
  version: number;
  stale: boolean;
}

interface BatchCounts {
  rows: number;
  values: number;
  unreadable: Map<string, number>;
}

/**
 * Master key rotation and data key re-keying over the live database, in short batches that lock with
 * SKIP LOCKED: the server keeps serving, concurrent runs share the work, and progress is the data itself
 * (a crashed run is simply run again).
 */
export class KeyRotationService {
  #tables?: SealedTable[];

  constructor(
    private readonly orm: MikroORM,
    private readonly dataKeys: DataKeyService,
  ) {}

  /** Re-wraps every live data key wrapped by an older master version under the active one. */
  async rewrapAll(options: RotationOptions = {}): Promise<RewrapSummary> {
    const started = Date.now();
    const active = this.dataKeys.ring.activeVersion;
    const before = await this.countByVersion();
    const missing = before.filter((v) => v.version < active && v.live > 0 && !this.dataKeys.ring.hasVersion(v.version));
    if (missing.length > 0) {
      const list = missing.map((v) => `${v.version} (${v.live} keys)`).join(', ');
      throw new Error(`data keys are wrapped by master key versions missing from MASTER_KEYS: ${list}`);
    }
    const total = sum(before.filter((v) => v.version < active).map((v) => v.live));
    const byVersion = new Map<number, number>();
    let rewrapped = 0;
    let batches = 0;
    let stoppedEarly = false;

    for (;;) {
      if (options.maxBatches !== undefined && batches >= options.maxBatches) {
        stoppedEarly = true;
        break;
      }
      const batch = batches + 1;
      const rows = await this.orm.em.fork().transactional(async (tx) => {
        const locked = await tx.execute<KeyRow[]>(
          `SELECT id, subject_id, master_version, wrapped FROM data_keys
           WHERE master_version < ? AND wrapped IS NOT NULL
           ORDER BY id LIMIT ? FOR UPDATE SKIP LOCKED`,
          [active, options.batchSize ?? DEFAULT_BATCH_SIZE],
        );
        if (locked.length === 0) return locked;
        const wrapped = locked.map((row) =>
          this.dataKeys.rewrap({
            id: row.id,
            subjectId: row.subject_id,
            masterVersion: row.master_version,
            wrapped: row.wrapped,
          }),
        );
        await tx.execute(
          `UPDATE data_keys AS d SET master_version = v.master_version, wrapped = v.wrapped
           FROM unnest(ARRAY[?]::uuid[], ARRAY[?]::int[], ARRAY[?]::bytea[]) AS v(id, master_version, wrapped)
           WHERE d.id = v.id AND d.wrapped IS NOT NULL`,
          [locked.map((r) => r.id), wrapped.map((w) => w.masterVersion), wrapped.map((w) => w.wrapped)],
        );
        await options.beforeCommit?.(batch);
        return locked;
      });
      if (rows.length === 0) break;
      batches = batch;
      rewrapped += rows.length;
      for (const row of rows) byVersion.set(row.master_version, (byVersion.get(row.master_version) ?? 0) + 1);
      options.onProgress?.({ phase: 'rewrap', done: rewrapped, total: Math.max(total, rewrapped) });
    }

    const after = await this.countByVersion();
    return {
      activeVersion: active,
      rewrapped,
      byVersion,
      destroyedSkipped: sum(after.filter((v) => v.version < active).map((v) => v.destroyed)),
      remaining: sum(after.filter((v) => v.version < active).map((v) => v.live)),
      newerThanActive: sum(after.filter((v) => v.version > active).map((v) => v.live)),
      stoppedEarly,
      elapsedMs: Date.now() - started,
    };
  }

  /**
   * Gives every subject whose newest data key predates the cutoff a new version (wrapped under the active
   * master key), re-encrypts all of its sealed values under it, then destroys superseded versions that no
   * value references. Blind indexes do not change: they are keyed by the index key, not by data keys.
   */
  async reencryptFields(options: ReencryptOptions = {}): Promise<ReencryptSummary> {
    const started = Date.now();
    const em = this.orm.em.fork();
    const cutoff =
      options.createdBefore ??
      (await em.execute<{ now: string }[]>('SELECT now()::text AS now'))[0].now;
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
    summary.kept = await this.countSuperseded(em);
    summary.elapsedMs = Date.now() - started;
    return summary;
  }

  /** Data keys per master version and whether each configured version can be removed. */
  async status(): Promise<KeyStatus> {
    const ring = this.dataKeys.ring;
    const counts = new Map((await this.countByVersion()).map((c) => [c.version, c]));
    const versions = [...new Set([...ring.versions(), ...counts.keys()])].sort((a, b) => a - b);
    const rows = versions.map((version): MasterVersionStatus => {
      const { live, destroyed } = counts.get(version) ?? { live: 0, destroyed: 0 };
      const configured = ring.hasVersion(version);
      const active = version === ring.activeVersion;
      const base = { version, live, destroyed, configured, active };
      if (active) return { ...base, retirable: false, reason: 'active: new data keys are wrapped by it' };
      if (!configured && live > 0) {
        return { ...base, retirable: false, reason: `MISSING from MASTER_KEYS: ${live} data keys cannot be unwrapped` };
      }
      if (live > 0) {
        return { ...base, retirable: false, reason: `${live} data keys still wrapped by it: run keys:rotate` };
      }
      if (!configured) return { ...base, retirable: false, reason: 'not in MASTER_KEYS; no data key needs it' };
      return { ...base, retirable: true, reason: 'no data key is wrapped by it' };
    });
    return {
      activeVersion: ring.activeVersion,
      versions: rows,
      live: sum(rows.map((r) => r.live)),
      destroyed: sum(rows.map((r) => r.destroyed)),
      superseded: await this.countSuperseded(this.orm.em.fork()),
    };
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
          const counts = await this.reencryptRows(tx, newest);
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

  /** Re-encrypts, under each subject's newest key, every sealed value of its rows sealed under another key. */
  private async reencryptRows(tx: EntityManager, newest: Map<string, ActiveDataKey>): Promise<BatchCounts> {
    const counts: BatchCounts = { rows: 0, values: 0, unreadable: new Map() };
    const subjects = [...newest.keys()];
    for (const t of this.sealedTables()) {
      const rows = await tx.execute<Record<string, string | null>[]>(
        `SELECT ${[t.id, t.subject, ...t.columns.map((c) => c.sql)].map(quote).join(', ')} FROM ${quote(t.table)}
         WHERE ${quote(t.subject)} = ANY(ARRAY[?]::${t.subjectType}[]) FOR UPDATE`,
        [subjects],
      );
      const oldKeys = await this.loadKeys(rows, t, newest);
      const updates: (string | null)[][] = t.columns.map(() => []);
      const ids: string[] = [];
      try {
        for (const row of rows) {
          const target = newest.get(String(row[t.subject])) as ActiveDataKey;
          let changed = false;
          const sealed = t.columns.map((column) => {
            const envelope = row[column.sql];
            if (envelope === null || keyIdOf(envelope) === target.id) return null;
            const context = { table: t.table, column: column.ad, rowId: String(row[t.id]) };
            const keyId = keyIdOf(envelope);
            const key = keyId === undefined ? undefined : oldKeys.get(keyId);
            try {
              if (keyId === undefined || key === undefined) throw new CryptoError('KEY_DESTROYED', 'unavailable');
              const resealed = sealField(target.key, target.id, context, openField(key, keyId, context, envelope));
              changed = true;
              return resealed;
            } catch (error) {
              if (!(error instanceof CryptoError)) throw error;
              const name = `${t.table}.${column.sql}`;
              counts.unreadable.set(name, (counts.unreadable.get(name) ?? 0) + 1);
              return null;
            }
          });
          if (!changed) continue;
          ids.push(String(row[t.id]));
          sealed.forEach((value, i) => updates[i].push(value));
          counts.values += sealed.filter((v) => v !== null).length;
        }
      } finally {
        for (const key of oldKeys.values()) key.fill(0);
      }
      if (ids.length === 0) continue;
      counts.rows += ids.length;
      const names = t.columns.map((_, i) => `c${i}`);
      const assignments = t.columns.map((c, i) => `${quote(c.sql)} = COALESCE(v.${names[i]}, t.${quote(c.sql)})`);
      const arrays = names.map(() => 'ARRAY[?]::text[]');
      await tx.execute(
        `UPDATE ${quote(t.table)} AS t SET ${assignments.join(', ')}
         FROM unnest(ARRAY[?]::${t.idType}[], ${arrays.join(', ')}) AS v(id, ${names.join(', ')})
         WHERE t.${quote(t.id)} = v.id`,
        [ids, ...updates],
      );
    }
    return counts;
  }

  /** Unwraps (into owned copies) every other key the rows' envelopes name; failures are simply absent. */
  private async loadKeys(
    rows: Record<string, string | null>[],
    t: SealedTable,
    newest: Map<string, ActiveDataKey>,
  ): Promise<Map<string, Uint8Array>> {
    const ids = new Set<string>();
    for (const row of rows) {
      const target = newest.get(String(row[t.subject]))?.id;
      for (const column of t.columns) {
        const keyId = keyIdOf(row[column.sql]);
        if (keyId !== undefined && keyId !== target) ids.add(keyId);
      }
    }
    const em = this.orm.em.fork();
    const loaded = await Promise.allSettled([...ids].map((id) => this.dataKeys.keyById(em, id)));
    const keys = new Map<string, Uint8Array>();
    [...ids].forEach((id, i) => {
      const result = loaded[i];
      if (result.status === 'fulfilled') keys.set(id, new Uint8Array(result.value));
    });
    return keys;
  }

  /**
   * Destroys superseded live versions that no sealed value references and whose successor is older
   * than the grace period. References are collected from every sealed column of every table (one scan
   * per table, one hash anti-join), so a value moved to another subject's row still keeps its key alive.
   */
  private async retireUnreferenced(em: EntityManager, graceMs: number): Promise<number> {
    const sources = this.sealedTables().map(
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

  private async countSuperseded(em: EntityManager): Promise<number> {
    const rows = await em.execute<{ n: number }[]>(
      `SELECT count(*)::int AS n FROM data_keys dk WHERE dk.wrapped IS NOT NULL
       AND EXISTS (SELECT 1 FROM data_keys n WHERE n.subject_id = dk.subject_id AND n.version > dk.version)`,
    );
    return rows[0].n;
  }

  private async countByVersion(): Promise<{ version: number; live: number; destroyed: number }[]> {
    return this.orm.em.fork().execute(
      `SELECT master_version AS version, count(*) FILTER (WHERE wrapped IS NOT NULL)::int AS live,
              count(*) FILTER (WHERE wrapped IS NULL)::int AS destroyed
       FROM data_keys GROUP BY master_version ORDER BY master_version`,
    );
  }

  /** Table, id, subject and sealed columns of every sealed entity the ORM knows. */
  private sealedTables(): SealedTable[] {
    this.#tables ??= sealedEntities()
      .filter((entity) => this.orm.getMetadata().find(entity) !== undefined)
      .map((entity) => {
        const meta = this.orm.getMetadata().get(entity);
        const column = (property: string) => {
          const prop = meta.properties[property as keyof typeof meta.properties];
          if (!prop?.fieldNames?.[0]) throw new Error(`${entity}.${property} is not a mapped column`);
          return { sql: prop.fieldNames[0], type: prop.columnTypes?.[0] ?? 'uuid' };
        };
        const id = column('id');
        const subject = column(subjectPropertyOf(entity));
        return {
          table: meta.tableName,
          id: id.sql,
          idType: sqlType(id.type),
          subject: subject.sql,
          subjectType: sqlType(subject.type),
          columns: phiFieldsOf(entity).map((f) => ({ ad: f.column, sql: column(f.property).sql })),
        };
      });
    return this.#tables;
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

function keyIdOf(envelope: string | null | undefined): string | undefined {
  if (envelope === null || envelope === undefined) return undefined;
  try {
    return envelopeKeyId(envelope);
  } catch {
    return undefined;
  }
}

function quote(identifier: string): string {
  return `"${identifier.replace(/"/g, '""')}"`;
}

function sqlType(columnType: string): string {
  if (!/^[a-z][a-z0-9 ]*$/i.test(columnType)) throw new Error(`unsupported id column type ${columnType}`);
  return columnType;
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
