import { randomUUID } from 'node:crypto';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';

import type { AuditService } from '../audit/audit.service';
import { isUuid } from '../db/ids';
import { notFound } from '../graphql/errors';
import type { DataKeyService } from '../keys/data-key.service';
import { FieldResealService } from '../keys/field-reseal.service';
import { SealedTableCatalog } from '../keys/sealed-table.catalog';
import type { ErasureCertificate, ErasureCertificateSigner, RetainedCategory } from './erasure-certificate';
import { addYears, DataCategory, type RetentionPolicy, type RetentionRule } from './retention.policy';

/** The erasure request being carried out (a row of data_subject_requests). */
export interface ErasureRequestRef {
  id: string;
  patientId: string;
}

/** Who approved the erasure. */
export interface ErasureActor {
  userId: string;
  role: string;
}

/** Categories with a legal retention duty, and the tables that hold each (rows keyed by patient_id). */
const HELD_TABLES: Record<string, string[]> = {
  [DataCategory.MEDICAL_RECORD]: ['encounters'],
  [DataCategory.HIPAA_DOCUMENTATION]: ['consents', 'break_glass_grants'],
  [DataCategory.BILLING_RECORD]: ['invoices'],
};

/** Categories erased at once in every case (the sealed columns are nulled, then the old data key destroyed). */
const ALWAYS_ERASED = [DataCategory.CONTACT, DataCategory.IDENTIFIERS, DataCategory.CARE_TEAM, DataCategory.ACCOUNT];

// CONTACT and IDENTIFIERS: nulling the ciphertext and its blind index removes the value from the live row;
// re-keying the rest and destroying the old key makes copies in backups undecryptable.
const ERASED_PATIENT_COLUMNS = [
  'email',
  'email_bidx',
  'phone',
  'phone_bidx',
  'address',
  'ssn',
  'ssn_bidx',
  'insurance_member_id',
];

/**
 * GDPR Art. 17 erasure with the Art. 17(3) exceptions. Data under a legal retention duty (medical records,
 * HIPAA documentation, billing records) is kept, re-encrypted under a new data key, and the patient is
 * restricted; everything else is erased by row deletion plus destruction of the old data key, so the erased
 * values cannot be decrypted from any backup either. With nothing to keep, every key is destroyed and the
 * patient's rows deleted. The audit trail keeps the fact of erasure (ids and category names only).
 */
export class ErasureService {
  readonly #reseal: FieldResealService;

  constructor(
    private readonly deps: {
      orm: MikroORM;
      dataKeys: DataKeyService;
      audit: AuditService;
      signer: ErasureCertificateSigner;
      policy: RetentionPolicy;
    },
  ) {
    this.#reseal = new FieldResealService(deps.orm, deps.dataKeys, new SealedTableCatalog(deps.orm));
  }

  /** The public key (base64url) that verifies erasure certificates. */
  get publicKey(): string {
    return this.deps.signer.publicKey;
  }

  /**
   * Erases a patient for an approved request, inside the caller's transaction (or one of its own), and
   * returns the signed certificate. NOT_FOUND when the patient does not exist (already erased).
   */
  async erase(
    em: EntityManager,
    request: ErasureRequestRef,
    actor: ErasureActor,
    now: Date = new Date(),
  ): Promise<ErasureCertificate> {
    if (!em.isInTransaction()) return em.transactional((tem) => this.erase(tem, request, actor, now));
    const patientId = request.patientId;
    if (!isUuid(patientId)) throw notFound('Patient');
    const locked = await em.execute('SELECT id FROM patients WHERE id = ? FOR UPDATE', [patientId]);
    if (locked.length === 0) throw notFound('Patient');

    const held = await this.heldCategories(em, patientId, now);
    await this.eraseAccounts(em, patientId);
    await em.execute('DELETE FROM care_team_members WHERE patient_id = ?', [patientId]);
    if (held.length === 0) {
      await this.destroyPatient(em, patientId);
    } else {
      await this.restrictAndRekey(em, request, held, now);
    }

    const retained: RetainedCategory[] = [
      ...held.map(({ rule, until }) => ({ category: rule.category, reason: rule.reason, until: until.toISOString() })),
      {
        category: DataCategory.AUDIT_TRAIL,
        reason: this.deps.policy.auditTrail.reason,
        until: addYears(now, this.deps.policy.auditTrail.years).toISOString(),
      },
    ];
    const keptNames = new Set(retained.map((r) => r.category));
    const erased = [...ALWAYS_ERASED, ...Object.keys(HELD_TABLES)].filter((c) => !keptNames.has(c));

    await this.recordErasure(em, patientId, actor, 'patient.erase', { requestId: request.id, erased, retained });
    return this.deps.signer.issue({
      requestId: request.id,
      patientId,
      erasedAt: now.toISOString(),
      erased,
      retained,
      issuer: 'HMS',
    });
  }

