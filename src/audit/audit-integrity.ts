import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';

import type { StatementSigner } from '../crypto';
import { GENESIS_HASH, type AuditChain, type ChainedRow } from './audit-chain';
import type { AuditService } from './audit.service';

/** A signed statement of the chain head, as stored in audit_checkpoints and sent to the SIEM. */
export interface Checkpoint {
  id: string;
  at: Date;
  seq: string;
  hash: string;
  rowCount: string;
  signature: string;
}

/** Where and why the chain stops being trustworthy. */
export interface ChainBreak {
  seq: string;
  id: string | null;
  reason: string;
}

export interface VerifyReport {
  ok: boolean;
  /** Rows walked, chained and legacy. */
  rows: number;
  /** Rows written before the chain existed: counted, not verifiable. */
  legacyRows: number;
  head: { seq: string; hash: string } | null;
  checkpointsChecked: number;
  broken?: ChainBreak;
}

interface StoredRow {
  id: string;
  seq: string;
  prev_hash: string | null;
  hash: string | null;
  /** ISO 8601 with milliseconds, UTC, as the chain hashed it (timestamps come back from the driver as text). */
  at: string;
  action: string;
  actor_id: string | null;
  actor_role: string | null;
  session_id: string | null;
  patient_id: string | null;
  purpose: string | null;
  outcome: string;
  fields: string[];
  request_id: string | null;
  ip: string | null;
  user_agent: string | null;
}

/** The exact text a checkpoint signature covers. */
export function checkpointStatement(c: Pick<Checkpoint, 'at' | 'seq' | 'hash' | 'rowCount'>): string {
  return `hms-audit-checkpoint-v1\nseq=${c.seq}\nhash=${c.hash}\nrows=${c.rowCount}\nat=${c.at.toISOString()}`;
}

/**
 * Verification of the audit chain and its signed checkpoints. `verify` walks every row in sequence order and
 * names the first one that breaks the chain: a gap (a deleted row), a link to the wrong predecessor (a row
 * inserted or reordered), or content that no longer matches its HMAC (an edited row). Checkpoints catch what
 * the chain alone cannot: a tail cut off after the last checkpoint the SIEM received.
 */
export class AuditIntegrity {
  constructor(
    private readonly chain: AuditChain,
    private readonly signer: StatementSigner,
    private readonly audit: AuditService,
  ) {}

  /** Public key that verifies checkpoint signatures (base64url Ed25519), for the SIEM side. */
  get publicKey(): string {
    return this.signer.publicKey;
  }

  /**
   * Signs and stores the current head, and raises it as a security event (which the SIEM export carries off the
   * machine). Returns null when the chain is empty or has not moved since the last checkpoint.
   */
  async checkpoint(em: EntityManager): Promise<Checkpoint | null> {
    return em.transactional(async (tem) => {
      await this.chain.lock(tem); // no appends while head and count are read
      const [head] = await tem.execute<{ seq: string; hash: string | null }[]>(
        'SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1',
      );
      if (!head?.hash) return null;
      const [last] = await tem.execute<{ seq: string }[]>(
        'SELECT seq FROM audit_checkpoints ORDER BY seq DESC LIMIT 1',
      );
      if (last && last.seq === head.seq) return null;
      const [{ count }] = await tem.execute<{ count: string }[]>('SELECT count(*)::text AS count FROM audit_events');
      const at = new Date();
      const unsigned = { at, seq: head.seq, hash: head.hash, rowCount: count };
      const checkpoint: Checkpoint = {
        id: randomUUID(),
        ...unsigned,
        signature: this.signer.sign(checkpointStatement(unsigned)),
      };
      await tem.execute(
        'INSERT INTO audit_checkpoints (id, at, seq, hash, row_count, signature) VALUES (?, ?, ?, ?, ?, ?)',
        [checkpoint.id, at, checkpoint.seq, checkpoint.hash, checkpoint.rowCount, checkpoint.signature],
      );
      await this.audit.securityEvent(tem, {
        eventType: 'AUDIT_CHECKPOINT',
        severity: 'LOW',
        details: {
          checkpointId: checkpoint.id,
          seq: checkpoint.seq,
          hash: checkpoint.hash,
          rowCount: checkpoint.rowCount,
          at: at.toISOString(),
          signature: checkpoint.signature,
          publicKey: this.signer.publicKey,
        },
      });
      return checkpoint;
    });
  }

