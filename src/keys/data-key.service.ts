import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { LRUCache } from 'lru-cache';

import { DataKeyCache, KeyDestroyedError, MasterKeyRing, generateDataKey, type WrappedDataKey } from '../crypto';

/**
 * How long a process trusts its cached "newest data key of this subject" before asking the database
 * again, so a server picks up a version created elsewhere (`keys:rotate --reencrypt-fields`) within
 * this bound. Key retirement waits at least twice this long before destroying a superseded version.
 */
export const ACTIVE_KEY_RECHECK_MS = 30_000;

interface DataKeyRow {
  id: string;
  subject_id: string;
  version: number;
  master_version: number;
  wrapped: Buffer | null;
}

/** A usable (unwrapped) data key. */
export interface ActiveDataKey {
  id: string;
  key: Uint8Array;
}

/**
 * Per-subject data keys: created on first write, unwrapped on demand (batched per tick), cached
 * in a bounded LRU that wipes evicted keys, and destroyed for crypto-shredding.
 */
export class DataKeyService {
  // Subject id -> id of its newest data key; ids only, no key material. Entries expire so that a
  // version created by another process is used for new writes within ACTIVE_KEY_RECHECK_MS.
  private readonly activeBySubject = new LRUCache<string, string>({ max: 100_000, ttl: ACTIVE_KEY_RECHECK_MS });
  private pending = new Map<string, { resolve: (k: Uint8Array) => void; reject: (e: unknown) => void }>();
  private pendingEm?: EntityManager;
  private readonly loading = new Map<string, Promise<Uint8Array>>();

  constructor(
    readonly ring: MasterKeyRing,
    readonly cache: DataKeyCache,
  ) {}

  /** The subject's current data key, creating version 1 when the subject has none yet. */
  async activeKey(em: EntityManager, subjectId: string): Promise<ActiveDataKey> {
    const knownId = this.activeBySubject.get(subjectId);
    const cached = knownId ? this.cache.get(knownId) : undefined;
    if (knownId && cached) return { id: knownId, key: cached };

    const connection = em.getConnection();
    let rows: DataKeyRow[] = await connection.execute(
      'SELECT * FROM data_keys WHERE subject_id = ? ORDER BY version DESC LIMIT 1',
      [subjectId],
    );
    if (rows.length === 0) {
      const key = generateDataKey();
      const id = randomUUID();
      const { masterVersion, wrapped } = this.ring.wrapDataKey(key, { subjectId, dataKeyId: id });
      // Two writers for a new subject race here; the unique (subject_id, version) keeps one key.
      await connection.execute(
        `INSERT INTO data_keys (id, subject_id, version, master_version, wrapped, created_at)
         VALUES (?, ?, 1, ?, ?, now()) ON CONFLICT (subject_id, version) DO NOTHING`,
        [id, subjectId, masterVersion, wrapped],
      );
      rows = await connection.execute('SELECT * FROM data_keys WHERE subject_id = ? ORDER BY version DESC LIMIT 1', [
        subjectId,
      ]);
    }
    const row = rows[0];
    const key = this.unwrapRow(row);
    this.activeBySubject.set(subjectId, row.id);
    return { id: row.id, key };
  }

  /** A cached key, or undefined: lets field resolution stay synchronous on the hot path. */
  cachedKey(id: string): Uint8Array | undefined {
    return this.cache.get(id);
  }

