import { createHmac, timingSafeEqual } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';

/** `prev_hash` of the first chained row. */
export const GENESIS_HASH = '0'.repeat(64);

/** Serialises appends across every process that writes the trail, so that the chain cannot fork. */
export const CHAIN_LOCK = 'hms.audit_chain';

/** The head of the chain: the row every append links to. */
const HEAD_SQL = 'SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1';

/** The batch insert, given the SQL expression of the batch's JSON text (a placeholder, or decoded base64). */
function insertSql(rows: string): string {
  // A function, not a replacement string: no `$&`-style pattern in `rows` is ever interpreted.
  return INSERT_SQL.replace('$rows', () => rows);
}

/**
 * The batch is JSON in groups: what consecutive rows share (the request's actor, session, time, action, purpose,
 * outcome, fields, request id, address and user agent) once per group, and per row only its id, place (`s`, `p`,
 * `h`) and patient (`t`). A page of 100 patients is one group of 100 short rows: about a third of the bytes that
 * one object per row with every column took, for the process to build and send and for PostgreSQL to parse.
 */
const INSERT_SQL = `INSERT INTO audit_events (id, seq, prev_hash, hash, at, action, actor_id, actor_role, session_id,
       patient_id, purpose, outcome, fields, request_id, ip, user_agent)
  SELECT r.i, r.s, r.p, r.h, g.at, g.action, g.actor_id, g.actor_role, g.session_id, r.t, g.purpose, g.outcome,
         ARRAY(SELECT jsonb_array_elements_text(g.fields)), g.request_id, g.ip, g.user_agent
  FROM jsonb_array_elements(($rows)::jsonb) AS b(grp)
  CROSS JOIN LATERAL jsonb_to_record(b.grp->'shared') AS g(at timestamptz, action text, actor_id uuid,
       actor_role text, session_id uuid, purpose text, outcome text, fields jsonb, request_id text, ip text,
       user_agent text)
  CROSS JOIN LATERAL jsonb_to_recordset(b.grp->'rows') AS r(i uuid, s bigint, p text, h text, t uuid)`;

interface HeadRow {
  seq: string;
  hash: string | null;
}

/** Whether two rows store the same values in every column but their id, place in the chain and patient. */
function sharesGroup(a: AuditRow, b: AuditRow): boolean {
  return (
    a.at.getTime() === b.at.getTime() &&
    a.action === b.action &&
    a.actorId === b.actorId &&
    a.actorRole === b.actorRole &&
    a.sessionId === b.sessionId &&
    a.purpose === b.purpose &&
    a.outcome === b.outcome &&
    a.requestId === b.requestId &&
    a.ip === b.ip &&
    a.userAgent === b.userAgent &&
    (a.fields === b.fields || (a.fields.length === b.fields.length && a.fields.every((f, i) => f === b.fields[i])))
  );
}

/** A head this process may link to without reading it first (see AuditChain.guess). */
interface KnownHead {
  seq: bigint;
  hash: string;
}

const HASH_TEXT = /^[0-9a-f]{64}$/;

/**
 * The batch insert that inserts nothing unless `head` is still the newest row: the head is read under the chain
 * lock, in the same statement. Only the sequence number (a bigint) and the hash (checked to be 64 hex digits) are
 * interpolated.
 */
function guardedInsertSql(rows: string, head: KnownHead): string {
  if (!HASH_TEXT.test(head.hash)) throw new Error('audit chain head hash is not 64 hex digits');
  return `${insertSql(rows)}
  WHERE EXISTS (SELECT 1 FROM (${HEAD_SQL}) h WHERE h.seq = ${head.seq.toString()} AND h.hash = '${head.hash}')`;
}

