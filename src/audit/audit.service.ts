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
    const rows = entries.map((e) => [
      randomUUID(),
      e.action,
      actor?.userId ?? null,
      actor?.role ?? null,
      actor?.sessionId ?? null,
      e.patientId ?? null,
      e.purpose ?? null,
      e.outcome,
      `{${(e.fields ?? []).map((f) => `"${f.replace(/[^A-Za-z0-9_.]/g, '')}"`).join(',')}}`,
      ctx.requestId,
      ctx.ip || null,
      ctx.userAgent || null,
    ]);
    // em.execute joins the caller's transaction when there is one, so the record and the change commit together.
    await ctx.em.execute(
      `INSERT INTO audit_events (id, at, action, actor_id, actor_role, session_id, patient_id, purpose, outcome, fields, request_id, ip, user_agent)
       VALUES ${rows.map(() => '(?, clock_timestamp(), ?, ?, ?, ?, ?, ?, ?, ?::text[], ?, ?, ?)').join(', ')}`,
      rows.flat(),
    );
  }

  /** Stores a security event (details: ids and codes only). */
  async securityEvent(
    em: EntityManager,
    event: { eventType: string; severity: Severity; actorId?: string | null; patientId?: string | null; details?: Record<string, unknown> },
  ): Promise<string> {
    const id = randomUUID();
    await em.execute(
      'INSERT INTO security_events (id, at, event_type, severity, actor_id, patient_id, details) VALUES (?, clock_timestamp(), ?, ?, ?, ?, ?::jsonb)',
      [id, event.eventType, event.severity, event.actorId ?? null, event.patientId ?? null, JSON.stringify(event.details ?? {})],
    );
    return id;
  }
}
