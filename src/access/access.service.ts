import type { EntityManager } from '@mikro-orm/postgresql';

import { ConsentType } from '../consent/consent.entity';
import type { ConsentService } from '../consent/consent.service';
import type { Actor } from '../graphql/context';

import type { Relation } from '../phi/redaction.policy';

export type { Relation };

/** Purpose of use recorded in the audit trail (HL7 PurposeOfUse, simplified). */
export type Purpose = 'TREATMENT' | 'EMERGENCY' | 'OPERATIONS' | 'PAYMENT' | 'DATA_SHARING' | 'SELF_ACCESS';

/** What the caller may do with one patient's record. */
export interface PatientAccess {
  relation: Relation;
  purpose: Purpose;
  /** Whether encounters carrying a sensitivity label are visible too. */
  sensitive: boolean;
}

/** The scope an INTEGRATOR account needs to read patient records. */
export const PATIENT_READ_SCOPE = 'patients:read';

/** Every scope an INTEGRATOR account may be given; account creation refuses any other. */
export const INTEGRATOR_SCOPES: readonly string[] = [PATIENT_READ_SCOPE, 'schema:read'];

/** Purposes that survive a restriction of processing (GDPR Art. 18(2): the subject's own access, treatment). */
const RESTRICTION_SURVIVING_PURPOSES: readonly Purpose[] = ['TREATMENT', 'EMERGENCY', 'SELF_ACCESS'];

/** SQL (alias `p`): the patient's processing is not restricted. */
const NOT_RESTRICTED = 'p.restricted_at IS NULL';

/**
 * The object-level policy: which patients a caller may reach and how. Role gates on operations
 * are the shield rules' job; this answers "this patient, for this caller?" so that every path
 * (direct, nested, list, search) asks the same question. Patients absent from an answer are
 * unreachable and must be reported as NOT_FOUND.
 */
export class AccessService {
  constructor(private readonly consents: ConsentService) {}

  /**
   * Decisions for several patients in a handful of queries. A patient whose processing is restricted
   * (GDPR Art. 18, `restrictProcessing`) keeps only treatment access (care team, break-glass) and the
   * patient's own (Art. 15); legal access by PRIVACY_OFFICER and AUDITOR goes through their own queries.
   */
  async decide(em: EntityManager, actor: Actor, patientIds: string[]): Promise<Map<string, PatientAccess>> {
    const out = await this.decideUnrestricted(em, actor, patientIds);
    const limited = [...out].filter(([, access]) => !RESTRICTION_SURVIVING_PURPOSES.includes(access.purpose));
    if (limited.length === 0) return out;
    const restricted = await em.execute<{ id: string }[]>(
      'SELECT id FROM patients WHERE id IN (?) AND restricted_at IS NOT NULL',
      [limited.map(([id]) => id)],
    );
    for (const { id } of restricted) out.delete(id);
    return out;
  }

