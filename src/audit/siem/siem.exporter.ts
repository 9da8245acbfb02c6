import type { MikroORM } from '@mikro-orm/postgresql';

import type { Config } from '../../config/config';
import type { Logger } from '../../logging/logger';
import type { OutboxEvent } from './siem.formats';
import { onSiemEnqueued, SIEM_STREAMS, type SiemSeverity, type SiemStream } from './siem.outbox';
import { HttpSink, SiemDeliveryError, SyslogSink, type SiemSink } from './siem.sinks';

/** The exporter's settings, as configured. */
export type SiemSettings = Config['siem'];

/** One (sink, stream) queue: delivered in outbox order, its head blocking the rest while it fails. */
interface Lane {
  sink: SiemSink;
  stream: SiemStream;
  failures: number;
  nextAttemptAt: number;
}

/** What one pass did, per lane `sink:stream`. */
export interface DrainReport {
  delivered: Record<string, number>;
  failed: Record<string, string>;
  /** Lanes another exporter held during the pass. */
  busy: string[];
}

/** Advisory-lock class of the exporter's lanes (the second key is hashtext('<sink>:<stream>')). */
const LOCK_CLASS = 0x5e1e;
const PRUNE_INTERVAL_MS = 60 * 60_000;
/** A wake after an enqueue waits this long, so that the enqueueing transaction has usually committed. */
const WAKE_DELAY_MS = 20;