  /**
   * Finishes the erasure of a restricted patient whose every hold has expired (retention sweep): destroys
   * the data keys and deletes the rows. The caller holds a transaction and has checked that no hold is left.
   */
  async completeAfterRetention(em: EntityManager, patientId: string): Promise<void> {
    await this.eraseAccounts(em, patientId);
    await this.destroyPatient(em, patientId);
    await this.recordErasure(em, patientId, { userId: '', role: 'SYSTEM' }, 'patient.erase.complete', {
      erased: Object.keys(HELD_TABLES),
      retained: [],
    });
  }

  /** Deletes the rows of one expired hold's category (retention sweep) and the hold itself. */
  async releaseHold(em: EntityManager, patientId: string, category: string): Promise<void> {
    for (const table of HELD_TABLES[category] ?? []) {
      await em.execute(`DELETE FROM ${table} WHERE patient_id = ?`, [patientId]);
    }
    await em.execute('DELETE FROM erasure_holds WHERE patient_id = ? AND category = ?', [patientId, category]);
  }

  /**
   * Gives a subject a new data key version, re-encrypts every sealed value of its rows under it and destroys
   * every older version, inside the caller's transaction: values deleted before this call, and their copies
   * in backups, can no longer be decrypted. Throws when a value could not be re-encrypted (it would be lost).
   */
  async rekeySubject(em: EntityManager, subjectId: string): Promise<void> {
    const [{ version }] = await em.execute<{ version: number | null }[]>(
      'SELECT max(version) AS version FROM data_keys WHERE subject_id = ?',
      [subjectId],
    );
    const [fresh] = await this.deps.dataKeys.createVersions(em, [{ subjectId, version: (version ?? 0) + 1 }]);
    try {
      const counts = await this.#reseal.reencryptRows(em, new Map([[subjectId, fresh]]));
      const unreadable = [...counts.unreadable.values()].reduce((a, b) => a + b, 0);
      if (unreadable > 0) throw new Error(`re-keying left ${unreadable} sealed values unreadable; nothing was changed`);
    } finally {
      fresh.key.fill(0);
    }
    await this.destroyKeys(em, subjectId, fresh.id);
  }

  /**
   * The categories a legal duty still keeps at `now`, each with the end of its period, computed from the data
   * (an encounter recorded after the erasure, under treatment access, extends the medical record's period).
   */
  async heldCategories(
    em: EntityManager,
    patientId: string,
    now: Date,
  ): Promise<{ rule: RetentionRule; until: Date }[]> {
    const [facts] = await em.execute<{ encounter: Date | null; documentation: Date | null; invoice: Date | null }[]>(
      `SELECT (SELECT max(started_at) FROM encounters WHERE patient_id = ?) AS encounter,
              GREATEST((SELECT max(at) FROM consents WHERE patient_id = ?),
                       (SELECT max(created_at) FROM break_glass_grants WHERE patient_id = ?)) AS documentation,
              (SELECT max(created_at) FROM invoices WHERE patient_id = ?) AS invoice`,
      [patientId, patientId, patientId, patientId],
    );
    const policy = this.deps.policy;
    const candidates: [RetentionRule, Date | null][] = [
      [policy.medicalRecord, facts.encounter],
      [policy.hipaaDocumentation, facts.documentation],
      [policy.billingRecord, facts.invoice],
    ];
    return candidates.flatMap(([rule, from]) => {
      if (!from) return [];
      const until = addYears(new Date(from), rule.years);
      return until.getTime() > now.getTime() ? [{ rule, until }] : [];
    });
  }

