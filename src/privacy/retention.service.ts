import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';

import type { ErasureService } from './erasure.service';
import { cutoffDays, cutoffYears, type RetentionPolicy } from './retention.policy';

/** Options of one sweep. */
export interface SweepOptions {
  /** Count what has expired and change nothing. */
  dryRun?: boolean;
  /** The instant expiry is judged at; now by default (tests move the clock with it). */
  now?: Date;
  /** Rows or patients per transaction; the policy's batch size by default. */
  batchSize?: number;
}

/** One category's line of the sweep report: what had expired, and what the sweep did about it. */
export interface SweepLine {
  category: string;
  rule: string;
  expired: number;
  /** Rows deleted (or patients completed) by this run; 0 in a dry run. */
  done: number;
  unit: string;
}

/** What a sweep found and did; the audit trail is never part of it. */
export interface SweepReport {
  dryRun: boolean;
  now: string;
  lines: SweepLine[];
  batches: number;
}

interface HoldRow {
  patient_id: string;
  category: string;
}

/**
 * The retention sweep (`retention:sweep`): deletes or crypto-shreds what has outlived its retention period,
 * in batches, each batch one transaction. Every selection is a function of the data and `now` only, so a run
 * cut short leaves whole batches done and a re-run continues where it stopped. Never touches the audit trail.
 */
export class RetentionService {
  constructor(private readonly deps: { orm: MikroORM; erasure: ErasureService; policy: RetentionPolicy }) {}

  /** Runs (or, with dryRun, counts) every category of the policy. */
  async sweep(options: SweepOptions = {}): Promise<SweepReport> {
    const now = options.now ?? new Date();
    const batchSize = options.batchSize ?? this.deps.policy.batchSize;
    const report: SweepReport = { dryRun: !!options.dryRun, now: now.toISOString(), lines: [], batches: 0 };
    const em = this.deps.orm.em.fork();
    const p = this.deps.policy;

    const holds = await this.count(em, 'SELECT count(*)::int AS n FROM erasure_holds WHERE until <= ?', [now]);
    const completions = await this.count(
      em,
      `SELECT count(*)::int AS n FROM (SELECT patient_id FROM erasure_holds GROUP BY patient_id
       HAVING max(until) <= ?) AS ended`,
      [now],
    );
    const medicalCutoff = cutoffYears(now, p.medicalRecord.years);
    const encounters = await this.count(
      em,
      `SELECT count(*)::int AS n FROM encounters e WHERE e.patient_id IN (${EXPIRED_RECORD_PATIENTS})`,
      [medicalCutoff],
    );
    const sessionCutoff = cutoffDays(now, p.sessionDays);
    const sessions = await this.count(em, `SELECT count(*)::int AS n FROM sessions WHERE ${ENDED_SESSION}`, [
      sessionCutoff,
      sessionCutoff,
    ]);
    const eventCutoff = cutoffDays(now, p.securityEventDays);
    const events = await this.count(em, 'SELECT count(*)::int AS n FROM security_events WHERE at < ?', [eventCutoff]);

    const lines: SweepLine[] = [
      line('erasure holds', 'retention period of an erased patient’s kept category ended', holds, 'holds'),
      line('erasures completed', 'every hold of a restricted, erased patient ended', completions, 'patients'),
      line('medical records', `${p.medicalRecord.years} years after the last encounter`, encounters, 'encounters'),
      line('sessions', `${p.sessionDays} days after the session ended`, sessions, 'sessions'),
      line('security events', `${p.securityEventDays} days after the event`, events, 'events'),
    ];
    report.lines = lines;
    if (options.dryRun) return report;

    const [holdLine, completionLine, encounterLine, sessionLine, eventLine] = lines;
    await this.sweepHolds(now, batchSize, holdLine, completionLine, report);
    await this.sweepMedicalRecords(medicalCutoff, batchSize, encounterLine, report);
    sessionLine.done = await this.deleteInBatches(
      `DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE ${ENDED_SESSION} LIMIT ? FOR UPDATE SKIP LOCKED)`,
      [sessionCutoff, sessionCutoff],
      batchSize,
      report,
    );
    eventLine.done = await this.deleteInBatches(
      `DELETE FROM security_events WHERE id IN
         (SELECT id FROM security_events WHERE at < ? LIMIT ? FOR UPDATE SKIP LOCKED)`,
      [eventCutoff],
      batchSize,
      report,
    );
    return report;
  }

