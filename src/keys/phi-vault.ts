import type { EntityManager } from '@mikro-orm/postgresql';

import { BlindIndexer, envelopeKeyId, openField, sealField } from '../crypto';
import { compoundIndexesOf, phiField, phiFieldsOf, subjectIdOf, type PhiEnvelope } from '../phi/phi.decorator';
import { normalizeForIndex } from '../phi/normalize';
import type { PhiFieldMeta, PhiKind } from '../phi/phi.types';
import { DataKeyService } from './data-key.service';

type Row = Record<string, unknown>;

function encode(kind: PhiKind, value: unknown): string {
  if (kind === 'json') return JSON.stringify(value);
  return String(value);
}

function decode(kind: PhiKind, plaintext: string): unknown {
  return kind === 'json' ? JSON.parse(plaintext) : plaintext;
}

/**
 * Seals and opens marked fields. Writes go through `assign`, which encrypts every marked
 * property under the subject's data key with associated data binding table, column and row,
 * and refreshes blind indexes; unmarked properties are assigned as given.
 */
export class PhiVault {
  private readonly tables = new Map<string, string>();
  /** Counts of field encryptions and decryptions since start (benchmarks, and tests that reads never encrypt). */
  readonly stats = { seals: 0, opens: 0 };

  constructor(
    readonly dataKeys: DataKeyService,
    readonly indexer: BlindIndexer,
  ) {}

  private tableOf(em: EntityManager, entity: string): string {
    let table = this.tables.get(entity);
    if (!table) {
      table = em.getMetadata().get(entity).tableName;
      this.tables.set(entity, table);
    }
    return table;
  }

  /** Assigns `values` to `target`, sealing marked properties; the row's `id` must already be set. */
  async assign<T extends object>(
    em: EntityManager,
    target: T,
    values: Partial<Record<keyof T, unknown>>,
  ): Promise<void> {
    const entity = target.constructor.name;
    const row = target as unknown as Row;
    const table = this.tableOf(em, entity);
    const marked = Object.keys(values).filter((p) => phiField(entity, p));
    const key = marked.length > 0 ? await this.dataKeys.activeKey(em, subjectIdOf(entity, row)) : undefined;
    const plaintexts = new Map<string, unknown>();

    for (const [property, value] of Object.entries(values)) {
      if (value === undefined) continue;
      const meta = phiField(entity, property);
      if (!meta) {
        row[property] = value;
        continue;
      }
      plaintexts.set(property, value);
      if (value === null) {
        if (!meta.nullable) throw new Error(`${entity}.${property} is required`);
        row[property] = null;
        if (meta.blindIndex) row[meta.blindIndex.property] = null;
        continue;
      }
      const context = { table, column: meta.column, rowId: String(row.id) };
      row[property] = sealField(key!.key, key!.id, context, encode(meta.kind, value)) as PhiEnvelope;
      this.stats.seals += 1;
      if (meta.blindIndex) {
        const normalized = normalizeForIndex(meta.blindIndex.normalizer, String(value));
        row[meta.blindIndex.property] = this.indexer.compute(table, meta.blindIndex.column, normalized);
      }
    }

    for (const compound of compoundIndexesOf(entity)) {
      if (!compound.parts.some((part) => plaintexts.has(part.property))) continue;
      const parts: string[] = [];
      for (const part of compound.parts) {
        const value = plaintexts.has(part.property)
          ? plaintexts.get(part.property)
          : await this.open(em, target, part.property);
        if (value === null || value === undefined) {
          parts.length = 0;
          break;
        }
        parts.push(normalizeForIndex(part.normalizer, String(value)));
      }
      row[compound.property] =
        parts.length > 0 ? this.indexer.compute(table, compound.column, parts.join('\u001f')) : null;
    }
  }

  /** The blind index of a search term for one marked column, as stored beside the ciphertext. */
  indexFor(em: EntityManager, entity: string, property: string, value: string): string {
    const meta = phiField(entity, property);
    if (!meta?.blindIndex) throw new Error(`${entity}.${property} has no blind index`);
    const table = this.tableOf(em, entity);
    return this.indexer.compute(table, meta.blindIndex.column, normalizeForIndex(meta.blindIndex.normalizer, value));
  }

  /** The blind index of a compound search (parts in declaration order). */
  compoundIndexFor(em: EntityManager, entity: string, name: string, values: string[]): string {
    const compound = compoundIndexesOf(entity).find((c) => c.name === name);
    if (!compound) throw new Error(`${entity} has no compound index ${name}`);
    const normalized = compound.parts.map((part, i) => normalizeForIndex(part.normalizer, values[i]));
    return this.indexer.compute(this.tableOf(em, entity), compound.column, normalized.join('\u001f'));
  }

  /**
   * Decrypts one marked property of an entity or a plain row (same property names). Returns
   * synchronously when the data key is cached, so list resolution avoids a promise per field.
   */
  openSync(em: EntityManager, entity: string, row: Row, meta: PhiFieldMeta): unknown | Promise<unknown> {
    const envelope = row[meta.property];
    if (envelope === null || envelope === undefined) return null;
    const keyId = envelopeKeyId(String(envelope));
    const context = { table: this.tableOf(em, entity), column: meta.column, rowId: String(row.id) };
    const key = this.dataKeys.cachedKey(keyId);
    this.stats.opens += 1;
    if (key) return decode(meta.kind, openField(key, keyId, context, String(envelope)));
    return this.dataKeys
      .keyById(em, keyId)
      .then((loaded) => decode(meta.kind, openField(loaded, keyId, context, String(envelope))));
  }

  /** Decrypts one marked property by name; `entity` names the class when `target` is a plain row. */
  async open(em: EntityManager, target: object, property: string, entity = target.constructor.name): Promise<unknown> {
    const meta = phiField(entity, property);
    if (!meta) throw new Error(`${entity}.${property} is not marked PHI`);
    return this.openSync(em, entity, target as Row, meta);
  }

  /** Decrypts every marked property of an entity (for exports); unreadable values throw. */
  async openAll(em: EntityManager, target: object): Promise<Record<string, unknown>> {
    const out: Record<string, unknown> = {};
    for (const meta of phiFieldsOf(target.constructor.name)) {
      out[meta.property] = await this.open(em, target, meta.property);
    }
    return out;
  }
}
