import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';

import { isUuid } from '../db/ids';

import { badUserInput, notFound } from '../graphql/errors';
import { Consent, ConsentType } from './consent.entity';

const POLICY_VERSION = /^[A-Za-z0-9._-]{1,32}$/;
const CONSENT_TYPES = new Set<string>(Object.values(ConsentType));
const USER_AGENT_LIMIT = 256;

/** How a consent reached us: the patient themself (PORTAL) or staff on their behalf (API). */
export type ConsentChannel = 'PORTAL' | 'API';

/** Who records a consent and from where: stored on the row as proof of consent. */
export interface ConsentRecorder {
  userId: string;
  role: string;
  channel: ConsentChannel;
  ip: string | null;
  userAgent: string | null;
}

/** One patient's consents: the newest row of each recorded type, and every row oldest first. */
export interface ConsentHistory {
  current: Consent[];
  history: Consent[];
}

interface ConsentRow {
  id: string;
  patient_id: string;
  type: ConsentType;
  given: boolean;
  policy_version: string | null;
  at: Date;
}

function toConsent(row: ConsentRow): Consent {
  return Object.assign(new Consent(), {
    id: row.id,
    patientId: row.patient_id,
    type: row.type,
    given: row.given,
    policyVersion: row.policy_version,
    at: row.at,
  });
}

function assertType(type: unknown): asserts type is ConsentType {
  if (typeof type !== 'string' || !CONSENT_TYPES.has(type)) throw badUserInput('Unknown consent type', 'type');
}

/**
 * Consent records: append-only rows (the database refuses UPDATE), the current state of a type
 * being its newest row. Who may record or read them is the caller's check; this validates and
 * appends.
 */
export class ConsentService {
  /** For each patient, the consent types whose newest record is a grant. */
  async currentlyGiven(
    em: EntityManager,
    patientIds: string[],
    types: ConsentType[],
  ): Promise<Map<string, Set<ConsentType>>> {
    const given = new Map<string, Set<ConsentType>>();
    if (patientIds.length === 0 || types.length === 0) return given;
    const rows: { patient_id: string; type: ConsentType; given: boolean }[] = await em.execute(
      `SELECT DISTINCT ON (patient_id, type) patient_id, type, given FROM consents
       WHERE patient_id IN (?) AND type IN (?) ORDER BY patient_id, type, at DESC, id DESC`,
      [patientIds, types],
    );
    for (const row of rows) {
      if (!row.given) continue;
      const set = given.get(row.patient_id) ?? new Set<ConsentType>();
      set.add(row.type);
      given.set(row.patient_id, set);
    }
    return given;
  }

  /** Whether a patient record with this id exists; reads the id only, never a PHI column. */
  async patientExists(em: EntityManager, patientId: string): Promise<boolean> {
    if (!isUuid(patientId)) return false;
    const rows = await em.execute('SELECT 1 FROM patients WHERE id = ?', [patientId]);
    return rows.length > 0;
  }

  /** Records a grant of `type` under the policy text `policyVersion` (1..32 of A-Z a-z 0-9 . _ -). */
  async grant(
    em: EntityManager,
    patientId: string,
    type: ConsentType,
    policyVersion: string,
    by: ConsentRecorder,
  ): Promise<Consent> {
    assertType(type);
    if (typeof policyVersion !== 'string' || !POLICY_VERSION.test(policyVersion)) {
      throw badUserInput(
        'Policy version must be 1 to 32 characters of A-Z, a-z, 0-9, ".", "_" or "-"',
        'policyVersion',
      );
    }
    return this.append(em, patientId, type, true, policyVersion, by);
  }

  /**
   * Records a withdrawal of `type`. Its policyVersion is null: a withdrawal agrees to no policy
   * text, and the grant it ends is the row before it in the history. Recorded even when nothing
   * was granted, as an explicit refusal.
   */
  async withdraw(em: EntityManager, patientId: string, type: ConsentType, by: ConsentRecorder): Promise<Consent> {
    assertType(type);
    return this.append(em, patientId, type, false, null, by);
  }

  /** Every consent row of a patient, oldest first, and the newest row of each recorded type. */
  async history(em: EntityManager, patientId: string): Promise<ConsentHistory> {
    const rows = await em.execute<ConsentRow[]>(
      `SELECT id, patient_id, type, given, policy_version, at FROM consents
       WHERE patient_id = ? ORDER BY at, id`,
      [patientId],
    );
    const history = rows.map(toConsent);

    const newest = new Map<ConsentType, Consent>();
    for (const consent of history) newest.set(consent.type, consent);
    const current = Object.values(ConsentType).flatMap((type) => newest.get(type) ?? []);
    return { current, history };
  }

  /**
   * Appends one row. The patient row is locked for the transaction so that writes for one patient
   * are serialised and the patient cannot vanish between check and insert; `at` is the database
   * clock, kept strictly after the type's previous row so "newest" never depends on a tie or a
   * clock stepping back.
   */
  private async append(
    em: EntityManager,
    patientId: string,
    type: ConsentType,
    given: boolean,
    policyVersion: string | null,
    by: ConsentRecorder,
  ): Promise<Consent> {
    if (!isUuid(patientId)) throw notFound('Patient');

    return em.transactional(async (tem) => {
      const patient = await tem.execute('SELECT id FROM patients WHERE id = ? FOR NO KEY UPDATE', [patientId]);
      if (patient.length === 0) throw notFound('Patient');

      const [row] = await tem.execute<ConsentRow[]>(
        `INSERT INTO consents (id, patient_id, type, given, policy_version, at, channel, ip, user_agent, recorded_by, recorded_by_role)
         VALUES (?, ?, ?, ?, ?,
           (SELECT GREATEST(clock_timestamp(), max(at) + interval '1 microsecond') FROM consents WHERE patient_id = ? AND type = ?),
           ?, ?, ?, ?, ?)
         RETURNING id, patient_id, type, given, policy_version, at`,
        [
          randomUUID(),
          patientId,
          type,
          given,
          policyVersion,
          patientId,
          type,
          by.channel,
          by.ip || null,
          by.userAgent ? by.userAgent.slice(0, USER_AGENT_LIMIT) : null,
          by.userId,
          by.role,
        ],
      );
      return toConsent(row);
    });
  }
}
