import type { MikroORM } from '@mikro-orm/postgresql';

import type { DataKeyService } from './data-key.service';
import { DEFAULT_BATCH_SIZE, type RotationOptions } from './key-rotation.options';
import { countByVersion, sum } from './key-status.service';

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

interface KeyRow {
  id: string;
  subject_id: string;
  master_version: number;
  wrapped: Buffer;
}

/** Master key rotation: re-wraps data keys under the active master version, in SKIP LOCKED batches. */
export class KeyRewrapService {
  constructor(
    private readonly orm: MikroORM,
    private readonly dataKeys: DataKeyService,
  ) {}

  /** Re-wraps every live data key wrapped by an older master version under the active one. */
  async rewrapAll(options: RotationOptions = {}): Promise<RewrapSummary> {
    const started = Date.now();
    const active = this.dataKeys.ring.activeVersion;
    const before = await countByVersion(this.orm);
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

    const after = await countByVersion(this.orm);
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
}
