import type { EntityManager } from '@mikro-orm/postgresql';

import type { PhiVault } from '../../keys/phi-vault';
import { normalizeForIndex } from '../../phi/normalize';
import type { UebaFacts } from './ueba.types';

/** A user and a patient they opened. */
export interface UserPatient {
  userId: string;
  patientId: string;
}

/**
 * The port through which the scanner learns facts that live in feature tables. src/audit/ never imports a feature
 * folder; `SqlUebaFacts` below answers over table names only, and the composition root may substitute another.
 */
export interface UebaFactSource {
  /** `pairs`: every (user, patient) of the scanned range; `judged`: those of the days being judged (surnames). */
  load(em: EntityManager, pairs: UserPatient[], judged: UserPatient[], since: Date): Promise<UebaFacts>;
}

const key = (userId: string, patientId: string): string => `${userId}|${patientId}`;

/**
 * Facts from PostgreSQL. What each can and cannot see:
 * - relation: current care-team membership, any break-glass grant (live or past) of that user for that patient, or a
 *   read under purpose TREATMENT/EMERGENCY since `since` (the access service's verdict at the time). A care-team
 *   membership that was removed before the scan and left no such read is not seen.
 * - VIP: the `patients.vip` flag as it is at scan time (not as it was when the record was opened).
 * - surname: the patient's last name, opened through the PHI vault in memory at scan time for the patients opened on
 *   the judged days, compared with the last word of the user's display name after the blind-index name
 *   normalisation (case, spacing, Unicode form). Only the yes/no answer leaves this function; no plaintext is
 *   stored and no new blind index exists. It cannot see double-barrelled or maiden names, a display name that is not
 *   "given-name surname", or a shared address: staff home addresses are not held, so there is no address rule.
 *   Known shortcoming: these in-memory openings are not written to the audit trail (a system process; one row per
 *   patient per scan would swamp it), and a record whose data key was shredded is skipped.
 */
export class SqlUebaFacts implements UebaFactSource {
  constructor(private readonly vault: PhiVault) {}

  async load(em: EntityManager, pairs: UserPatient[], judged: UserPatient[], since: Date): Promise<UebaFacts> {
    const [related, vips, namesakes] = await Promise.all([
      this.related(em, pairs, since),
      this.vips(em, [...new Set(pairs.map((p) => p.patientId))]),
      this.namesakes(em, judged),
    ]);
    return {
      related: (userId, patientId) => related.has(key(userId, patientId)),
      vip: (patientId) => vips.has(patientId),
      sameSurname: (userId, patientId) => namesakes.has(key(userId, patientId)),
    };
  }

  private async related(em: EntityManager, pairs: UserPatient[], since: Date): Promise<Set<string>> {
    if (pairs.length === 0) return new Set();
    const rows = await em.execute<{ user_id: string; patient_id: string }[]>(
      `SELECT p.user_id, p.patient_id FROM jsonb_to_recordset(?::jsonb) AS p(user_id uuid, patient_id uuid)
       WHERE EXISTS (SELECT 1 FROM care_team_members c WHERE c.user_id = p.user_id AND c.patient_id = p.patient_id)
          OR EXISTS (SELECT 1 FROM break_glass_grants g WHERE g.user_id = p.user_id AND g.patient_id = p.patient_id)
          OR EXISTS (SELECT 1 FROM audit_events a WHERE a.patient_id = p.patient_id AND a.actor_id = p.user_id
                     AND a.at >= ? AND a.outcome = 'ALLOWED' AND a.purpose IN ('TREATMENT', 'EMERGENCY'))`,
      [JSON.stringify(pairs.map((p) => ({ user_id: p.userId, patient_id: p.patientId }))), since],
    );
    return new Set(rows.map((r) => key(r.user_id, r.patient_id)));
  }

  private async vips(em: EntityManager, patientIds: string[]): Promise<Set<string>> {
    if (patientIds.length === 0) return new Set();
    const rows = await em.execute<{ id: string }[]>(
      'SELECT id FROM patients WHERE vip AND id IN (SELECT jsonb_array_elements_text(?::jsonb)::uuid)',
      [JSON.stringify(patientIds)],
    );
    return new Set(rows.map((r) => r.id));
  }

  private async namesakes(em: EntityManager, judged: UserPatient[]): Promise<Set<string>> {
    if (judged.length === 0) return new Set();
    const userIds = [...new Set(judged.map((p) => p.userId))];
    const patientIds = [...new Set(judged.map((p) => p.patientId))];
    const users = await em.execute<{ id: string; display_name: string }[]>(
      'SELECT id, display_name FROM users WHERE id IN (SELECT jsonb_array_elements_text(?::jsonb)::uuid)',
      [JSON.stringify(userIds)],
    );
    const surnames = new Map(users.map((u) => [u.id, surnameOf(u.display_name)]));
    const patients = await em.execute<{ id: string; last_name: string }[]>(
      'SELECT id, last_name FROM patients WHERE id IN (SELECT jsonb_array_elements_text(?::jsonb)::uuid)',
      [JSON.stringify(patientIds)],
    );
    const lastNames = new Map<string, string>();
    for (const p of patients) {
      try {
        const opened = await this.vault.open(em, { id: p.id, lastName: p.last_name }, 'lastName', 'Patient');
        lastNames.set(p.id, normalizeForIndex('name', String(opened)));
      } catch {
        // Unreadable (shredded data key): nothing to compare.
      }
    }
    const found = new Set<string>();
    for (const { userId, patientId } of judged) {
      const surname = surnames.get(userId);
      if (surname && surname === lastNames.get(patientId)) found.add(key(userId, patientId));
    }
    return found;
  }
}

/** The last word of a display name, normalised like a blind-indexed name; undefined for a one-word name. */
export function surnameOf(displayName: string): string | undefined {
  const words = normalizeForIndex('name', displayName).split(' ').filter(Boolean);
  return words.length >= 2 ? words[words.length - 1] : undefined;
}
