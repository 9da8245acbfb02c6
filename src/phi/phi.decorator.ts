import { Check, Property } from '@mikro-orm/core';
import { Directive, Extensions, Field } from 'type-graphql';

import { PHI_ENVELOPE_SQL_PATTERN } from '../crypto/field-cipher';
import {
  type BlindIndexNormalizer,
  type PartialForm,
  type PhiCategory,
  type PhiFieldMeta,
  type PhiKind,
} from './phi.types';

/** A marked value as stored: the encryption envelope, never plaintext. */
export type PhiEnvelope = string & { readonly __phiEnvelope: true };

export interface PhiOptions {
  category: PhiCategory;
  /** GraphQL output type; defaults to String. */
  /** GraphQL output type (a scalar, an object type class, or `[String]`). */
  type?: Parameters<typeof Field>[0] & (() => unknown);
  kind?: PhiKind;
  nullable?: boolean;
  partial?: PartialForm;
  /** Adds a keyed blind index column beside the ciphertext for exact-match search. */
  blindIndex?: BlindIndexNormalizer;
  description?: string;
}

export interface CompoundIndexMeta {
  entity: string;
  name: string;
  property: string;
  column: string;
  parts: { property: string; normalizer: BlindIndexNormalizer }[];
}

const fields = new Map<string, PhiFieldMeta[]>();
const notPhi = new Map<string, Map<string, string>>();
const compoundIndexes = new Map<string, CompoundIndexMeta[]>();
const subjects = new Map<string, string>();