  /** The key with this id; loads of the same tick are batched into one query. */
  keyById(em: EntityManager, id: string): Promise<Uint8Array> {
    const cached = this.cache.get(id);
    if (cached) return Promise.resolve(cached);
    // A load already queued or on its way to the database answers this caller too, so requests
    // that miss the same key in different ticks (a patient and its encounters) share one query.
    const loading = this.loading.get(id);
    if (loading) return loading;
    const load = new Promise<Uint8Array>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      if (!this.pendingEm) {
        this.pendingEm = em;
        process.nextTick(() => void this.flushPending());
      }
    });
    this.loading.set(id, load);
    const settled = (): void => {
      if (this.loading.get(id) === load) this.loading.delete(id);
    };
    load.then(settled, settled);
    return load;
  }

  private async flushPending(): Promise<void> {
    const batch = this.pending;
    const em = this.pendingEm as EntityManager;
    this.pending = new Map();
    this.pendingEm = undefined;
    try {
      const rows: DataKeyRow[] = await em
        .getConnection()
        .execute('SELECT * FROM data_keys WHERE id IN (?)', [[...batch.keys()]]);
      const byId = new Map(rows.map((r) => [r.id, r]));
      for (const [id, waiter] of batch) {
        try {
          const row = byId.get(id);
          if (!row) throw new KeyDestroyedError(id);
          waiter.resolve(this.unwrapRow(row));
        } catch (error) {
          waiter.reject(error);
        }
      }
    } catch (error) {
      for (const waiter of batch.values()) waiter.reject(error);
    }
  }

  private unwrapRow(row: DataKeyRow): Uint8Array {
    if (!row.wrapped) {
      // The row was just read: a key destroyed by another process must not live on in this cache.
      this.cache.delete(row.id);
      throw new KeyDestroyedError(row.id);
    }
    const cached = this.cache.get(row.id);
    if (cached) return cached;
    const key = this.ring.unwrapDataKey(row.wrapped, row.master_version, {
      subjectId: row.subject_id,
      dataKeyId: row.id,
    });
    this.cache.set(row.id, key);
    return key;
  }

  /**
   * Crypto-shredding: destroys every data key of the subject, so no copy of their sealed values
   * (database, replica, backup) can be decrypted again. Returns how many keys were destroyed.
   */
  async shred(em: EntityManager, subjectId: string): Promise<number> {
    let destroyed = 0;
    // Repeat until nothing is left: a key version created by a concurrent re-keying transaction that
    // commits while the first UPDATE waits on its lock is invisible to that UPDATE's snapshot.
    for (let round = 0; round < 5; round++) {
      const rows: { id: string }[] = await em.getConnection().execute(
        `UPDATE data_keys SET wrapped = NULL, destroyed_at = now()
           WHERE subject_id = ? AND wrapped IS NOT NULL RETURNING id`,
        [subjectId],
      );
      for (const { id } of rows) this.cache.delete(id);
      destroyed += rows.length;
      if (rows.length === 0) break;
    }
    this.activeBySubject.delete(subjectId);
    return destroyed;
  }

  /** Forgets the cached newest key id of a subject, so the next write asks the database again. */
  invalidateSubject(subjectId: string): void {
    this.activeBySubject.delete(subjectId);
  }

  /**
   * Creates the given data key versions, wrapped under the active master key, with one INSERT inside the
   * caller's transaction (`em.execute` joins it). The caller owns the returned keys and wipes them; they are
   * not cached, so a rolled-back version never becomes anyone's active key.
   */
  async createVersions(em: EntityManager, wanted: { subjectId: string; version: number }[]): Promise<ActiveDataKey[]> {
    if (wanted.length === 0) return [];
    const created = wanted.map(({ subjectId }) => ({ id: randomUUID(), key: generateDataKey(), subjectId }));
    const wrapped = created.map(({ id, key, subjectId }) => this.ring.wrapDataKey(key, { subjectId, dataKeyId: id }));
    await em.execute(
      `INSERT INTO data_keys (id, subject_id, version, master_version, wrapped, created_at)
       SELECT v.id, v.subject_id, v.version, v.master_version, v.wrapped, now()
       FROM unnest(ARRAY[?]::uuid[], ARRAY[?]::uuid[], ARRAY[?]::int[], ARRAY[?]::int[], ARRAY[?]::bytea[])
         AS v(id, subject_id, version, master_version, wrapped)`,
      [
        created.map((c) => c.id),
        created.map((c) => c.subjectId),
        wanted.map((w) => w.version),
        wrapped.map((w) => w.masterVersion),
        wrapped.map((w) => w.wrapped),
      ],
    );
    return created.map(({ id, key }) => ({ id, key }));
  }

  /**
   * Re-wraps a stored data key under the active master key. The data key itself is unchanged, so
   * envelopes sealed under it and copies cached by running servers stay valid.
   */
  rewrap(row: { id: string; subjectId: string; masterVersion: number; wrapped: Buffer }): WrappedDataKey {
    const ctx = { subjectId: row.subjectId, dataKeyId: row.id };
    const key = this.ring.unwrapDataKey(row.wrapped, row.masterVersion, ctx);
    try {
      return this.ring.wrapDataKey(key, ctx);
    } finally {
      key.fill(0);
    }
  }
}