  /**
   * Walks the whole chain. `expect` is a head held outside the database (the last checkpoint the SIEM received):
   * the chain must contain that row with that hash, which catches a checkpoint table truncated together with
   * the tail of the trail.
   */
  async verify(
    em: EntityManager,
    options: { expect?: { seq: string; hash: string }; batchSize?: number } = {},
  ): Promise<VerifyReport> {
    const batchSize = options.batchSize ?? 5_000;
    const checkpoints = await em.execute<
      { id: string; at: Date; seq: string; hash: string; row_count: string; signature: string }[]
    >(
      `SELECT id, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at, seq, hash, row_count, signature FROM audit_checkpoints ORDER BY seq`,
    );
    const report: VerifyReport = { ok: true, rows: 0, legacyRows: 0, head: null, checkpointsChecked: 0 };
    const fail = (seq: string, id: string | null, reason: string): VerifyReport => ({
      ...report,
      ok: false,
      broken: { seq, id, reason },
    });

    const expected = new Map<string, { hash: string; rowCount: string | null; what: string }>();
    for (const c of checkpoints) {
      const statement = checkpointStatement({ at: new Date(c.at), seq: c.seq, hash: c.hash, rowCount: c.row_count });
      if (!this.signer.verify(statement, c.signature)) {
        return fail(c.seq, null, `checkpoint ${c.id} has an invalid signature`);
      }
      expected.set(c.seq, { hash: c.hash, rowCount: c.row_count, what: `checkpoint ${c.id}` });
    }
    if (options.expect)
      expected.set(options.expect.seq, { hash: options.expect.hash, rowCount: null, what: 'the expected head' });

    let prevSeq = 0n;
    let prevHash: string | null = null; // null: still among the legacy rows
    for (;;) {
      const rows = await em.execute<StoredRow[]>(
        `SELECT id, seq, prev_hash, hash, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at, action, actor_id, actor_role, session_id, patient_id, purpose, outcome, fields,
                request_id, ip, user_agent
         FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ?`,
        [prevSeq.toString(), batchSize],
      );
      for (const row of rows) {
        const seq = BigInt(row.seq);
        if (seq !== prevSeq + 1n) {
          return fail(row.seq, row.id, `rows ${prevSeq + 1n} to ${seq - 1n} are missing (deleted)`);
        }
        if (row.hash === null) {
          if (prevHash !== null) return fail(row.seq, row.id, 'row has no hash after the chain began (inserted)');
          report.legacyRows += 1;
        } else {
          const linkTo = prevHash ?? GENESIS_HASH;
          if (row.prev_hash !== linkTo) {
            return fail(row.seq, row.id, 'row does not link to the row before it (inserted or reordered)');
          }
          if (!this.chain.matches(toChained(row, seq))) {
            return fail(row.seq, row.id, 'row content does not match its hash (edited)');
          }
          prevHash = row.hash;
        }
        report.rows += 1;
        report.head = { seq: row.seq, hash: row.hash ?? '' };
        const check = expected.get(row.seq);
        if (check) {
          if (check.hash !== row.hash) return fail(row.seq, row.id, `row differs from ${check.what}`);
          if (check.rowCount !== null && BigInt(check.rowCount) !== BigInt(report.rows)) {
            return fail(row.seq, row.id, `row count differs from ${check.what}`);
          }
          report.checkpointsChecked += 1;
          expected.delete(row.seq);
        }
        prevSeq = seq;
      }
      if (rows.length < batchSize) break;
    }
    // Anything still expected lies beyond the end of the table: the tail was cut off.
    for (const [seq, check] of [...expected].sort((a, b) => (BigInt(a[0]) < BigInt(b[0]) ? -1 : 1))) {
      return fail(seq, null, `the trail ends at row ${prevSeq}, before ${check.what} at row ${seq} (truncated)`);
    }
    return report;
  }
}

function toChained(row: StoredRow, seq: bigint): ChainedRow {
  return {
    id: row.id,
    seq,
    prevHash: row.prev_hash ?? '',
    hash: row.hash ?? '',
    at: new Date(row.at),
    action: row.action,
    actorId: row.actor_id,
    actorRole: row.actor_role,
    sessionId: row.session_id,
    patientId: row.patient_id,
    purpose: row.purpose,
    outcome: row.outcome,
    fields: row.fields,
    requestId: row.request_id,
    ip: row.ip,
    userAgent: row.user_agent,
  };
}