  /**
   * Something is kept: erase the other categories' rows and columns, re-key what is left so that the old
   * key (and with it every erased value in every backup) can be destroyed, restrict the patient (Art. 18:
   * only treatment and legal access remain), and record until when each category is held.
   */
  private async restrictAndRekey(
    em: EntityManager,
    request: ErasureRequestRef,
    held: { rule: RetentionRule; until: Date }[],
    now: Date,
  ): Promise<void> {
    const patientId = request.patientId;
    const kept = new Set<string>(held.map((h) => h.rule.category));
    for (const [category, tables] of Object.entries(HELD_TABLES)) {
      if (kept.has(category)) continue;
      for (const table of tables) await em.execute(`DELETE FROM ${table} WHERE patient_id = ?`, [patientId]);
    }
    const cleared = ERASED_PATIENT_COLUMNS.map((column) => `${column} = NULL`).join(', ');
    await em.execute(
      `UPDATE patients SET ${cleared}, restricted_at = COALESCE(restricted_at, ?), updated_at = ? WHERE id = ?`,
      [now, now, patientId],
    );

    await this.rekeySubject(em, patientId);

    for (const { rule, until } of held) {
      await em.execute(
        `INSERT INTO erasure_holds (id, patient_id, request_id, category, until, created_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (patient_id, category) DO UPDATE SET until = excluded.until, request_id = excluded.request_id`,
        [randomUUID(), patientId, request.id, rule.category, until, now],
      );
    }
  }

  /** Nothing (more) is kept: destroy every data key of the patient, then delete the patient's rows. */
  private async destroyPatient(em: EntityManager, patientId: string): Promise<void> {
    await this.destroyKeys(em, patientId);
    // Foreign keys cascade to encounters, consents, care team, break-glass grants, invoices, payments and
    // holds; data-subject requests and the audit trail have none and keep the fact, without readable PHI.
    await em.execute('DELETE FROM patients WHERE id = ?', [patientId]);
  }

  /** Deletes linked PATIENT accounts (sessions and refresh tokens cascade) and destroys their data keys. */
  private async eraseAccounts(em: EntityManager, patientId: string): Promise<void> {
    const accounts = await em.execute<{ id: string }[]>('DELETE FROM users WHERE patient_id = ? RETURNING id', [
      patientId,
    ]);
    for (const { id } of accounts) await this.destroyKeys(em, id);
  }

  /**
   * Destroys a subject's live data keys (all but `keep`) in the caller's transaction, unlike
   * DataKeyService.shred, which commits on its own connection: a rolled-back erasure must leave keys intact.
   */
  private async destroyKeys(em: EntityManager, subjectId: string, keep?: string): Promise<void> {
    const rows = await em.execute<{ id: string }[]>(
      `UPDATE data_keys SET wrapped = NULL, destroyed_at = now()
       WHERE subject_id = ? AND wrapped IS NOT NULL ${keep ? 'AND id <> ?' : ''} RETURNING id`,
      keep ? [subjectId, keep] : [subjectId],
    );
    // Known gap: this process forgets the keys now, before commit, and other server processes keep a cached
    // copy until their cache entry expires (DataKeyCache TTL, 5 minutes); the database copy is gone at commit.
    for (const { id } of rows) this.deps.dataKeys.cache.delete(id);
    this.deps.dataKeys.invalidateSubject(subjectId);
  }

  private async recordErasure(
    em: EntityManager,
    patientId: string,
    actor: ErasureActor,
    action: string,
    outcome: { requestId?: string; erased: string[]; retained: RetainedCategory[] },
  ): Promise<void> {
    const actorId = actor.userId || null;
    await this.deps.audit.append(em, [
      {
        action,
        patientId,
        purpose: 'PRIVACY',
        outcome: 'ALLOWED',
        fields: outcome.erased,
        actorId,
        actorRole: actor.role,
      },
    ]);
    await this.deps.audit.securityEvent(em, {
      eventType: 'ERASURE',
      severity: 'MEDIUM',
      actorId,
      patientId,
      details: {
        action,
        ...(outcome.requestId ? { requestId: outcome.requestId } : {}),
        erased: outcome.erased,
        retained: outcome.retained.map((r) => r.category),
      },
    });
  }
}
