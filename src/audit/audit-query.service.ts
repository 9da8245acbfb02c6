import type { EntityManager } from '@mikro-orm/postgresql';

import { isUuid } from '../db/ids';
import { badUserInput } from '../graphql/errors';
import type {
  AccessRecord,
  AuditEventFilter,
  AuditEventView,
  SecurityEventFilter,
  SecurityEventView,
} from './audit.types';

/** Largest page of `auditEvents` and `securityEvents`, and the most rows `accessHistory` returns. */
export const MAX_AUDIT_PAGE = 100;
export const MAX_ACCESS_HISTORY = 500;

/** Actions that read the audit trail itself: not accesses to the patient's record, so not in their history. */
const TRAIL_READS = ['audit.read', 'access_history.read'];

/** A cursor page as the resolvers hand it out. */
export interface Page<T> {
  nodes: T[];
  endCursor: string | null;
  hasNextPage: boolean;
}

/**
 * Newest-first keyset order of one table. Cursors are opaque base64url JSON, tagged with the list
 * they belong to and checked for shape, like the patients page: anything else is BAD_USER_INPUT.
 */
interface Keyset {
  tag: string;
  /** Extra select list producing the `cursor_key` column (text, exact: no JS Date rounding). */
  keyColumns: string;
  orderBy: string;
  /** SQL and parameters for "strictly after this key" in the order above. */
  after(key: string[]): { sql: string; params: unknown[] };
  /** Whether a decoded key has the right shape. */
  valid(key: unknown[]): key is string[];
  /** The key of a row read with `keyColumns`. */
  keyOf(row: Record<string, unknown>): unknown[];
}

/**
 * Order by time then id. `at` is compared as text from PostgreSQL (microseconds), never through a
 * JS Date, which keeps only milliseconds and would skip or repeat rows at a page boundary.
 */
const byTime = (tag: string): Keyset => ({
  tag,
  keyColumns: `to_json(at)#>>'{}' AS cursor_at, id::text AS cursor_id`,
  orderBy: 'at DESC, id DESC',
  after: ([at, id]) => ({ sql: '(at, id) < (?::timestamptz, ?::uuid)', params: [at, id] }),
  valid: (key): key is string[] =>
    key.length === 2 && typeof key[0] === 'string' && !Number.isNaN(Date.parse(key[0])) && isUuid(key[1]),
  keyOf: (row) => [row.cursor_at, row.cursor_id],
});

/** Order by the audit chain's gapless sequence number. */
const bySeq = (tag: string): Keyset => ({
  tag,
  keyColumns: 'seq::text AS cursor_seq',
  orderBy: 'seq DESC',
  after: ([seq]) => ({ sql: 'seq < ?::bigint', params: [seq] }),
  valid: (key): key is string[] => key.length === 1 && typeof key[0] === 'string' && /^[0-9]{1,19}$/.test(key[0]),
  keyOf: (row) => [row.cursor_seq],
});

/** Audit events in the chain's own order (newest first); security events by time. */
const AUDIT_ORDER = bySeq('a');
const SECURITY_ORDER = byTime('s');

function encodeCursor(keyset: Keyset, row: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify([keyset.tag, ...keyset.keyOf(row)])).toString('base64url');
}

function decodeCursor(keyset: Keyset, cursor: string): string[] {
  try {
    const decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (!Array.isArray(decoded) || decoded[0] !== keyset.tag) throw new Error('bad cursor');
    const key = decoded.slice(1);
    if (!keyset.valid(key)) throw new Error('bad cursor');
    return key;
  } catch {
    throw badUserInput('after is not a cursor returned by this API', 'after');
  }
}

function checkFirst(first: number): void {
  if (!Number.isInteger(first) || first < 1 || first > MAX_AUDIT_PAGE) {
    throw badUserInput(`first must be between 1 and ${MAX_AUDIT_PAGE}`, 'first');
  }
}

// Raw queries through MikroORM return timestamptz columns as strings.
const toDate = (value: Date | string): Date => (value instanceof Date ? value : new Date(value));

/** WHERE clauses of a filter: ids must be ids (never sent to PostgreSQL as invalid uuids), times in order. */
class Conditions {
  readonly sql: string[] = [];
  readonly params: unknown[] = [];

  id(column: string, value: string | null | undefined, field: string): this {
    if (value == null) return this;
    if (!isUuid(value)) throw badUserInput(`${field} is not an id`, field);
    return this.add(`${column} = ?`, value);
  }

  text(column: string, value: string | null | undefined, field: string, max = 100): this {
    if (value == null) return this;
    if (value.length === 0 || value.length > max) throw badUserInput(`${field} must be 1 to ${max} characters`, field);
    return this.add(`${column} = ?`, value);
  }

  range(from: Date | null | undefined, to: Date | null | undefined): this {
    if (from && to && from.getTime() > to.getTime()) throw badUserInput('from must not be after to', 'filter.from');
    if (from) this.add('at >= ?::timestamptz', from.toISOString());
    if (to) this.add('at < ?::timestamptz', to.toISOString());
    return this;
  }

  add(sql: string, ...params: unknown[]): this {
    this.sql.push(sql);
    this.params.push(...params);
    return this;
  }

