import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';

import { KeyDestroyedError } from '../crypto';
import { isUuid } from '../db/ids';
import type { Actor } from '../graphql/context';
import { AppError, badUserInput, notFound } from '../graphql/errors';
import type { PhiVault } from '../keys/phi-vault';
import {
  DataSubjectRequest,
  DataSubjectRequestStatus as Status,
  DataSubjectRequestType as Type,
  type ExportFormat,
} from './data-subject-request.entity';

export const REASON_MIN_LENGTH = 3;
export const REASON_MAX_LENGTH = 2000;
/** Most requests one listing returns (overdue first, then by due date). */
export const MAX_LISTED_REQUESTS = 500;

const OPEN: readonly Status[] = [Status.RECEIVED, Status.IN_REVIEW];

/**
 * The only transitions a request may take. RECEIVED -> COMPLETED is reserved for exports, which are
 * answered at once; nothing leaves COMPLETED or REJECTED.
 */
const TRANSITIONS: Record<Status, readonly Status[]> = {
  [Status.RECEIVED]: [Status.IN_REVIEW, Status.COMPLETED],
  [Status.IN_REVIEW]: [Status.COMPLETED, Status.REJECTED],
  [Status.COMPLETED]: [],
  [Status.REJECTED]: [],
};
const AUTOMATIC: readonly Type[] = [Type.ACCESS, Type.EXPORT];

/** BAD_USER_INPUT (field `requestId`) unless `from -> to` is allowed for this type of request. */
export function assertTransition(type: Type, from: Status, to: Status): void {
  const allowed =
    TRANSITIONS[from].includes(to) && (from !== Status.RECEIVED || to !== Status.COMPLETED || AUTOMATIC.includes(type));
  if (!allowed) throw badUserInput(`A ${from} ${type} request cannot become ${to}`, 'requestId');
}

/** One calendar month after `at` (GDPR Art. 12(3)), in UTC; the 31st becomes the last day of a shorter month. */
export function dueDate(at: Date): Date {
  const due = new Date(at.getTime());
  const day = due.getUTCDate();
  due.setUTCDate(1);
  due.setUTCMonth(due.getUTCMonth() + 1);
  const lastDay = new Date(Date.UTC(due.getUTCFullYear(), due.getUTCMonth() + 1, 0)).getUTCDate();
  due.setUTCDate(Math.min(day, lastDay));
  return due;
}

/** The free text of a request, trimmed and checked for length; the message never repeats it. */
export function validReason(reason: unknown, field = 'reason'): string {
  const trimmed = typeof reason === 'string' ? reason.trim() : '';
  const length = [...trimmed].length;
  if (length < REASON_MIN_LENGTH || length > REASON_MAX_LENGTH) {
    throw badUserInput(`${field} must be ${REASON_MIN_LENGTH} to ${REASON_MAX_LENGTH} characters`, field);
  }
  return trimmed;
}

type Row = Record<string, unknown>;
const COLUMNS = `id, patient_id, type, status, reason, rejection_reason, requested_by, requested_by_role, received_at,
  due_at, completed_at, decided_by, format, rectified_fields, certificate`;

const date = (value: unknown): Date => (value instanceof Date ? value : new Date(String(value)));

function toRequest(row: Row): DataSubjectRequest {
  return Object.assign(new DataSubjectRequest(), {
    id: row.id,
    patientId: row.patient_id,
    type: row.type,
    status: row.status,
    reason: row.reason ?? null,
    rejectionReason: row.rejection_reason ?? null,
    requestedBy: row.requested_by,
    requestedByRole: row.requested_by_role,
    receivedAt: date(row.received_at),
    dueAt: date(row.due_at),
    completedAt: row.completed_at ? date(row.completed_at) : null,
    decidedBy: row.decided_by ?? null,
    format: row.format ?? null,
    rectifiedFields: row.rectified_fields ?? null,
    certificate: row.certificate ?? null,
  });
}

/** What a finished request records besides its new status. */
export interface Outcome {
  /** Who completed or rejected it; null for the system (automatic exports). */
  decidedBy: string | null;
  rejectionReason?: string;
  certificate?: Record<string, unknown>;
  rectifiedFields?: string[];
}

