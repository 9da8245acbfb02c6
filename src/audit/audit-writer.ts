import type { MikroORM } from '@mikro-orm/postgresql';

import { onPooledClient } from '../db/pooled';
import type { AuditChain, AuditRow, RawSession } from './audit-chain';

/** The parts of a node-postgres client the writer uses (the ORM's pool hands these out). */
interface PgConnection {
  query(sql: string): Promise<{ rows: unknown[] } | { rows: unknown[] }[]>;
}

interface Waiter {
  rows: AuditRow[];
  resolve(): void;
  reject(error: unknown): void;
}

/** Rows per transaction; a larger backlog commits in several. */
const MAX_BATCH_ROWS = 5_000;

/**
 * Group commit for audit rows that do not belong to a write transaction (reads). Requests hand their rows in and
 * wait; while one transaction commits, the next requests' rows gather and go in the following one. Each waiter
 * resolves only after the transaction holding its rows has committed, so "committed before the response leaves"
 * holds; a failed commit rejects every waiter in it, and their requests fail closed.
 */
export class AuditWriter {
  private queue: Waiter[] = [];
  private draining: Promise<void> | null = null;

  constructor(
    private readonly orm: MikroORM,
    private readonly chain: AuditChain,
  ) {}

  /** Resolves once `rows` are committed. */
  write(rows: AuditRow[]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ rows, resolve, reject });
      this.draining ??= this.drain().finally(() => {
        this.draining = null;
      });
    });
  }

  /** Waits for every row handed in so far (shutdown). */
  async flush(): Promise<void> {
    while (this.draining) await this.draining;
  }

  private async drain(): Promise<void> {
    // Let the requests running in this turn of the event loop join the first batch.
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (this.queue.length > 0) {
      const batch = this.takeBatch();
      try {
        await this.commit(batch.flatMap((w) => w.rows));
        for (const waiter of batch) waiter.resolve();
      } catch (error) {
        for (const waiter of batch) waiter.reject(error);
      }
    }
  }

  /** One transaction on a connection borrowed from the ORM's pool (one or two round trips: AuditChain.appendAlone). */
  private async commit(rows: AuditRow[]): Promise<void> {
    await onPooledClient(this.orm.em, async (connection: PgConnection) => {
      const session: RawSession = {
        query: async (sql) => {
          const results = await connection.query(sql);
          return (Array.isArray(results) ? results : [results]).map((result) => result.rows);
        },
      };
      await this.chain.appendAlone(session, rows);
    });
  }

  private takeBatch(): Waiter[] {
    let rows = 0;
    let count = 0;
    while (count < this.queue.length && (count === 0 || rows + this.queue[count].rows.length <= MAX_BATCH_ROWS)) {
      rows += this.queue[count].rows.length;
      count += 1;
    }
    return this.queue.splice(0, count);
  }
}
