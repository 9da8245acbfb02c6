import { randomInt, randomUUID } from 'node:crypto';
import { UniqueConstraintViolationException, type EntityManager } from '@mikro-orm/postgresql';

import { isUuid } from '../db/ids';
import { preparedRead } from '../db/prepared';
import { badUserInput, notFound } from '../graphql/errors';
import type { PhiVault } from '../keys/phi-vault';
import type { AddressInput } from './address.type';
import { Encounter } from './encounter.entity';
import type { EncounterInput, PatientInput, PatientUpdateInput } from './patient.inputs';
import { Patient } from './patient.entity';
import * as valid from './patient.validation';

export const MAX_PAGE_SIZE = 100;

/** How patient rows are selected without the QueryBuilder (see PatientService.select). */
interface PatientColumns {
  select: string;
  fields: Set<string>;
  fieldOf(property: string): string;
}

/** Search criteria of `findPatients`; every given criterion must match exactly. */
export interface PatientSearch {
  ssn?: string | null;
  email?: string | null;
  phone?: string | null;
  mrn?: string | null;
  lastName?: string | null;
  dateOfBirth?: string | null;
}

/** A SQL condition on alias `p` limiting rows to the patients the caller may reach. */
export interface ListScope {
  sql: string;
  params: unknown[];
  /**
   * Extra select-list items (alias `p`) computed beside each row, such as the caller's access decision; their
   * values are handed to `take` with the row's id and are not part of the returned rows.
   */
  columns?: { sql: string; params: unknown[]; take(patientId: string, values: Record<string, unknown>): void };
}

function address(input: AddressInput, field: string) {
  return {
    line1: valid.text(input.line1, `${field}.line1`, valid.TEXT_LIMITS.line),
    city: valid.text(input.city, `${field}.city`, valid.TEXT_LIMITS.name),
    postalCode: valid.text(input.postalCode, `${field}.postalCode`, 16),
    country: valid.country(input.country, `${field}.country`),
  };
}

/** Validates and normalises patient input; only keys present in `input` appear in the result. */
export function patientValues(input: PatientInput | PatientUpdateInput): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const set = (key: keyof PatientInput, fn: (v: never) => unknown, required: boolean) => {
    const value = (input as unknown as Record<string, unknown>)[key];
    if (value === undefined) return;
    if (value === null) {
      if (required) throw badUserInput(`${key} cannot be cleared`, key);
      out[key] = null;
      return;
    }
    out[key] = fn(value as never);
  };
  set('mrn', (v: string) => valid.mrn(v), true);
  set('firstName', (v: string) => valid.text(v, 'firstName', valid.TEXT_LIMITS.name), true);
  set('lastName', (v: string) => valid.text(v, 'lastName', valid.TEXT_LIMITS.name), true);
  set('dateOfBirth', (v: string) => valid.pastDate(v, 'dateOfBirth'), true);
  set('sex', (v: string) => v, true);
  set('ssn', (v: string) => valid.ssn(v), false);
  set('email', (v: string) => valid.email(v), false);
  set('phone', (v: string) => valid.phone(v), false);
  set('address', (v: AddressInput) => address(v, 'address'), false);
  set('insuranceMemberId', (v: string) => valid.text(v, 'insuranceMemberId', valid.TEXT_LIMITS.memberId), false);
  return out;
}

function encodeCursor(row: { createdAt: Date; id: string }): string {
  return Buffer.from(JSON.stringify([row.createdAt.toISOString(), row.id])).toString('base64url');
}

