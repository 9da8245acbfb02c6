import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { LRUCache } from 'lru-cache';

import { DataKeyCache, KeyDestroyedError, MasterKeyRing, generateDataKey } from '../crypto';

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
  // Subject id -> id of its newest data key; ids only, no key material.
  private readonly activeBySubject = new LRUCache<string, string>({ max: 100_000 });
  private pending = new Map<string, { resolve: (k: Uint8Array) => void; reject: (e: unknown) => void }[]>();
  private pendingEm?: EntityManager;

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
      rows = await connection.execute(
        'SELECT * FROM data_keys WHERE subject_id = ? ORDER BY version DESC LIMIT 1',
        [subjectId],
      );
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
    return new Promise((resolve, reject) => {
      const waiting = this.pending.get(id);
      if (waiting) waiting.push({ resolve, reject });
      else this.pending.set(id, [{ resolve, reject }]);
      if (!this.pendingEm) {
        this.pendingEm = em;
        process.nextTick(() => void this.flushPending());
      }
    });
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
      for (const [id, waiters] of batch) {
        try {
          const row = byId.get(id);
          if (!row) throw new KeyDestroyedError(id);
          const key = this.unwrapRow(row);
          for (const w of waiters) w.resolve(key);
        } catch (error) {
          for (const w of waiters) w.reject(error);
        }
      }
    } catch (error) {
      for (const waiters of batch.values()) for (const w of waiters) w.reject(error);
    }
  }

  private unwrapRow(row: DataKeyRow): Uint8Array {
    const cached = this.cache.get(row.id);
    if (cached) return cached;
    if (!row.wrapped) throw new KeyDestroyedError(row.id);
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
    const rows: { id: string }[] = await em
      .getConnection()
      .execute(
        'UPDATE data_keys SET wrapped = NULL, destroyed_at = now() WHERE subject_id = ? AND wrapped IS NOT NULL RETURNING id',
        [subjectId],
      );
    for (const { id } of rows) this.cache.delete(id);
    this.activeBySubject.delete(subjectId);
    return rows.length;
  }
}
