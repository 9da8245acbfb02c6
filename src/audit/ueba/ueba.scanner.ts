import { randomUUID } from 'node:crypto';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';

import type { Logger } from '../../logging/logger';
import type { AuditService } from '../audit.service';
import { severityOf } from './ueba.checks';
import { detect } from './ueba.detector';
import type { UebaFactSource, UserPatient } from './ueba.facts';
import { toUserDays } from './ueba.features';
import { DEFAULT_DETECTOR_OPTIONS, type DetectorOptions, type Finding, type HourActivity } from './ueba.types';

/** What one scan did, for the CLI and the log (counts only). */
export interface ScanSummary {
  fromDay: string;
  toDay: string;
  timeZone: string;
  userDays: number;
  findings: number;
  raised: number;
  alreadyRaised: number;
}

interface HourRow {
  user_id: string;
  role: string;
  day: string;
  hour: number;
  reads: number;
  patient_ids: string[] | null;
  ips: string[] | null;
}

/**
 * Runs the detector over the audit trail and raises one ANOMALY security event per (user, rule, day). Reads are the
 * audit rows whose action ends in `.read` with outcome ALLOWED, by staff (PATIENT accounts reading their own record
 * are left out). Idempotent: `ueba_findings` has one row per (user, rule, day), so a re-run or a second replica
 * raises nothing twice; a day judged while still in progress keeps the score it had at its first finding.
 */
export class UebaScanner {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;

  constructor(
    private readonly deps: {
      orm: MikroORM;
      audit: AuditService;
      facts: UebaFactSource;
      logger: Logger;
      timeZone: string;
      options?: DetectorOptions;
    },
  ) {}

  private get options(): DetectorOptions {
    return this.deps.options ?? DEFAULT_DETECTOR_OPTIONS;
  }

  /** Judges every calendar day (hospital time zone) that overlaps [since, until). */
  async scan(range: { since: Date; until: Date }): Promise<ScanSummary> {
    const { timeZone } = this.deps;
    const em = this.deps.orm.em.fork();
    const fromDay = localDay(range.since, timeZone);
    const toDay = localDay(new Date(range.until.getTime() - 1), timeZone);
    // One day of slack so that the history's first local day is whole whatever the zone's offset.
    const historyStart = new Date(range.since.getTime() - (this.options.lookbackDays + 1) * 86_400_000);

    const hours = await this.readHours(em, historyStart, range.until);
    const days = toUserDays(hours);
    const pairs: UserPatient[] = [];
    const judged: UserPatient[] = [];
    for (const d of days) {
      for (const patientId of d.patientIds) {
        pairs.push({ userId: d.userId, patientId });
        if (d.day >= fromDay && d.day <= toDay) judged.push({ userId: d.userId, patientId });
      }
    }
    const facts = await this.deps.facts.load(em, dedupe(pairs), dedupe(judged), historyStart);
    const findings = detect(days, { fromDay, toDay }, facts, this.options);

    let raised = 0;
    for (const finding of findings) if (await this.raise(em, finding)) raised += 1;
    const summary: ScanSummary = {
      fromDay,
      toDay,
      timeZone,
      userDays: days.filter((d) => d.day >= fromDay && d.day <= toDay).length,
      findings: findings.length,
      raised,
      alreadyRaised: findings.length - raised,
    };
    this.deps.logger.info(summary, 'ueba scan finished');
    return summary;
  }

  /** Scans the last 24 hours every `seconds` in the background; never blocks a request, never overlaps itself. */
  start(seconds: number): void {
    if (seconds <= 0 || this.timer) return;
    this.timer = setInterval(() => {
      if (this.running) return;
      const until = new Date();
      this.running = this.scan({ since: new Date(until.getTime() - 86_400_000), until })
        .catch((error: unknown) => this.deps.logger.error({ err: error }, 'ueba scan failed'))
        .finally(() => (this.running = undefined));
    }, seconds * 1000);
    this.timer.unref();
  }

  /** Stops the timer and waits for a scan in progress. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private async readHours(em: EntityManager, since: Date, until: Date): Promise<HourActivity[]> {
    const tz = this.deps.timeZone;
    const rows = await em.execute<HourRow[]>(
      `SELECT a.actor_id AS user_id,
              (array_agg(a.actor_role ORDER BY a.at DESC))[1] AS role,
              to_char(a.at AT TIME ZONE ?, 'YYYY-MM-DD') AS day,
              extract(hour FROM a.at AT TIME ZONE ?)::int AS hour,
              count(*)::int AS reads,
              array_agg(DISTINCT a.patient_id) FILTER (WHERE a.patient_id IS NOT NULL) AS patient_ids,
              array_agg(DISTINCT a.ip) FILTER (WHERE a.ip IS NOT NULL) AS ips
       FROM audit_events a
       WHERE a.at >= ? AND a.at < ? AND a.outcome = 'ALLOWED' AND a.action LIKE '%.read'
         AND a.actor_id IS NOT NULL AND a.actor_role IS DISTINCT FROM 'PATIENT'
       GROUP BY a.actor_id, 3, 4`,
      [tz, tz, since, until],
    );
    return rows.map((r) => ({
      userId: r.user_id,
      role: r.role ?? 'UNKNOWN',
      day: r.day,
      hour: r.hour,
      reads: r.reads,
      patientIds: r.patient_ids ?? [],
      ips: r.ips ?? [],
    }));
  }

  /** Records the finding and its security event in one transaction; false when it was raised before. */
  private async raise(em: EntityManager, finding: Finding): Promise<boolean> {
    const tz = this.deps.timeZone;
    return em.transactional(async (tem) => {
      const inserted = await tem.execute<{ id: string; from: Date; to: Date }[]>(
        `INSERT INTO ueba_findings (id, user_id, rule, day, score, patient_id, created_at)
         VALUES (?, ?, ?, ?::date, ?, ?, now())
         ON CONFLICT (user_id, rule, day) DO NOTHING
         RETURNING id, (day::timestamp AT TIME ZONE ?) AS "from", ((day + 1)::timestamp AT TIME ZONE ?) AS "to"`,
        [randomUUID(), finding.userId, finding.rule, finding.day, finding.score, finding.patientId, tz, tz],
      );
      if (inserted.length === 0) return false;
      const [row] = inserted;
      const eventId = await this.deps.audit.securityEvent(tem, {
        eventType: 'ANOMALY',
        severity: severityOf(finding.score),
        actorId: finding.userId,
        patientId: finding.patientId,
        details: {
          rule: finding.rule,
          score: finding.score,
          explanation: finding.explanation,
          window: { day: finding.day, timeZone: tz, from: iso(row.from), to: iso(row.to) },
          role: finding.role,
          figures: finding.figures,
        },
      });
      await tem.execute('UPDATE ueba_findings SET security_event_id = ? WHERE id = ?', [eventId, row.id]);
      return true;
    });
  }
}

/** The calendar date of an instant in a time zone, as YYYY-MM-DD. */
export function localDay(at: Date, timeZone: string): string {
  const parts = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' })
    .formatToParts(at)
    .reduce<Record<string, string>>((acc, p) => ({ ...acc, [p.type]: p.value }), {});
  return `${parts.year}-${parts.month}-${parts.day}`;
}

function iso(value: Date | string): string {
  return new Date(value).toISOString();
}

function dedupe(pairs: UserPatient[]): UserPatient[] {
  const seen = new Map<string, UserPatient>();
  for (const p of pairs) seen.set(`${p.userId}|${p.patientId}`, p);
  return [...seen.values()];
}