  where(): string {
    return this.sql.length > 0 ? `WHERE ${this.sql.join(' AND ')}` : '';
  }
}

/**
 * Reads the audit trail and security events for review: SQL over `audit_events` and
 * `security_events`, newest first, as cursor pages. Who may call what is the rules' job
 * (audit.rules.ts); reading the trail is audited by the resolvers.
 */
export class AuditQueryService {
  /** A page of audit events matching every given criterion. */
  async auditEvents(
    em: EntityManager,
    filter: AuditEventFilter,
    first: number,
    after: string | null,
  ): Promise<Page<AuditEventView>> {
    checkFirst(first);
    const where = new Conditions()
      .id('patient_id', filter.patientId, 'filter.patientId')
      .id('actor_id', filter.actorId, 'filter.actorId')
      .text('action', filter.action, 'filter.action')
      .range(filter.from, filter.to);
    const rows = await this.page(
      em,
      AUDIT_ORDER,
      `id, at, action, actor_id, actor_role, patient_id, purpose, outcome, fields, session_id, request_id, ip, user_agent`,
      'audit_events',
      where,
      first,
      after,
    );
    return {
      ...rows,
      nodes: rows.nodes.map((r) => ({
        id: r.id as string,
        at: toDate(r.at as string),
        action: r.action as string,
        actorId: (r.actor_id as string | null) ?? null,
        actorRole: (r.actor_role as string | null) ?? null,
        patientId: (r.patient_id as string | null) ?? null,
        purpose: (r.purpose as string | null) ?? null,
        outcome: r.outcome as string,
        fields: (r.fields as string[] | null) ?? [],
        sessionId: (r.session_id as string | null) ?? null,
        requestId: (r.request_id as string | null) ?? null,
        ip: (r.ip as string | null) ?? null,
        userAgent: (r.user_agent as string | null) ?? null,
      })),
    };
  }

  /** A page of security events matching every given criterion. */
  async securityEvents(
    em: EntityManager,
    filter: SecurityEventFilter,
    first: number,
    after: string | null,
  ): Promise<Page<SecurityEventView>> {
    checkFirst(first);
    const where = new Conditions()
      .text('event_type', filter.eventType, 'filter.eventType')
      .text('severity', filter.severity, 'filter.severity', 16)
      .id('actor_id', filter.actorId, 'filter.actorId')
      .id('patient_id', filter.patientId, 'filter.patientId')
      .range(filter.from, filter.to);
    const rows = await this.page(
      em,
      SECURITY_ORDER,
      'id, at, event_type, severity, actor_id, patient_id, details',
      'security_events',
      where,
      first,
      after,
    );
    return {
      ...rows,
      nodes: rows.nodes.map((r) => ({
        id: r.id as string,
        at: toDate(r.at as string),
        eventType: r.event_type as string,
        severity: r.severity as string,
        actorId: (r.actor_id as string | null) ?? null,
        patientId: (r.patient_id as string | null) ?? null,
        details: (r.details as Record<string, unknown> | null) ?? {},
      })),
    };
  }

  /**
   * Who accessed one patient's record, newest first, at most MAX_ACCESS_HISTORY rows: every audited
   * action on that patient (reads, writes, refusals) except reads of the audit trail itself.
   */
  async accessHistory(em: EntityManager, patientId: string): Promise<AccessRecord[]> {
    const rows = await em.execute<Record<string, unknown>[]>(
      `SELECT at, action, actor_id, actor_role, purpose, outcome FROM audit_events
       WHERE patient_id = ? AND action NOT IN (?) ORDER BY ${AUDIT_ORDER.orderBy} LIMIT ?`,
      [patientId, TRAIL_READS, MAX_ACCESS_HISTORY],
    );
    return rows.map((r) => ({
      at: toDate(r.at as string),
      action: r.action as string,
      actorId: (r.actor_id as string | null) ?? null,
      actorRole: (r.actor_role as string | null) ?? null,
      purpose: (r.purpose as string | null) ?? null,
      outcome: r.outcome as string,
    }));
  }

  /** Whether a patient record exists (patients are looked up by SQL: audit/ never imports patients/). */
  async patientExists(em: EntityManager, patientId: string): Promise<boolean> {
    if (!isUuid(patientId)) return false;
    const rows = await em.execute('SELECT 1 FROM patients WHERE id = ?', [patientId]);
    return rows.length > 0;
  }

  private async page(
    em: EntityManager,
    keyset: Keyset,
    columns: string,
    table: string,
    where: Conditions,
    first: number,
    after: string | null,
  ): Promise<Page<Record<string, unknown>>> {
    if (after) {
      const position = keyset.after(decodeCursor(keyset, after));
      where.add(position.sql, ...position.params);
    }
    const rows = await em.execute<Record<string, unknown>[]>(
      `SELECT ${columns}, ${keyset.keyColumns} FROM ${table} ${where.where()} ORDER BY ${keyset.orderBy} LIMIT ?`,
      [...where.params, first + 1],
    );
    const nodes = rows.slice(0, first);
    const last = nodes.at(-1);
    return { nodes, endCursor: last ? encodeCursor(keyset, last) : null, hasNextPage: rows.length > first };
  }
}
