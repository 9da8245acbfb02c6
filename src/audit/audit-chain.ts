import { createHmac, timingSafeEqual } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';

/** `prev_hash` of the first chained row. */
export const GENESIS_HASH = '0'.repeat(64);

/** Serialises appends across every process that writes the trail, so that the chain cannot fork. */
const CHAIN_LOCK = 'hms.audit_chain';

/** The head of the chain: the row every append links to. */
const HEAD_SQL = 'SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1';

/** The batch insert, given the SQL expression of the batch's JSON text (a placeholder, or decoded base64). */
function insertSql(rows: string): string {
  // A function, not a replacement string: no `$&`-style pattern in `rows` is ever interpreted.
  return INSERT_SQL.replace('$rows', () => rows);
}

const INSERT_SQL = `INSERT INTO audit_events (id, seq, prev_hash, hash, at, action, actor_id, actor_role, session_id,
       patient_id, purpose, outcome, fields, request_id, ip, user_agent)
  SELECT r.id, r.seq, r.prev_hash, r.hash, r.at, r.action, r.actor_id, r.actor_role, r.session_id, r.patient_id,
         r.purpose, r.outcome, ARRAY(SELECT jsonb_array_elements_text(r.fields)), r.request_id, r.ip, r.user_agent
  FROM jsonb_to_recordset(($rows)::jsonb) AS r(id uuid, seq bigint, prev_hash text, hash text, at timestamptz,
       action text, actor_id uuid, actor_role text, session_id uuid, patient_id uuid, purpose text, outcome text,
       fields jsonb, request_id text, ip text, user_agent text)`;

interface HeadRow {
  seq: string;
  hash: string | null;
}

/** One connection outside the ORM, for a transaction the writer runs itself (see AuditChain.appendAlone). */
export interface RawSession {
  /** Runs a string of statements without parameters; one result (its rows) per statement. */
  query(sql: string): Promise<unknown[][]>;
}

/** One audit row as stored, before it takes its place in the chain. No PHI values, ever: ids, names and codes. */
export interface AuditRow {
  id: string;
  at: Date;
  action: string;
  actorId: string | null;
  actorRole: string | null;
  sessionId: string | null;
  patientId: string | null;
  purpose: string | null;
  outcome: string;
  fields: string[];
  requestId: string | null;
  ip: string | null;
  userAgent: string | null;
}

/** A row with its place in the chain. */
export interface ChainedRow extends AuditRow {
  seq: bigint;
  prevHash: string;
  hash: string;
}

/**
 * The keyed hash chain over the audit trail: each row's HMAC covers its sequence number, every stored column
 * and the previous row's hash. Anyone who edits, deletes or inserts a row without the key breaks the chain at
 * that row; truncating the tail is caught against a signed checkpoint held outside the database.
 */
export class AuditChain {
  private readonly key: Buffer;

  /**
   * @param lockWaitMs how long an append waits for the chain lock before it fails (and its request with it). A
   *   bound, not a tuning knob: a transaction that holds the lock and then waits, in the same request, for an audit
   *   write outside that transaction would otherwise hang every writer of the trail instead of failing one request.
   */
  constructor(
    key: Uint8Array,
    private readonly lockWaitMs = 10_000,
  ) {
    if (key.length !== 32) throw new Error('audit HMAC key must be 32 bytes');
    this.key = Buffer.from(key); // own copy: the config's buffer may be wiped independently
  }

  /** The row's hash given its place: HMAC-SHA256 over a versioned, unambiguous encoding. */
  hashOf(seq: bigint, prevHash: string, row: AuditRow): string {
    const encoded = JSON.stringify([
      'hms-audit-v1',
      seq.toString(),
      prevHash,
      row.id,
      row.at.toISOString(),
      row.action,
      row.actorId,
      row.actorRole,
      row.sessionId,
      row.patientId,
      row.purpose,
      row.outcome,
      row.fields,
      row.requestId,
      row.ip,
      row.userAgent,
    ]);
    return createHmac('sha256', this.key).update(encoded).digest('hex');
  }

  /** True when `row` carries the hash its content and place call for (constant-time comparison). */
  matches(row: ChainedRow): boolean {
    const expected = Buffer.from(this.hashOf(row.seq, row.prevHash, row), 'hex');
    const actual = Buffer.from(row.hash, 'hex');
    return actual.length === expected.length && timingSafeEqual(actual, expected);
  }

