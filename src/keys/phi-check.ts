import { MikroORM } from '@mikro-orm/postgresql';
import type { EntityClass } from '@mikro-orm/core';

import { ENTITIES } from '../db/entities';
import { compoundIndexesOf, notPhiReasons, phiFieldsOf, type CompoundIndexMeta } from '../phi/phi.decorator';
import type { PhiFieldMeta } from '../phi/phi.types';

/** How `phi:check` classifies one persisted property. */
export type PhiClassification = 'phi' | 'sealed' | 'blind-index' | 'not-phi' | 'structural' | 'unclassified';

/** The parts of a MikroORM property the check reads (EntityProperty satisfies it). */
export interface CheckedProperty {
  name: string;
  kind: string;
  fieldNames?: string[];
  columnTypes?: string[];
  type?: string;
  primary?: boolean;
  persist?: boolean;
  formula?: unknown;
  enum?: boolean;
  version?: boolean;
  owner?: boolean;
}

/** The parts of MikroORM's EntityMetadata the check reads. */
export interface CheckedEntity {
  className: string;
  tableName: string;
  properties: Record<string, CheckedProperty>;
}

/** The PHI mark's registry, injectable so the check stays a pure function. */
export interface PhiRegistryView {
  phiFieldsOf(entity: string): readonly PhiFieldMeta[];
  compoundIndexesOf(entity: string): readonly CompoundIndexMeta[];
  notPhiReasons(): ReadonlyMap<string, ReadonlyMap<string, string>>;
}

export interface PhiCheckEntry {
  entity: string;
  table: string;
  property: string;
  column: string;
  columnType: string;
  classification: PhiClassification;
  /** Category, reason or rule, as printed. */
  detail: string;
  /** Set when the property fails the check. */
  failure?: string;
}

export interface PhiCheckReport {
  entries: PhiCheckEntry[];
  failures: PhiCheckEntry[];
}

const DECORATOR_REGISTRY: PhiRegistryView = { phiFieldsOf, compoundIndexesOf, notPhiReasons };

/**
 * Classifies every persisted property: PHI (marked), sealed (marked, not PHI), blind index, not PHI
 * (declared with a reason), structural (rules below) or unclassified. Fails a property that looks like
 * PHI (see `phiSuspicion`) unless it is marked or declared not PHI, and a declaration without a reason.
 */
export function checkPhiClassification(
  entities: readonly CheckedEntity[],
  registry: PhiRegistryView = DECORATOR_REGISTRY,
): PhiCheckReport {
  const entries: PhiCheckEntry[] = [];
  for (const meta of entities) {
    const marked = new Map(registry.phiFieldsOf(meta.className).map((f) => [f.property, f]));
    const indexes = new Map<string, string>();
    for (const f of marked.values()) if (f.blindIndex) indexes.set(f.blindIndex.property, f.property);
    for (const c of registry.compoundIndexesOf(meta.className)) {
      indexes.set(c.property, c.parts.map((p) => p.property).join(' + '));
    }
    const declared = registry.notPhiReasons().get(meta.className) ?? new Map<string, string>();

    for (const prop of Object.values(meta.properties).filter(isPersisted)) {
      const entry: PhiCheckEntry = {
        entity: meta.className,
        table: meta.tableName,
        property: prop.name,
        column: prop.fieldNames?.join(', ') ?? prop.name,
        columnType: columnTypeOf(prop),
        classification: 'unclassified',
        detail: '',
      };
      const field = marked.get(prop.name);
      const reason = declared.get(prop.name);
      if (field && reason !== undefined) {
        entry.failure = 'marked sealed and declared @NotPhi at once';
      }
      if (field?.category) {
        Object.assign(entry, { classification: 'phi', detail: field.category });
      } else if (field) {
        Object.assign(entry, { classification: 'sealed', detail: field.sealedReason ?? '' });
      } else if (indexes.has(prop.name)) {
        Object.assign(entry, { classification: 'blind-index', detail: `keyed hash of ${indexes.get(prop.name)}` });
      } else if (reason !== undefined) {
        Object.assign(entry, { classification: 'not-phi', detail: reason });
        if (reason.trim() === '') entry.failure = '@NotPhi needs a reason';
      } else {
        const suspicion = phiSuspicion(prop);
        const rule = suspicion === undefined ? structuralRule(prop) : undefined;
        if (suspicion !== undefined) {
          entry.detail = `looks like PHI: ${suspicion}`;
          entry.failure = `looks like PHI (${suspicion}) but is neither @Phi/@Sealed nor @NotPhi with a reason`;
        } else if (rule !== undefined) {
          Object.assign(entry, { classification: 'structural', detail: rule });
        }
      }
      entries.push(entry);
    }
  }
  return { entries, failures: entries.filter((e) => e.failure !== undefined) };
}