  /** Expired holds: delete the category's rows; a patient left without holds has the erasure completed. */
  private async sweepHolds(
    now: Date,
    batchSize: number,
    holdLine: SweepLine,
    completionLine: SweepLine,
    report: SweepReport,
  ): Promise<void> {
    for (;;) {
      const result = await this.deps.orm.em.fork().transactional(async (tx) => {
        const rows = await tx.execute<HoldRow[]>(
          `SELECT patient_id, category FROM erasure_holds WHERE until <= ?
           ORDER BY patient_id, category LIMIT ? FOR UPDATE SKIP LOCKED`,
          [now, batchSize],
        );
        const patients = new Set<string>();
        let released = 0;
        for (const row of rows) {
          // The hold's date was computed at erasure; data added since (treatment goes on) may extend it.
          const still = (await this.deps.erasure.heldCategories(tx, row.patient_id, now)).find(
            (h) => h.rule.category === row.category,
          );
          if (still) {
            await tx.execute('UPDATE erasure_holds SET until = ? WHERE patient_id = ? AND category = ?', [
              still.until,
              row.patient_id,
              row.category,
            ]);
            continue;
          }
          await this.deps.erasure.releaseHold(tx, row.patient_id, row.category);
          patients.add(row.patient_id);
          released += 1;
        }
        let completed = 0;
        for (const patientId of patients) {
          const left = await tx.execute('SELECT 1 FROM erasure_holds WHERE patient_id = ? LIMIT 1', [patientId]);
          if (left.length > 0) {
            // Another category is still held: what was released must become undecryptable in backups too.
            await this.deps.erasure.rekeySubject(tx, patientId);
            continue;
          }
          await this.deps.erasure.completeAfterRetention(tx, patientId);
          completed += 1;
        }
        return { selected: rows.length, holds: released, completed };
      });
      if (result.selected === 0) return;
      report.batches += 1;
      holdLine.done += result.holds;
      completionLine.done += result.completed;
    }
  }

  /**
   * Patients (not under an erasure hold) whose last encounter is older than the medical retention period:
   * their encounters are deleted and the patient re-keyed, so backups of the deleted encounters cannot be
   * decrypted either; the patient record itself stays (it is not expired, only its clinical history).
   */
  private async sweepMedicalRecords(
    cutoff: Date,
    batchSize: number,
    encounterLine: SweepLine,
    report: SweepReport,
  ): Promise<void> {
    for (;;) {
      const deleted = await this.deps.orm.em.fork().transactional(async (tx) => {
        const patients = await tx.execute<{ id: string }[]>(
          `SELECT p.id FROM patients p WHERE p.id IN (${EXPIRED_RECORD_PATIENTS})
           ORDER BY p.id LIMIT ? FOR UPDATE OF p SKIP LOCKED`,
          [cutoff, batchSize],
        );
        let rows = 0;
        for (const { id } of patients) {
          const removed = await tx.execute<{ id: string }[]>(
            'DELETE FROM encounters WHERE patient_id = ? RETURNING id',
            [id],
          );
          rows += removed.length;
          await this.deps.erasure.rekeySubject(tx, id);
        }
        return patients.length === 0 ? undefined : rows;
      });
      if (deleted === undefined) return;
      report.batches += 1;
      encounterLine.done += deleted;
    }
  }

  private async deleteInBatches(
    sql: string,
    params: unknown[],
    batchSize: number,
    report: SweepReport,
  ): Promise<number> {
    let total = 0;
    for (;;) {
      const rows = await this.deps.orm.em
        .fork()
        .transactional((tx) => tx.execute<{ id: string }[]>(`${sql} RETURNING id`, [...params, batchSize]));
      if (rows.length === 0) return total;
      report.batches += 1;
      total += rows.length;
    }
  }

  private async count(em: EntityManager, sql: string, params: unknown[]): Promise<number> {
    const [row] = await em.execute<{ n: number }[]>(sql, params);
    return row.n;
  }
}

// Patients with encounters, none after the cutoff, and no erasure hold (held patients follow their holds).
const EXPIRED_RECORD_PATIENTS = `SELECT x.patient_id FROM encounters x
  WHERE NOT EXISTS (SELECT 1 FROM erasure_holds h WHERE h.patient_id = x.patient_id)
  GROUP BY x.patient_id HAVING max(x.started_at) < ?`;

// A session that was revoked, or expired, before the cutoff.
const ENDED_SESSION = '((revoked_at IS NOT NULL AND revoked_at < ?) OR expires_at < ?)';

function line(category: string, rule: string, expired: number, unit: string): SweepLine {
  return { category, rule, expired, done: 0, unit };
}