function decodeCursor(cursor: string): [string, string] {
  try {
    const [at, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [string, string];
    if (typeof at !== 'string' || Number.isNaN(Date.parse(at)) || !isUuid(id)) throw new Error('bad cursor');
    return [at, id];
  } catch {
    throw badUserInput('after is not a cursor returned by this API', 'after');
  }
}

/**
 * Patient records and encounters. Writes seal every PHI value through the vault; reads return
 * rows whose PHI stays ciphertext until a field resolver decides the caller may see it.
 */
export class PatientService {
  private columns?: PatientColumns;

  constructor(private readonly vault: PhiVault) {}

  /**
   * Registers a patient; an MRN is assigned when none is given. A clinician who registers a
   * patient is treating them, so `careTeamMemberId` joins the new patient's care team.
   */
  async create(em: EntityManager, input: PatientInput, careTeamMemberId?: string): Promise<Patient> {
    const values = patientValues(input);
    values.mrn ??= `MRN${randomInt(0, 1e9).toString().padStart(9, '0')}`;
    const now = new Date();
    const patient = new Patient();
    patient.id = randomUUID();
    patient.createdAt = now;
    patient.updatedAt = now;
    await this.vault.assign(em, patient, values);
    em.persist(patient);
    await this.flushUnique(em, 'mrn');
    if (careTeamMemberId) {
      await em.execute(
        'INSERT INTO care_team_members (id, patient_id, user_id, added_by, created_at) VALUES (?, ?, ?, ?, now())',
        [randomUUID(), patient.id, careTeamMemberId, careTeamMemberId],
      );
    }
    return patient;
  }

  /** Changes the given fields of an existing patient. */
  async update(em: EntityManager, id: string, input: PatientUpdateInput): Promise<Patient> {
    const values = patientValues(input);
    const patient = await this.get(em, id);
    await this.vault.assign(em, patient, { ...values, updatedAt: new Date() });
    await this.flushUnique(em, 'mrn');
    return patient;
  }

  private async flushUnique(em: EntityManager, field: string): Promise<void> {
    try {
      await em.flush();
    } catch (error) {
      // PostgreSQL's detail names the duplicated key (a blind index); only the field name leaves.
      if (error instanceof UniqueConstraintViolationException) throw badUserInput(`${field} is already in use`, field);
      throw error;
    }
  }

  /** The patient, or NOT_FOUND (also for ids that cannot exist). */
  async get(em: EntityManager, id: string): Promise<Patient> {
    const patient = isUuid(id) ? await em.findOne(Patient, { id }) : null;
    if (!patient) throw notFound('Patient');
    return patient;
  }

  /** One patient as a plain row (no managed entity), or null; `scope` as for `page`. */
  async row(em: EntityManager, id: string, scope?: ListScope | null): Promise<Patient | null> {
    if (!isUuid(id)) return null;
    const [patient] = await this.select(em, ['p.id = ?'], [id], 1, scope);
    return patient ?? null;
  }

  /** A page of patients in registration order, read as plain rows (no managed entities). */
  async page(
    em: EntityManager,
    first: number,
    after?: string | null,
    scope?: ListScope | null,
  ): Promise<{ nodes: Patient[]; endCursor: string | null; hasNextPage: boolean }> {
    if (!Number.isInteger(first) || first < 1 || first > MAX_PAGE_SIZE) {
      throw badUserInput(`first must be between 1 and ${MAX_PAGE_SIZE}`, 'first');
    }
    const conditions: string[] = [];
    const params: unknown[] = [];
    if (after) {
      const [at, id] = decodeCursor(after);
      conditions.push('(p.created_at > ? OR (p.created_at = ? AND p.id > ?))');
      params.push(new Date(at), new Date(at), id);
    }
    const rows = await this.select(em, conditions, params, first + 1, scope);
    const nodes = rows.slice(0, first);
    const last = nodes.at(-1);
    return { nodes, endCursor: last ? encodeCursor(last) : null, hasNextPage: rows.length > first };
  }

  /** Exact-match search through blind indexes: no decryption, an ordinary index lookup. */
  async search(em: EntityManager, criteria: PatientSearch, scope?: ListScope | null): Promise<Patient[]> {
    const where: [property: string, digest: string][] = [];
    if (criteria.ssn) where.push(['ssnBidx', this.vault.indexFor(em, 'Patient', 'ssn', valid.ssn(criteria.ssn))]);
    if (criteria.email)
      where.push(['emailBidx', this.vault.indexFor(em, 'Patient', 'email', valid.email(criteria.email))]);
    if (criteria.phone)
      where.push(['phoneBidx', this.vault.indexFor(em, 'Patient', 'phone', valid.phone(criteria.phone))]);
    if (criteria.mrn) where.push(['mrnBidx', this.vault.indexFor(em, 'Patient', 'mrn', valid.mrn(criteria.mrn))]);
    if (criteria.lastName || criteria.dateOfBirth) {
      if (!criteria.lastName || !criteria.dateOfBirth) {
        throw badUserInput(
          'lastName and dateOfBirth are searched together',
          criteria.lastName ? 'dateOfBirth' : 'lastName',
        );
      }
      const lastName = valid.text(criteria.lastName, 'lastName', valid.TEXT_LIMITS.name);
      where.push([
        'nameDobBidx',
        this.vault.compoundIndexFor(em, 'Patient', 'nameDob', [lastName, criteria.dateOfBirth]),
      ]);
    }
    if (where.length === 0) throw badUserInput('give at least one search criterion');
    const columns = this.columnsOf(em);
    return this.select(
      em,
      where.map(([property]) => `p.${columns.fieldOf(property)} = ?`),
      where.map(([, digest]) => digest),
      MAX_PAGE_SIZE,
      scope,
    );
  }

  /**
   * Patients as plain rows (no managed entities, no QueryBuilder: issue 11 measured its query building as a
   * visible share of a search), in registration order. Column names come from the entity's metadata and values
   * are bound parameters; `scope` adds its condition and, with `columns`, values computed beside each row.
   */
  private async select(
    em: EntityManager,
    conditions: string[],
    params: unknown[],
    limit: number,
    scope?: ListScope | null,
  ): Promise<Patient[]> {
    const columns = this.columnsOf(em);
    const extra = scope?.columns;
    const where = scope ? [...conditions, `(${scope.sql})`] : conditions;
    const raw = await preparedRead<Record<string, unknown>>(
      em,
      `SELECT ${columns.select}${extra ? `, ${extra.sql}` : ''} FROM patients p
       ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY p.created_at ASC, p.id ASC LIMIT ?`,
      [...(extra?.params ?? []), ...params, ...(scope?.params ?? []), limit],
    );
    const comparator = em.getComparator();
    return raw.map((row) => {
      const columnsOfRow = {} as Record<string, unknown>;
      const values = {} as Record<string, unknown>;
      for (const key of Object.keys(row)) (columns.fields.has(key) ? columnsOfRow : values)[key] = row[key];
      // The ORM's own column-to-property mapping (names and conversions, dates included), without an entity.
      const patient = comparator.mapResult(Patient.name, columnsOfRow) as unknown as Patient;
      extra?.take(patient.id, values);
      return patient;
    });
  }

  /** The patient table's columns, from the entity metadata (read once). */
  private columnsOf(em: EntityManager): PatientColumns {
    if (this.columns) return this.columns;
    const meta = em.getMetadata().get(Patient.name);
    const props = meta.props.filter((prop) => prop.persist !== false && prop.fieldNames?.length === 1);
    const field = new Map(props.map((prop) => [prop.name as string, prop.fieldNames[0]]));
    this.columns = {
      select: props.map((prop) => `p.${prop.fieldNames[0]}`).join(', '),
      fields: new Set(field.values()),
      fieldOf: (property) => {
        const name = field.get(property);
        if (!name) throw new Error(`Patient has no column for ${property}`);
        return name;
      },
    };
    return this.columns;
  }

  /**
   * Records an encounter for an existing patient, by the given clinician. `known` is the patient's row when the
   * caller has just read it (the resolver reads it beside its access decision), so it is not read a second time.
   */
  async createEncounter(
    em: EntityManager,
    clinicianId: string,
    input: EncounterInput,
    known?: Pick<Patient, 'id'>,
  ): Promise<Encounter> {
    const patient = known?.id === input.patientId ? known : await this.get(em, input.patientId);
    const startedAt = input.startedAt ?? new Date();
    if (startedAt.getTime() > Date.now() + 5 * 60_000)
      throw badUserInput('startedAt must not be in the future', 'startedAt');
    const encounter = new Encounter();
    encounter.id = randomUUID();
    encounter.patientId = patient.id;
    encounter.clinicianId = clinicianId;
    encounter.startedAt = startedAt;
    encounter.createdAt = new Date();
    await this.vault.assign(em, encounter, {
      reason: valid.text(input.reason, 'reason', valid.TEXT_LIMITS.reason),
      notes: input.notes == null ? null : valid.text(input.notes, 'notes', valid.TEXT_LIMITS.notes),
      diagnosisCodes: valid.icd10Codes(input.diagnosisCodes),
      sensitivity: input.sensitivity ?? null,
    });
    em.persist(encounter);
    await em.flush();
    return encounter;
  }

  /** Encounters of several patients in one query, newest first, grouped by patient id. */
  async encountersOf(em: EntityManager, patientIds: string[]): Promise<Map<string, Encounter[]>> {
    const rows = (await em
      .createQueryBuilder(Encounter, 'e')
      .select('*')
      .where({ patientId: { $in: patientIds } })
      .orderBy({ startedAt: 'desc', id: 'asc' })
      .execute('all', true)) as unknown as Encounter[];
    const byPatient = new Map<string, Encounter[]>(patientIds.map((id) => [id, []]));
    for (const row of rows) byPatient.get(row.patientId)?.push(row);
    return byPatient;
  }
}