/**
 * Data-subject requests: filing, listing and the lifecycle, every status change going through
 * `transition`. Who may do what is the resolver's and the rules' job; this validates and writes.
 */
export class DsrService {
  constructor(
    private readonly vault: PhiVault,
    private readonly stepUpMaxAgeSeconds: number,
  ) {}

  /**
   * Files a request about an existing patient (NOT_FOUND otherwise). The patient row is locked for the
   * transaction, so two filings cannot both pass the "one open request of a type" check.
   */
  async file(
    em: EntityManager,
    input: { patientId: string; type: Type; reason?: string | null; format?: ExportFormat | null },
    by: Pick<Actor, 'userId' | 'role'>,
  ): Promise<DataSubjectRequest> {
    const reason = input.reason == null ? null : validReason(input.reason);
    if (!isUuid(input.patientId)) throw notFound('Patient');

    return em.transactional(async (tem) => {
      const patient = await tem.execute('SELECT id FROM patients WHERE id = ? FOR NO KEY UPDATE', [input.patientId]);
      if (patient.length === 0) throw notFound('Patient');
      if (!AUTOMATIC.includes(input.type)) {
        const open = await tem.execute(
          'SELECT 1 FROM data_subject_requests WHERE patient_id = ? AND type = ? AND status IN (?)',
          [input.patientId, input.type, OPEN],
        );
        if (open.length > 0) throw badUserInput(`An open ${input.type} request exists for this patient`, 'patientId');
      }

      const receivedAt = new Date();
      const request = Object.assign(new DataSubjectRequest(), { id: randomUUID(), patientId: input.patientId });
      await this.vault.assign(tem, request, { reason });
      const [row] = await tem.execute<Row[]>(
        `INSERT INTO data_subject_requests
           (id, patient_id, type, status, reason, requested_by, requested_by_role, received_at, due_at, format)
         VALUES (?, ?, ?, 'RECEIVED', ?, ?, ?, ?, ?, ?) RETURNING ${COLUMNS}`,
        [
          request.id,
          input.patientId,
          input.type,
          request.reason ?? null,
          by.userId,
          by.role,
          receivedAt,
          dueDate(receivedAt),
          input.format ?? null,
        ],
      );
      return toRequest(row);
    });
  }

  /** One request, or NOT_FOUND (also for ids that cannot exist); `lock` holds its row to the end of the transaction. */
  async get(em: EntityManager, id: string, lock = false): Promise<DataSubjectRequest> {
    const sql = `SELECT ${COLUMNS} FROM data_subject_requests WHERE id = ?${lock ? ' FOR UPDATE' : ''}`;
    const [row] = isUuid(id) ? await em.execute<Row[]>(sql, [id]) : [];
    if (!row) throw notFound('Data-subject request');
    return toRequest(row);
  }

