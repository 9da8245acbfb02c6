import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';

import { User } from '../auth/user.entity';
import type { Role } from '../config/roles';
import { badUserInput, notFound } from '../graphql/errors';
import { isUuid } from '../db/ids';

/** Roles whose accounts may sit on a care team (an ADMIN member gains clinical access to that patient). */
export const CARE_TEAM_ROLES: readonly Role[] = ['PHYSICIAN', 'NURSE', 'ADMIN'];

/** NOT_FOUND unless the patient exists (also for ids that cannot exist). */
export async function assertPatientExists(em: EntityManager, patientId: string): Promise<void> {
  const rows = isUuid(patientId) ? await em.execute('SELECT 1 FROM patients WHERE id = ?', [patientId]) : [];
  if (rows.length === 0) throw notFound('Patient');
}

/** Writes the audit record of a care-team change through `em` (the change's transaction); told whether anything changed. */
export type CareTeamRecorder = (changed: boolean, em: EntityManager) => Promise<void>;

/**
 * Care teams: the staff treating a patient. Membership is what gives clinicians (and an ADMIN
 * put on the team) full access to the patient's record; the access service reads it per request,
 * so a change takes effect on the next request.
 */
export class CareTeamService {
  /**
   * Adds an enabled PHYSICIAN, NURSE or ADMIN to a patient's care team; adding a member again
   * changes nothing. `record` (the audit row) runs before the change commits: if it fails, the
   * change is rolled back, so no membership changes unrecorded.
   */
  async assign(
    em: EntityManager,
    addedBy: string,
    patientId: string,
    userId: string,
    record: CareTeamRecorder,
  ): Promise<boolean> {
    await assertPatientExists(em, patientId);
    // An administrator on a care team reads the full record: one cannot grant that to oneself.
    if (userId === addedBy) throw badUserInput('You cannot add yourself to a care team', 'userId');
    await this.assertEligible(em, userId);

    return em.transactional(async (tem) => {
      const rows = await tem.execute(
        `INSERT INTO care_team_members (id, patient_id, user_id, added_by, created_at) VALUES (?, ?, ?, ?, now())
         ON CONFLICT (patient_id, user_id) DO NOTHING RETURNING id`,
        [randomUUID(), patientId, userId, addedBy],
      );
      await record(rows.length > 0, tem);
      return rows.length > 0;
    });
  }

  /** Takes a member off a patient's care team (recorded like `assign`); returns whether they were on it. */
  async remove(em: EntityManager, patientId: string, userId: string, record: CareTeamRecorder): Promise<boolean> {
    await assertPatientExists(em, patientId);
    return em.transactional(async (tem) => {
      const rows = isUuid(userId)
        ? await tem.execute('DELETE FROM care_team_members WHERE patient_id = ? AND user_id = ? RETURNING id', [
            patientId,
            userId,
          ])
        : [];
      await record(rows.length > 0, tem);
      return rows.length > 0;
    });
  }

  /** Whether the user is on the patient's care team. */
  async isMember(em: EntityManager, patientId: string, userId: string): Promise<boolean> {
    if (!isUuid(patientId) || !isUuid(userId)) return false;
    const rows = await em.execute('SELECT 1 FROM care_team_members WHERE patient_id = ? AND user_id = ?', [
      patientId,
      userId,
    ]);
    return rows.length > 0;
  }

  /** The accounts on a patient's care team, longest-serving first (disabled ones included, for clean-up). */
  async members(em: EntityManager, patientId: string): Promise<User[]> {
    const rows = await em.execute<{ user_id: string }[]>(
      'SELECT user_id FROM care_team_members WHERE patient_id = ? ORDER BY created_at, id',
      [patientId],
    );
    if (rows.length === 0) return [];
    const users = await em.find(User, { id: { $in: rows.map((r) => r.user_id) } });
    const byId = new Map(users.map((u) => [u.id, u]));
    return rows.map((r) => byId.get(r.user_id)).filter((u): u is User => u !== undefined);
  }

  private async assertEligible(em: EntityManager, userId: string): Promise<void> {
    type Row = { role: Role; disabled_at: unknown };
    const [user] = isUuid(userId)
      ? await em.execute<Row[]>('SELECT role, disabled_at FROM users WHERE id = ?', [userId])
      : [];
    // One answer for unknown, disabled and ineligible accounts.
    if (!user || user.disabled_at || !CARE_TEAM_ROLES.includes(user.role)) {
      throw badUserInput('userId must name an enabled PHYSICIAN, NURSE or ADMIN account', 'userId');
    }
  }
}
