import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';

import type { GraphQLContext } from '../graphql/context';

/** Severity of a security event, for triage. */
export type Severity = 'LOW' | 'MEDIUM' | 'HIGH' | 'CRITICAL';

/** One audited access: ids, field names and purpose only, never values. */
export interface AuditEntry {
  action: string;
  patientId?: string | null;
  purpose?: string | null;
  outcome: 'ALLOWED' | 'DENIED';
  fields?: string[];
}

/** An allowed access to one patient's data, for `AuditService.record`. */
export function allowed(action: string, patientId: string, purpose: string, fields?: string[]): AuditEntry {
  return { action, patientId, purpose, outcome: 'ALLOWED', ...(fields ? { fields } : {}) };
}

/**
 * Writes the audit trail and security events. Each call is awaited by the resolver before it
 * returns data, so the record is committed before the response that reveals the data leaves;
 * if it cannot be written the request fails (fail closed).
 */
export class AuditService {
  /** Records entries for the request's actor in one INSERT. */
  async record(ctx: GraphQLContext, entries: AuditEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const actor = ctx.actor;
    const rows = entries.map((e) => ({
      id: randomUUID(),
      action: e.action,
      actor_id: actor?.userId ?? null,
      actor_role: actor?.role ?? null,
      session_id: actor?.sessionId ?? null,
      patient_id: e.patientId ?? null,
      purpose: e.purpose ?? null,
      outcome: e.outcome,
      fields: e.fields ?? [],
      request_id: ctx.requestId,
      ip: ctx.ip || null,
      user_agent: ctx.userAgent || null,
    }));
    // One JSON parameter for the whole batch: a page of 100 patients is one cheap statement, not
    // 1,200 bound values. em.execute joins the caller's transaction when there is one.
    await ctx.em.execute(
      `INSERT INTO audit_events (id, at, action, actor_id, actor_role, session_id, patient_id, purpose, outcome, fields, request_id, ip, user_agent)
       SELECT r.id, clock_timestamp(), r.action, r.actor_id, r.actor_role, r.session_id, r.patient_id, r.purpose, r.outcome,
              ARRAY(SELECT jsonb_array_elements_text(r.fields)), r.request_id, r.ip, r.user_agent
       FROM jsonb_to_recordset(?::jsonb) AS r(id uuid, action text, actor_id uuid, actor_role text, session_id uuid,
              patient_id uuid, purpose text, outcome text, fields jsonb, request_id text, ip text, user_agent text)`,
      [JSON.stringify(rows)],
    );
  }

  /** Stores a security event (details: ids and codes only). */
  async securityEvent(
    em: EntityManager,
    event: {
      eventType: string;
      severity: Severity;
      actorId?: string | null;
      patientId?: string | null;
      details?: Record<string, unknown>;
    },
  ): Promise<string> {
    const id = randomUUID();
    await em.execute(
      'INSERT INTO security_events (id, at, event_type, severity, actor_id, patient_id, details) VALUES (?, clock_timestamp(), ?, ?, ?, ?, ?::jsonb)',
      [
        id,
        event.eventType,
        event.severity,
        event.actorId ?? null,
        event.patientId ?? null,
        JSON.stringify(event.details ?? {}),
      ],
    );
    return id;
  }
}