/** Delay before retry `failures` (1, 2, ...): exponential from `base`, capped at `max`, with equal jitter. */
export function backoffMs(failures: number, base: number, max: number, random: () => number = Math.random): number {
  const ceiling = Math.min(max, base * 2 ** Math.min(failures - 1, 30));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/**
 * Delivers the outbox to the configured sinks in the background: never on a request's path. Each lane takes a
 * transaction-scoped advisory lock, reads its oldest undelivered rows, sends them and marks them delivered in the
 * same transaction, so that replicas never send a row concurrently. A crash (or a lost database connection) after
 * the sink accepted a batch and before the commit sends that batch again: delivery is at least once, and each
 * event's stable `id` lets the SIEM drop the copy. Delivered rows, and with no sink configured all rows, are
 * pruned after the retention window.
 */
export class SiemExporter {
  private readonly lanes: Lane[];
  private timer?: NodeJS.Timeout;
  private timerAt = Infinity;
  private running?: Promise<void>;
  private rerun = false;
  private started = false;
  private stopping = false;
  private unsubscribe?: () => void;
  private nextPruneAt = 0;

  constructor(
    private readonly orm: MikroORM,
    private readonly settings: SiemSettings,
    private readonly logger: Logger,
  ) {
    const sinks: SiemSink[] = [];
    if (settings.endpoint) {
      sinks.push(
        new HttpSink({
          endpoint: settings.endpoint,
          format: settings.format,
          authToken: settings.authToken,
          timeoutMs: settings.timeoutMs,
        }),
      );
    }
    if (settings.syslog) sinks.push(new SyslogSink({ ...settings.syslog, timeoutMs: settings.timeoutMs }));
    this.lanes = sinks.flatMap((sink) =>
      SIEM_STREAMS.map((stream) => ({ sink, stream, failures: 0, nextAttemptAt: 0 })),
    );
  }

  /** Sinks this exporter delivers to. */
  get sinkNames(): string[] {
    return [...new Set(this.lanes.map((lane) => lane.sink.name))];
  }

  /** Starts the background loop (idempotent). Woken early by enqueues in this process. */
  start(): void {
    if (this.started || this.stopping) return;
    this.started = true;
    this.unsubscribe = onSiemEnqueued(() => this.schedule(WAKE_DELAY_MS));
    this.schedule(0);
  }

  /** Stops the loop, waits for a pass in progress, closes the sinks. Undelivered rows stay for the next start. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.unsubscribe?.();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    // Closing first aborts a send in flight, so that shutdown never waits out a hung SIEM.
    for (const sink of new Set(this.lanes.map((lane) => lane.sink))) sink.close();
    await this.running;
  }

  /**
   * One pass over every lane, ignoring backoff: each lane until it is empty, fails or is held by another exporter
   * (`siem:flush`, tests). Prunes too.
   */
  async drainOnce(): Promise<DrainReport> {
    const report: DrainReport = { delivered: {}, failed: {}, busy: [] };
    for (const lane of this.lanes) await this.drainLane(lane, report);
    await this.prune();
    return report;
  }

  /** Deletes rows past the retention window that every configured sink has (or, with none, all of them). */
  async prune(): Promise<number> {
    const conditions = this.sinkNames.map((name) =>
      name === 'http' ? 'delivered_at IS NOT NULL' : 'syslog_delivered_at IS NOT NULL',
    );
    let total = 0;
    for (;;) {
      const rows = await this.orm.em.fork().execute<{ n: string }[]>(
        `WITH gone AS (
           DELETE FROM siem_outbox WHERE id IN (
             SELECT id FROM siem_outbox
             WHERE created_at < clock_timestamp() - make_interval(hours => ?) ${conditions.map((c) => `AND ${c}`).join(' ')}
             ORDER BY id LIMIT 1000)
           RETURNING 1)
         SELECT count(*)::text AS n FROM gone`,
        [this.settings.retentionHours],
      );
      const n = Number(rows[0]?.n ?? 0);
      total += n;
      if (n < 1000) return total;
    }
  }

  private schedule(delayMs: number): void {
    if (this.stopping || !this.started) return;
    if (this.running) {
      if (delayMs <= WAKE_DELAY_MS) this.rerun = true;
      return;
    }
    const at = Date.now() + delayMs;
    if (this.timer && this.timerAt <= at) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerAt = Infinity;
      this.running = this.tick().finally(() => {
        this.running = undefined;
        this.schedule(this.rerun ? WAKE_DELAY_MS : this.nextDelay());
        this.rerun = false;
      });
    }, delayMs);
    this.timer.unref();
  }

  private nextDelay(): number {
    const now = Date.now();
    let delay = this.lanes.length > 0 ? this.settings.pollMs : Math.max(0, this.nextPruneAt - now);
    for (const lane of this.lanes) if (lane.failures > 0) delay = Math.min(delay, lane.nextAttemptAt - now);
    return Math.max(0, Math.min(delay, Math.max(0, this.nextPruneAt - now)));
  }

  private async tick(): Promise<void> {
    const report: DrainReport = { delivered: {}, failed: {}, busy: [] };
    try {
      for (const lane of this.lanes) {
        if (this.stopping) return;
        if (Date.now() >= lane.nextAttemptAt) await this.drainLane(lane, report);
      }
      if (Date.now() >= this.nextPruneAt) {
        this.nextPruneAt = Date.now() + PRUNE_INTERVAL_MS;
        const pruned = await this.prune();
        if (pruned > 0) this.logger.info({ component: 'siem', pruned }, 'pruned SIEM outbox rows past retention');
      }
    } catch (error) {
      // The database itself failed (not a sink): the rows stay, and the next poll tries again.
      this.logger.error({ component: 'siem', code: (error as { code?: string })?.code }, 'SIEM exporter pass failed');
    }
  }

  private async drainLane(lane: Lane, report: DrainReport): Promise<void> {
    const key = `${lane.sink.name}:${lane.stream}`;
    while (!this.stopping) {
      const result = await this.deliverBatch(lane);
      if (result.busy) {
        report.busy.push(key);
        return;
      }
      if (result.failed) {
        lane.failures += 1;
        lane.nextAttemptAt = Date.now() + backoffMs(lane.failures, this.settings.retryBaseMs, this.settings.retryMaxMs);
        report.failed[key] = result.failed;
        // The status code or error code only: payloads never reach a log.
        this.logger.warn(
          {
            component: 'siem',
            sink: lane.sink.name,
            stream: lane.stream,
            code: result.failed,
            failures: lane.failures,
          },
          'SIEM delivery failed; retrying with backoff',
        );
        return;
      }
      if (lane.failures > 0) {
        this.logger.info({ component: 'siem', sink: lane.sink.name, stream: lane.stream }, 'SIEM delivery resumed');
      }
      lane.failures = 0;
      lane.nextAttemptAt = 0;
      report.delivered[key] = (report.delivered[key] ?? 0) + result.delivered;
      if (result.delivered < this.settings.batchSize) return;
    }
  }

  private deliverBatch(lane: Lane): Promise<{ delivered: number; failed?: string; busy?: boolean }> {
    const column = lane.sink.column;
    return this.orm.em.fork().transactional(async (em) => {
      const [{ locked }] = await em.execute<{ locked: boolean }[]>(
        'SELECT pg_try_advisory_xact_lock(?, hashtext(?)) AS locked',
        [LOCK_CLASS, `${lane.sink.name}:${lane.stream}`],
      );
      if (!locked) return { delivered: 0, busy: true };
      const rows = await em.execute<OutboxRow[]>(
        `SELECT id, event_id, stream, event_type, severity, at, actor_id, patient_id, details FROM siem_outbox
         WHERE stream = ? AND ${column} IS NULL ORDER BY id LIMIT ?`,
        [lane.stream, this.settings.batchSize],
      );
      if (rows.length === 0) return { delivered: 0 };
      try {
        await lane.sink.send(rows.map(toOutboxEvent));
      } catch (error) {
        const code = error instanceof SiemDeliveryError ? error.code : 'SINK_ERROR';
        await em.execute('UPDATE siem_outbox SET attempts = attempts + 1, last_error = ? WHERE id = ?', [
          code,
          rows[0].id,
        ]);
        return { delivered: 0, failed: code };
      }
      await em.execute(
        `UPDATE siem_outbox SET ${column} = clock_timestamp()
         WHERE id IN (SELECT jsonb_array_elements_text(?::jsonb)::bigint)`,
        [JSON.stringify(rows.map((row) => String(row.id)))],
      );
      return { delivered: rows.length };
    });
  }
}

interface OutboxRow {
  id: string;
  event_id: string;
  stream: SiemStream;
  event_type: string;
  severity: SiemSeverity;
  at: Date | string;
  actor_id: string | null;
  patient_id: string | null;
  details: Record<string, unknown> | string;
}

function toOutboxEvent(row: OutboxRow): OutboxEvent {
  return {
    sequence: String(row.id),
    id: row.event_id,
    stream: row.stream,
    eventType: row.event_type,
    severity: row.severity,
    at: row.at instanceof Date ? row.at : new Date(row.at),
    actorId: row.actor_id,
    patientId: row.patient_id,
    details: typeof row.details === 'string' ? JSON.parse(row.details) : row.details,
  };
}