  private async decideUnrestricted(
    em: EntityManager,
    actor: Actor,
    patientIds: string[],
  ): Promise<Map<string, PatientAccess>> {
    const out = new Map<string, PatientAccess>();
    const ids = [...new Set(patientIds)];
    if (ids.length === 0) return out;
    switch (actor.role) {
      case 'PATIENT':
        if (actor.patientId && ids.includes(actor.patientId)) {
          out.set(actor.patientId, { relation: 'SELF', purpose: 'SELF_ACCESS', sensitive: true });
        }
        return out;
      case 'AUDITOR':
      case 'PRIVACY_OFFICER':
        return out;
      case 'RECEPTIONIST':
        for (const id of ids) out.set(id, { relation: 'STAFF', purpose: 'OPERATIONS', sensitive: false });
        return out;
      case 'BILLING':
        for (const id of ids) out.set(id, { relation: 'STAFF', purpose: 'PAYMENT', sensitive: false });
        return out;
      case 'INTEGRATOR': {
        if (!actor.scopes?.includes(PATIENT_READ_SCOPE)) return out;
        const given = await this.consents.currentlyGiven(em, ids, [ConsentType.DATA_SHARING]);
        for (const id of ids) {
          if (given.get(id)?.has(ConsentType.DATA_SHARING))
            out.set(id, { relation: 'CONSENTED', purpose: 'DATA_SHARING', sensitive: false });
        }
        return out;
      }
      case 'ADMIN':
      case 'PHYSICIAN':
      case 'NURSE': {
        // One statement for care team, break-glass and sensitive-data consent (issue 11: three queries, two of them
        // in sequence, were most of a findPatients request). The consent column repeats ConsentService.currentlyGiven's
        // rule: the newest record of the type decides. em.execute, not the raw connection: inside a caller's
        // transaction this sees its uncommitted rows.
        const glassSql =
          actor.role === 'ADMIN'
            ? 'false'
            : `EXISTS (SELECT 1 FROM break_glass_grants g WHERE g.user_id = ? AND g.patient_id = ids.id
                 AND g.revoked_at IS NULL AND g.expires_at > now())`;
        const rows = await em.execute<{ patient_id: string; on_team: boolean; glass: boolean; sensitive: boolean }[]>(
          `SELECT ids.id AS patient_id,
             EXISTS (SELECT 1 FROM care_team_members c WHERE c.user_id = ? AND c.patient_id = ids.id) AS on_team,
             ${glassSql} AS glass,
             COALESCE((SELECT s.given FROM consents s WHERE s.patient_id = ids.id AND s.type = ?
                       ORDER BY s.at DESC, s.id DESC LIMIT 1), false) AS sensitive
           FROM unnest(ARRAY[?]::uuid[]) AS ids(id)`,
          [actor.userId, ...(actor.role === 'ADMIN' ? [] : [actor.userId]), ConsentType.SENSITIVE_DATA, ids],
        );
        for (const row of rows) {
          if (row.glass) out.set(row.patient_id, { relation: 'BREAK_GLASS', purpose: 'EMERGENCY', sensitive: true });
          else if (row.on_team)
            out.set(row.patient_id, { relation: 'CARE_TEAM', purpose: 'TREATMENT', sensitive: row.sensitive });
        }
        if (actor.role === 'ADMIN') {
          for (const id of ids)
            if (!out.has(id)) out.set(id, { relation: 'STAFF', purpose: 'OPERATIONS', sensitive: false });
        }
        return out;
      }
    }
  }

  /**
   * SQL restricting a patient list or search (alias `p`) to what the caller may reach, so lists
   * never depend on filtering rows after the fact. `null` means no restriction.
   */
  listScope(actor: Actor): { sql: string; params: unknown[] } | null {
    switch (actor.role) {
      case 'RECEPTIONIST':
      case 'BILLING':
        return { sql: NOT_RESTRICTED, params: [] };
      case 'ADMIN':
        // An ADMIN on a restricted patient's care team keeps that (treatment) access, as `decide` does.
        return {
          sql: `(${NOT_RESTRICTED} OR p.id IN (SELECT patient_id FROM care_team_members WHERE user_id = ?))`,
          params: [actor.userId],
        };
      case 'PHYSICIAN':
      case 'NURSE':
        return {
          sql: `(p.id IN (SELECT patient_id FROM care_team_members WHERE user_id = ?)
                 OR p.id IN (SELECT patient_id FROM break_glass_grants WHERE user_id = ? AND revoked_at IS NULL AND expires_at > now()))`,
          params: [actor.userId, actor.userId],
        };
      case 'INTEGRATOR':
        if (!actor.scopes?.includes(PATIENT_READ_SCOPE)) return { sql: 'false', params: [] };
        return {
          sql: `${NOT_RESTRICTED} AND p.id IN (SELECT c.patient_id FROM (SELECT DISTINCT ON (patient_id) patient_id, given
                 FROM consents WHERE type = 'DATA_SHARING' ORDER BY patient_id, at DESC, id DESC) c WHERE c.given)`,
          params: [],
        };
      default:
        return { sql: 'false', params: [] };
    }
  }
}