/**
 * Structural properties need no mark. A deliberately small, explicit rule set; anything else must be
 * marked, declared, or stays listed as UNCLASSIFIED.
 */
export function structuralRule(prop: CheckedProperty): string | undefined {
  const type = columnTypeOf(prop);
  if (prop.primary) return 'primary key';
  if (prop.version || (INTEGER.test(type) && /^(version|generation)$|(Version|Count)$/.test(prop.name))) {
    return 'version or counter';
  }
  if (TIMESTAMP.test(type) && /(At|Until)$/.test(prop.name)) return 'bookkeeping timestamp';
  return undefined;
}

/**
 * Why a property looks like PHI, or undefined. Heuristics live here and only here.
 *
 * What they catch: a word of the property name from the lists below (names, birth and death dates,
 * identifiers such as ssn/mrn/member ids, contact details, clinical and free-text words); any free-form
 * column (text, varchar, json, arrays of them) that is not an id, key or enum; any calendar `date` column.
 *
 * Blind spots: numeric and boolean columns with neutral names (`weightKg`, `flag1`, `positive`); enums
 * with neutral names (`status` of a psychiatric ward); instants named `*At` that record care events
 * (`seenAt`); bytea/blob columns holding documents; names in other languages or abbreviations not listed;
 * and any column whose name lies about its content. A text column named `misc` holding notes is caught
 * only by its type; stored as bytea it would pass. So this is a net for forgotten marks, not a proof: the
 * authoritative check is the review of the mark (or the @NotPhi reason) when a property is added.
 */
export function phiSuspicion(prop: CheckedProperty): string | undefined {
  const words = prop.name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Za-z])([0-9])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean);
  for (const [category, list] of PHI_WORDS) {
    const hit = words.find((w) => list.includes(w));
    if (hit) return `${category} word "${hit}" in the name`;
  }
  const type = columnTypeOf(prop);
  const isReference = prop.kind !== 'scalar' || /(^id|Id|Ids|Key)$/.test(prop.name);
  if (FREE_FORM.test(type) && !prop.enum && !prop.primary && !isReference) return `free-form ${type} column`;
  if (/^date$/.test(type)) return 'calendar date column';
  return undefined;
}

const PHI_WORDS: [string, string[]][] = [
  ['name', 'name names surname forename given family maiden nickname alias initials'],
  ['birth or death', 'birth birthday dob born age death died deceased'],
  [
    'identifier',
    'ssn sin mrn nhs medicare medicaid insurance member passport license licence beneficiary subscriber ip',
  ],
  ['contact', 'email mail phone mobile telephone fax address street city zip postal postcode'],
  [
    'clinical',
    'note notes comment comments diagnosis diagnoses diagnostic icd reason symptom symptoms allergy allergies ' +
      'medication medications prescription condition treatment procedure complaint history clinical ' +
      'sex gender pregnancy race ethnicity religion',
  ],
].map(([category, words]) => [category, words.split(' ')]);

const FREE_FORM = /^(text|citext|varchar|character varying|char|character|string|json|jsonb)(\(\d+\))?(\[\])?$/;
const INTEGER = /^(int|integer|int2|int4|int8|smallint|bigint|tinyint|mediumint|number)$/;
const TIMESTAMP = /^(timestamptz|timestamp|datetime|datetimetz)(\(\d\))?$|^timestamp(\(\d\))? with(out)? time zone$/;

function isPersisted(prop: CheckedProperty): boolean {
  if (prop.persist === false || prop.formula !== undefined) return false;
  if (prop.kind === '1:m' || prop.kind === 'm:n') return false;
  if (prop.kind === '1:1' && prop.owner === false) return false;
  return (prop.fieldNames?.length ?? 0) > 0;
}

function columnTypeOf(prop: CheckedProperty): string {
  return (prop.columnTypes?.[0] ?? prop.type ?? 'unknown').toLowerCase();
}

/** ORM metadata of `entities` (default: ENTITIES), discovered without connecting to a database. */
export async function discoverEntityMetadata(
  entities: readonly EntityClass<object>[] = ENTITIES,
): Promise<CheckedEntity[]> {
  const orm = await MikroORM.init({
    entities: [...entities],
    dbName: 'phi_check',
    connect: false,
    discovery: { warnWhenNoEntities: false },
    debug: false,
  });
  try {
    return entities.map((entity) => orm.getMetadata().get(entity.name) as unknown as CheckedEntity);
  } finally {
    await orm.close(true);
  }
}