function snake(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/**
 * Registers an encrypted column: text holding only the envelope (a CHECK constraint makes the
 * database refuse anything else), plus a blind index column when asked.
 */
function sealedColumn(
  target: object,
  property: string,
  options: { nullable?: boolean; blindIndex?: BlindIndexNormalizer; kind?: PhiKind; partial?: PartialForm },
  extra: Pick<PhiFieldMeta, 'category' | 'sealedReason'>,
): PhiFieldMeta {
  const entity = target.constructor.name;
  const meta: PhiFieldMeta = {
    entity,
    property,
    column: snake(property),
    ...extra,
    kind: options.kind ?? 'string',
    nullable: options.nullable ?? false,
    partial: options.partial ?? 'none',
  };
  if (options.blindIndex) {
    meta.blindIndex = { property: `${property}Bidx`, column: `${meta.column}_bidx`, normalizer: options.blindIndex };
    Property({ type: 'string', columnType: 'text', nullable: true, index: true, hidden: true })(
      target,
      meta.blindIndex.property,
    );
  }
  Property({ type: 'string', columnType: 'text', nullable: meta.nullable, hidden: true })(target, property);
  Check({
    name: `${snake(entity).replace(/^_/, '')}_${meta.column}_envelope_check`,
    expression: `"${meta.column}" ~ '${PHI_ENVELOPE_SQL_PATTERN}'`,
  })(target, property);
  fields.set(entity, [...(fields.get(entity) ?? []), meta]);
  return meta;
}

/**
 * Marks a property as PHI. One mark, three effects: the SDL field carries `@phi(category)`,
 * the column holds only ciphertext (plus a blind index column when asked), and field
 * resolution decrypts and redacts it by the caller's role.
 */
export function Phi(options: PhiOptions): PropertyDecorator {
  return (target, propertyKey) => {
    const property = String(propertyKey);
    const meta = sealedColumn(target, property, options, { category: options.category });
    Field(options.type ?? (() => String), { nullable: true, description: options.description })(target, property);
    Directive(`@phi(category: ${options.category})`)(target, property);
    Extensions({ phi: { entity: meta.entity, property, category: options.category } })(target, property);
  };
}

/**
 * Encrypts a column that is personal or secret but not PHI (an account's email, a TOTP secret):
 * same envelope, data key and CHECK constraint, but no GraphQL field; a resolver that exposes it
 * decides who may read it.
 */
export function Sealed(
  reason: string,
  options: { nullable?: boolean; blindIndex?: BlindIndexNormalizer } = {},
): PropertyDecorator {
  return (target, propertyKey) => {
    sealedColumn(target, String(propertyKey), options, { sealedReason: reason });
  };
}

/** Declares a persisted property explicitly not PHI, with the reason `phi:check` prints. */
export function NotPhi(reason: string): PropertyDecorator {
  return (target, propertyKey) => {
    const entity = target.constructor.name;
    const byProperty = notPhi.get(entity) ?? new Map<string, string>();
    byProperty.set(String(propertyKey), reason);
    notPhi.set(entity, byProperty);
  };
}

/**
 * Names the property holding the data subject whose data key encrypts a marked entity's fields
 * (`id` for patients and users, `patientId` for encounters); rotation and shredding query by it.
 */
export function PhiSubject(property: string): ClassDecorator {
  return (target) => {
    subjects.set(target.name, property);
  };
}

/** A blind index over several normalised fields (e.g. last name and date of birth). */
export function CompoundBlindIndex(
  name: string,
  parts: { property: string; normalizer: BlindIndexNormalizer }[],
): ClassDecorator {
  return (target) => {
    const meta: CompoundIndexMeta = {
      entity: target.name,
      name,
      property: `${name}Bidx`,
      column: `${snake(name)}_bidx`,
      parts,
    };
    Property({ type: 'string', columnType: 'text', nullable: true, index: true, hidden: true })(
      target.prototype,
      meta.property,
    );
    compoundIndexes.set(target.name, [...(compoundIndexes.get(target.name) ?? []), meta]);
  };
}

/** The marked fields of one entity class, by class name. */
export function phiFieldsOf(entity: string): readonly PhiFieldMeta[] {
  return fields.get(entity) ?? [];
}

/** One marked field, or undefined when the property is not PHI. */
export function phiField(entity: string, property: string): PhiFieldMeta | undefined {
  return fields.get(entity)?.find((f) => f.property === property);
}

/** Every marked field of every entity. */
export function allPhiFields(): PhiFieldMeta[] {
  return [...fields.values()].flat();
}

/** Compound blind indexes of one entity class. */
export function compoundIndexesOf(entity: string): readonly CompoundIndexMeta[] {
  return compoundIndexes.get(entity) ?? [];
}

/** Reasons given for properties declared not PHI, by entity and property. */
export function notPhiReasons(): ReadonlyMap<string, ReadonlyMap<string, string>> {
  return notPhi;
}

/** The data subject id of a marked entity or row; throws for a class without `@PhiSubject`. */
export function subjectIdOf(entity: string, row: Record<string, unknown>): string {
  return String(row[subjectPropertyOf(entity)]);
}

/** The property naming the data subject of a marked entity; throws for a class without `@PhiSubject`. */
export function subjectPropertyOf(entity: string): string {
  const property = subjects.get(entity);
  if (!property) throw new Error(`${entity} has sealed fields but no @PhiSubject`);
  return property;
}

/** Every entity class name that has sealed (PHI or secret) fields. */
export function sealedEntities(): string[] {
  return [...fields.keys()];
}

/**
 * Marks an input field as carrying PHI of a category, so the SDL shows `@phi` on inputs too
 * (integrators see what they send is PHI; the input guard knows which strings are expected PHI).
 */
export function PhiInput(
  category: PhiCategory,
  type: Parameters<typeof Field>[0] & (() => unknown),
  options: { nullable?: boolean; description?: string } = {},
): PropertyDecorator {
  return (target, propertyKey) => {
    Field(type, { nullable: options.nullable ?? false, description: options.description })(target, String(propertyKey));
    Directive(`@phi(category: ${category})`)(target, String(propertyKey));
  };
}

/** Name of the SDL directive that exempts an argument or input field from the PHI screen of free-text inputs. */
export const PHI_EXEMPT_DIRECTIVE = 'phiExempt';

/**
 * Marks a query or mutation argument as carrying PHI of a category (a search by SSN, a reason sealed at rest): the
 * SDL shows `@phi` on the argument, and the input guard leaves it alone, since PHI is expected there.
 */
export function PhiArg(category: PhiCategory): ParameterDecorator {
  return Directive(`@phi(category: ${category})`);
}

/**
 * Exempts a free-text argument or input field from the PHI screen, with the reason the SDL shows
 * (`@phiExempt(reason:)`): credentials and tokens, which are never inspected, card data, which has its own rules,
 * opaque cursors the server issued. Every other unmarked string input is screened (see src/phi/input-guard.ts).
 */
export function NotPhiInput(reason: string): PropertyDecorator & ParameterDecorator {
  if (reason.trim().length === 0) throw new Error('NotPhiInput needs a reason');
  return Directive(`@${PHI_EXEMPT_DIRECTIVE}(reason: ${JSON.stringify(reason)})`);
}

/** Reasons shared by several exemptions from the PHI screen; each shows in the SDL beside the input. */
export const NOT_PHI_INPUT = {
  credential: 'a credential: never inspected, logged or echoed; compared with its argon2id hash only',
  token: 'a token the server issued: verified by signature or digest, never stored or logged as given',
  oneTimeCode: 'a second-factor or recovery code: checked against the enrolled factor or a digest, not stored as given',
  cursor: 'an opaque page cursor the server issued: decoded and checked before use, never stored or logged',
  accountEmail: 'the sign-in identifier of an account, sealed at rest (@Sealed on User.email)',
  cardData: 'card data: validated by billing/card.validation.ts, sent only to the payment processor (PCI DSS)',
} as const;
