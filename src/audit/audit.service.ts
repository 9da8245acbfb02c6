import { randomUUID } from 'node:crypto';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';

import { timeOrderedUuid } from '../db/ids';
import type { GraphQLContext } from '../graphql/context';
import { AuditChain, type AuditRow } from './audit-chain';
import { AuditWriter } from './audit-writer';
import { enqueueSiem, siemStreamOf } from './siem/siem.outbox';

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

/** An audit row written by the system rather than a request (operator commands, jobs, imports of history). */
export interface SystemAuditEntry extends AuditEntry {
  actorId?: string | null;
  actorRole?: string | null;
  sessionId?: string | null;
  requestId?: string | null;
  ip?: string | null;
  userAgent?: string | null;
  /** When it happened; now by default. */
  at?: Date;
}

/**
 * Writes the audit trail and security events. Each `record` is awaited by the resolver before it returns data,
 * so the record is committed before the response that reveals the data leaves; if it cannot be written the
 * request fails (fail closed). Rows join the hash chain (audit-chain.ts): inside the caller's transaction when
 * there is one (a write and its audit rows commit together), else through the group-commit writer.
 */
export class AuditService {
  readonly chain: AuditChain;
  private readonly writer: AuditWriter;

  constructor(deps: { orm: MikroORM; hmacKey: Uint8Array; lockWaitMs?: number }) {
    this.chain = new AuditChain(deps.hmacKey, deps.lockWaitMs);
    this.writer = new AuditWriter(deps.orm, this.chain);
  }

  /** Records entries for the request's actor. */
  async record(ctx: GraphQLContext, entries: AuditEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const actor = ctx.actor;
    await this.write(
      ctx.em,
      entries.map((e) => ({
        ...e,
        actorId: actor?.userId,
        actorRole: actor?.role,
        sessionId: actor?.sessionId,
        requestId: ctx.requestId,
        ip: ctx.ip || null,
        userAgent: ctx.userAgent || null,
      })),
    );
  }

  /** Records entries that carry their own actor and, optionally, time (system work; see SystemAuditEntry). */
  async append(em: EntityManager, entries: SystemAuditEntry[]): Promise<void> {
    if (entries.length > 0) await this.write(em, entries);
  }

  /** Waits until every row handed in has been committed (shutdown). */
  flush(): Promise<void> {
    return this.writer.flush();
  }

  private async write(em: EntityManager, entries: SystemAuditEntry[]): Promise<void> {
    const now = new Date();
    const rows: AuditRow[] = entries.map((e) => ({
      id: timeOrderedUuid(now.getTime()),
      at: e.at ?? now,
      action: e.action,
      actorId: e.actorId ?? null,
      actorRole: e.actorRole ?? null,
      sessionId: e.sessionId ?? null,
      patientId: e.patientId ?? null,
      purpose: e.purpose ?? null,
      outcome: e.outcome,
      fields: e.fields ?? [],
      requestId: e.requestId ?? null,
      ip: e.ip ?? null,
      userAgent: e.userAgent ?? null,
    }));
    if (em.isInTransaction()) await this.chain.append(em, rows);
    else await this.writer.write(rows);
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
    // The event and its SIEM outbox row commit together, in the caller's transaction or in one of their own.
    if (!em.isInTransaction()) return em.transactional((tem) => this.securityEvent(tem, event));
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
    await enqueueSiem(em, { id, stream: siemStreamOf(event.eventType), ...event });
    return id;
  }
}