  /** Requests, overdue open ones first, then by due date; optionally of one status or one patient. */
  async list(
    em: EntityManager,
    filter: { status?: Status | null; patientId?: string | null },
  ): Promise<DataSubjectRequest[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.status) {
      where.push('status = ?');
      params.push(filter.status);
    }
    if (filter.patientId !== undefined && filter.patientId !== null) {
      where.push('patient_id = ?');
      params.push(filter.patientId);
    }
    const rows = await em.execute<Row[]>(
      `SELECT ${COLUMNS} FROM data_subject_requests ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY (status IN ('RECEIVED', 'IN_REVIEW') AND due_at < now()) DESC, due_at, id
       LIMIT ${MAX_LISTED_REQUESTS}`,
      params,
    );
    return rows.map(toRequest);
  }

  /** Open requests of one type for one patient, oldest first. */
  async openOf(em: EntityManager, patientId: string, type: Type): Promise<DataSubjectRequest[]> {
    const rows = await em.execute<Row[]>(
      `SELECT ${COLUMNS} FROM data_subject_requests WHERE patient_id = ? AND type = ? AND status IN (?)
       ORDER BY received_at, id`,
      [patientId, type, OPEN],
    );
    return rows.map(toRequest);
  }

  /**
   * Moves a request to `to`, the one place a status changes. The update is conditional on the status
   * read, so a concurrent change or a replay (approving twice) fails instead of overwriting.
   */
  async transition(
    em: EntityManager,
    request: DataSubjectRequest,
    to: Status,
    outcome: Outcome = { decidedBy: null },
  ): Promise<DataSubjectRequest> {
    assertTransition(request.type, request.status, to);
    const finished = to === Status.COMPLETED || to === Status.REJECTED;
    const sealed = Object.assign(new DataSubjectRequest(), { id: request.id, patientId: request.patientId });
    if (outcome.rejectionReason !== undefined) {
      await this.vault.assign(em, sealed, { rejectionReason: validReason(outcome.rejectionReason) });
    }
    const [row] = await em.execute<Row[]>(
      `UPDATE data_subject_requests SET status = ?,
         completed_at = CASE WHEN ? THEN clock_timestamp() ELSE completed_at END,
         decided_by = CASE WHEN ? THEN ? ELSE decided_by END,
         rejection_reason = COALESCE(?, rejection_reason),
         certificate = COALESCE(?::jsonb, certificate),
         rectified_fields = COALESCE((SELECT array_agg(f) FROM jsonb_array_elements_text(?::jsonb) f), rectified_fields)
       WHERE id = ? AND status = ? RETURNING ${COLUMNS}`,
      [
        to,
        finished,
        finished,
        outcome.decidedBy,
        sealed.rejectionReason ?? null,
        outcome.certificate ? JSON.stringify(outcome.certificate) : null,
        // As JSON: the driver would expand a JS array into a list of parameters.
        outcome.rectifiedFields ? JSON.stringify(outcome.rectifiedFields) : null,
        request.id,
        request.status,
      ],
    );
    if (!row) throw badUserInput('The request changed meanwhile; read it again', 'requestId');
    return toRequest(row);
  }

  /** Completes an open request, through IN_REVIEW when it is still RECEIVED (both steps checked). */
  async complete(em: EntityManager, request: DataSubjectRequest, outcome: Outcome): Promise<DataSubjectRequest> {
    let current = request;
    if (current.status === Status.RECEIVED && !AUTOMATIC.includes(current.type)) {
      current = await this.transition(em, current, Status.IN_REVIEW);
    }
    return this.transition(em, current, Status.COMPLETED, outcome);
  }

  /** Rejects an open request with a reason, through IN_REVIEW when it is still RECEIVED. */
  async reject(
    em: EntityManager,
    request: DataSubjectRequest,
    by: string,
    reason: string,
  ): Promise<DataSubjectRequest> {
    const why = validReason(reason);
    let current = request;
    if (current.status === Status.RECEIVED) current = await this.transition(em, current, Status.IN_REVIEW);
    return this.transition(em, current, Status.REJECTED, { decidedBy: by, rejectionReason: why });
  }

  /** A sealed text of a request, or null when absent or unreadable because the patient's keys were shredded. */
  async openText(
    em: EntityManager,
    request: DataSubjectRequest,
    property: 'reason' | 'rejectionReason',
  ): Promise<string | null> {
    if (!request[property]) return null;
    try {
      return (await this.vault.open(em, request, property, 'DataSubjectRequest')) as string;
    } catch (error) {
      if (error instanceof KeyDestroyedError) return null;
      throw error;
    }
  }

  /**
   * FORBIDDEN unless the caller passed a second factor recently enough (STEP_UP_MAX_AGE_SECONDS). Staff
   * always need one (an account without TOTP cannot run exports or erasures); a PATIENT only when their
   * account has TOTP enrolled.
   */
  async assertFreshStepUp(em: EntityManager, actor: Actor): Promise<void> {
    if (actor.role === 'PATIENT') {
      const [user] = await em.execute<{ totp_enabled_at: unknown }[]>(
        'SELECT totp_enabled_at FROM users WHERE id = ?',
        [actor.userId],
      );
      if (!user?.totp_enabled_at) return;
    }
    const fresh = actor.mfaAt !== undefined && Date.now() - actor.mfaAt.getTime() <= this.stepUpMaxAgeSeconds * 1000;
    if (!fresh) {
      throw new AppError('This needs a recent second factor: confirm it with stepUpMfa, then try again', 'FORBIDDEN');
    }
  }
}
