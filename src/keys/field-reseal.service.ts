import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';

import { CryptoError, envelopeKeyId, openField, sealField } from '../crypto';
import type { ActiveDataKey, DataKeyService } from './data-key.service';
import { quote, type SealedTable, type SealedTableCatalog } from './sealed-table.catalog';

/** What re-sealing one batch of subjects changed. */
export interface BatchCounts {
  rows: number;
  values: number;
  unreadable: Map<string, number>;
}

/** Re-seals the sealed values of locked subjects' rows under each subject's newest data key. */
export class FieldResealService {
  constructor(
    private readonly orm: MikroORM,
    private readonly dataKeys: DataKeyService,
    private readonly catalog: SealedTableCatalog,
  ) {}

  /** Re-encrypts, under each subject's newest key, every sealed value of its rows sealed under another key. */
  async reencryptRows(tx: EntityManager, newest: Map<string, ActiveDataKey>): Promise<BatchCounts> {
    const counts: BatchCounts = { rows: 0, values: 0, unreadable: new Map() };
    const subjects = [...newest.keys()];
    for (const t of this.catalog.sealedTables()) {
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
}

function keyIdOf(envelope: string | null | undefined): string | undefined {
  if (envelope === null || envelope === undefined) return undefined;
  try {
    return envelopeKeyId(envelope);
  } catch {
    return undefined;
  }
}