  /**
   * Appends rows at the head of the chain inside `em`'s transaction (the caller's, so that a write and its audit
   * rows commit together). The advisory lock is held until that transaction ends: concurrent writers, in this
   * process or another replica, queue behind it instead of forking the chain, and the unique `seq` refuses a fork
   * outright should the lock ever be bypassed.
   */
  async append(em: EntityManager, rows: AuditRow[]): Promise<ChainedRow[]> {
    if (rows.length === 0) return [];
    // The lock is held from here to commit and every append queues behind it, so the lock and the head read go in
    // one round trip (issue 11: four round trips inside this critical section capped createEncounter at ~150/s).
    const results = await em.execute<unknown[][]>(`${this.lockStatements()}; ${HEAD_SQL}`);
    const chained = this.link(results.at(-1) as HeadRow[], rows);
    await em.execute(insertSql('?'), [this.batchJson(chained)]);
    return chained;
  }

  /**
   * Appends rows in a transaction of their own, in two round trips on one connection: BEGIN with the lock and the
   * head read, then the INSERT with COMMIT (issue 11: BEGIN, lock and head, INSERT, COMMIT as four round trips were
   * a visible share of every audited read, and the lock was held across three of them). Both are multi-statement
   * strings, which PostgreSQL runs in order only without bound parameters, so the batch goes in as base64 text:
   * nothing else is interpolated, and base64 (A-Z a-z 0-9 + / =) holds no quote or backslash that could end the
   * literal, whatever a user agent or field name contains. On any error the transaction is rolled back and the
   * error thrown.
   */
  async appendAlone(session: RawSession, rows: AuditRow[]): Promise<ChainedRow[]> {
    if (rows.length === 0) return [];
    try {
      const results = await session.query(`BEGIN; ${this.lockStatements()}; ${HEAD_SQL}`);
      const chained = this.link(results.at(-1) as HeadRow[], rows);
      const base64 = Buffer.from(this.batchJson(chained), 'utf8').toString('base64');
      await session.query(`${insertSql(`convert_from(decode('${base64}', 'base64'), 'UTF8')`)}; COMMIT`);
      return chained;
    } catch (error) {
      await session.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
  }

  /** The rows with their places after `head` (the newest chained row, if any). */
  private link(head: HeadRow[], rows: AuditRow[]): ChainedRow[] {
    // Rows written before the chain existed have no hash; the first chained row starts from the genesis value.
    let prevHash = head[0]?.hash ?? GENESIS_HASH;
    let seq = head[0] ? BigInt(head[0].seq) : 0n;
    return rows.map((row) => {
      seq += 1n;
      const hash = this.hashOf(seq, prevHash, row);
      const link: ChainedRow = { ...row, seq, prevHash, hash };
      prevHash = hash;
      return link;
    });
  }

  /** One JSON document for the whole batch: a page of 100 patients is one statement, not 1,500 bound values. */
  private batchJson(chained: ChainedRow[]): string {
    return JSON.stringify(
      chained.map((r) => ({
        id: r.id,
        seq: r.seq.toString(),
        prev_hash: r.prevHash,
        hash: r.hash,
        at: r.at.toISOString(),
        action: r.action,
        actor_id: r.actorId,
        actor_role: r.actorRole,
        session_id: r.sessionId,
        patient_id: r.patientId,
        purpose: r.purpose,
        outcome: r.outcome,
        fields: r.fields,
        request_id: r.requestId,
        ip: r.ip,
        user_agent: r.userAgent,
      })),
    );
  }

  /** Takes the chain lock inside `em`'s transaction, so that what the caller reads next is a consistent head. */
  async lock(em: EntityManager): Promise<void> {
    await em.execute(this.lockStatements());
  }

  /**
   * The bounded wait for the chain lock, as one multi-statement string: without parameters PostgreSQL's simple
   * query protocol runs the statements in order, in the caller's transaction, in one round trip. The wait is bounded
   * for the lock statement only; the transaction keeps its own lock_timeout afterwards. Only constants are
   * interpolated (an integer and CHAIN_LOCK), never input.
   */
  private lockStatements(): string {
    const timeout = Math.max(1, Math.floor(this.lockWaitMs));
    return `SET LOCAL lock_timeout = ${timeout}; SELECT pg_advisory_xact_lock(hashtext('${CHAIN_LOCK}')); SET LOCAL lock_timeout TO DEFAULT`;
  }
}