/** The batch as a SQL literal: base64 (A-Z a-z 0-9 + / =) holds no quote or backslash that could end it. */
function batchLiteral(json: string): string {
  return `convert_from(decode('${Buffer.from(json, 'utf8').toString('base64')}', 'base64'), 'UTF8')`;
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
  /** The newest row this process wrote or read under the lock. */
  private lastHead?: KnownHead;
  /** Whether, the last time this process came back to the chain, the head was still `lastHead`. */
  private headHeld = false;

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
    const guessed = this.guess();
    if (guessed) {
      // One round trip when the guess holds: lock, guarded insert, head. When it does not, the lock is held and
      // the head just read is current, so the batch is linked to it and inserted: two round trips, as without it.
      const attempt = this.link(guessed, rows);
      const results = await em.execute<unknown[][]>(
        `${this.lockStatements()}; ${guardedInsertSql(batchLiteral(this.batchJson(attempt)), guessed)}; ${HEAD_SQL}`,
      );
      const head = results.at(-1) as HeadRow[];
      if (this.landed(head, attempt)) return attempt;
      const chained = this.link(this.headOf(head), rows);
      await em.execute(insertSql('?'), [this.batchJson(chained)]);
      this.remember(chained);
      return chained;
    }
    const results = await em.execute<unknown[][]>(`${this.lockStatements()}; ${HEAD_SQL}`);
    const head = this.headOf(results.at(-1) as HeadRow[]);
    this.headHeld = this.isLastHead(head);
    const chained = this.link(head, rows);
    await em.execute(insertSql('?'), [this.batchJson(chained)]);
    this.remember(chained);
    return chained;
  }

  /**
   * Appends rows in a transaction of their own on one connection: in one round trip when the head is where this
   * process left it (see `guess`), otherwise in two, BEGIN with the lock and the head read, then the INSERT with
   * COMMIT (issue 11: BEGIN, lock and head, INSERT, COMMIT as four round trips were a visible share of every audited
   * read, and the lock was held across three of them). All are multi-statement strings, which PostgreSQL runs in
   * order only without bound parameters, so the batch goes in as base64 text (batchLiteral): besides it, only the
   * guessed head's sequence number and hash are interpolated. On any error the transaction is rolled back and the
   * error thrown.
   */
  async appendAlone(session: RawSession, rows: AuditRow[]): Promise<ChainedRow[]> {
    if (rows.length === 0) return [];
    try {
      const guessed = this.guess();
      if (guessed) {
        // One round trip when the guess holds. When another writer moved the head, the guarded insert inserted
        // nothing and the transaction committed empty; the two round trips below then read the head under the lock.
        const attempt = this.link(guessed, rows);
        const results = await session.query(
          `BEGIN; ${this.lockStatements()}; ${guardedInsertSql(batchLiteral(this.batchJson(attempt)), guessed)}; ${HEAD_SQL}; COMMIT`,
        );
        if (this.landed(results.at(-2) as HeadRow[], attempt)) return attempt;
      }
      const results = await session.query(`BEGIN; ${this.lockStatements()}; ${HEAD_SQL}`);
      const head = this.headOf(results.at(-1) as HeadRow[]);
      this.headHeld = this.isLastHead(head);
      const chained = this.link(head, rows);
      await session.query(`${insertSql(batchLiteral(this.batchJson(chained)))}; COMMIT`);
      this.remember(chained);
      return chained;
    } catch (error) {
      this.headHeld = false;
      await session.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
  }

  /**
   * The head to link the next batch to without reading it first: the newest row this process wrote, if the last
   * time it came back to the chain nobody else had written in between (one replica, or replicas that rarely
   * interleave). A guess that no longer holds inserts nothing (guardedInsertSql), so it costs a round trip and
   * never a fork; after a miss this process reads the head first until it finds the head where it left it again.
   */
  private guess(): KnownHead | undefined {
    return this.headHeld ? this.lastHead : undefined;
  }

  /** True when `head` (read after a guarded insert, in the same transaction) is the batch's own last row. */
  private landed(head: HeadRow[], attempt: ChainedRow[]): boolean {
    const last = attempt[attempt.length - 1];
    const ok = head.length === 1 && BigInt(head[0].seq) === last.seq && head[0].hash === last.hash;
    if (ok) this.remember(attempt);
    else this.headHeld = false;
    return ok;
  }

  private remember(chained: ChainedRow[]): void {
    const last = chained[chained.length - 1];
    this.lastHead = { seq: last.seq, hash: last.hash };
  }

  private isLastHead(head: KnownHead | undefined): boolean {
    return (
      head !== undefined &&
      this.lastHead !== undefined &&
      head.seq === this.lastHead.seq &&
      head.hash === this.lastHead.hash
    );
  }

  /** The newest row as read; rows written before the chain existed have no hash and count as the genesis value. */
  private headOf(rows: HeadRow[]): KnownHead | undefined {
    return rows[0] ? { seq: BigInt(rows[0].seq), hash: rows[0].hash ?? GENESIS_HASH } : undefined;
  }

  /** The rows with their places after `head` (the newest chained row, if any). */
  private link(head: KnownHead | undefined, rows: AuditRow[]): ChainedRow[] {
    let prevHash = head?.hash ?? GENESIS_HASH;
    let seq = head?.seq ?? 0n;
    return rows.map((row) => {
      seq += 1n;
      const hash = this.hashOf(seq, prevHash, row);
      const link: ChainedRow = { ...row, seq, prevHash, hash };
      prevHash = hash;
      return link;
    });
  }

  /** One JSON document for the whole batch, in groups (see INSERT_SQL): one statement, not 1,600 bound values. */
  private batchJson(chained: ChainedRow[]): string {
    const groups: { shared: Record<string, unknown>; rows: Record<string, unknown>[] }[] = [];
    let previous: ChainedRow | undefined;
    for (const r of chained) {
      if (!previous || !sharesGroup(previous, r)) {
        groups.push({
          shared: {
            at: r.at.toISOString(),
            action: r.action,
            actor_id: r.actorId,
            actor_role: r.actorRole,
            session_id: r.sessionId,
            purpose: r.purpose,
            outcome: r.outcome,
            fields: r.fields,
            request_id: r.requestId,
            ip: r.ip,
            user_agent: r.userAgent,
          },
          rows: [],
        });
      }
      groups[groups.length - 1].rows.push({ i: r.id, s: r.seq.toString(), p: r.prevHash, h: r.hash, t: r.patientId });
      previous = r;
    }
    return JSON.stringify(groups);
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
