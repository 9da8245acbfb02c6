import type { Config } from '../config/config';

/**
 * Categories of data held about a patient, as erasure certificates and the retention sweep name them.
 * The first three carry a legal duty to keep them (GDPR Art. 17(3)(b) and (c)); the rest are erased on request.
 */
export enum DataCategory {
  /** Encounters and the identity that makes them a record (MRN, name, date of birth, sex). */
  MEDICAL_RECORD = 'MEDICAL_RECORD',
  /** Consents and authorizations, data-subject requests, break-glass grants. */
  HIPAA_DOCUMENTATION = 'HIPAA_DOCUMENTATION',
  /** Invoices and payments (processor tokens and last four digits only). */
  BILLING_RECORD = 'BILLING_RECORD',
  /** The access and audit trail: ids and field names only, append-only, never erased. */
  AUDIT_TRAIL = 'AUDIT_TRAIL',
  /** Email, phone and postal address. */
  CONTACT = 'CONTACT',
  /** SSN and insurance member id. */
  IDENTIFIERS = 'IDENTIFIERS',
  /** Care-team links. */
  CARE_TEAM = 'CARE_TEAM',
  /** A linked PATIENT account: its sign-in data and sessions. */
  ACCOUNT = 'ACCOUNT',
}

/** How long one category is kept and on what legal basis; `from` names the instant the period counts from. */
export interface RetentionRule {
  category: DataCategory;
  years: number;
  from: string;
  /** The legal basis, as the erasure certificate states it (Art. 17(3)). */
  reason: string;
}

/** The retention policy of one deployment, built from configuration (README, "Erasure and retention"). */
export interface RetentionPolicy {
  medicalRecord: RetentionRule;
  hipaaDocumentation: RetentionRule;
  billingRecord: RetentionRule;
  auditTrail: RetentionRule;
  /** Security events older than this many days are deleted by the sweep. */
  securityEventDays: number;
  /** Sessions that ended (expired or revoked) more than this many days ago are deleted by the sweep. */
  sessionDays: number;
  /** Rows (or patients) per sweep transaction. */
  batchSize: number;
}

/** The policy for a configuration. */
export function retentionPolicy(config: Pick<Config, 'retention'>): RetentionPolicy {
  const r = config.retention;
  return {
    medicalRecord: {
      category: DataCategory.MEDICAL_RECORD,
      years: r.medicalRecordYears,
      from: 'the last encounter',
      reason: `Medical record retention duty: ${r.medicalRecordYears} years after the last encounter (GDPR Art. 17(3)(b), (c))`,
    },
    hipaaDocumentation: {
      category: DataCategory.HIPAA_DOCUMENTATION,
      years: r.hipaaDocumentationYears,
      from: 'creation',
      reason: `HIPAA 45 CFR 164.316(b)(2): ${r.hipaaDocumentationYears} years from creation`,
    },
    billingRecord: {
      category: DataCategory.BILLING_RECORD,
      years: r.billingYears,
      from: 'the last invoice',
      reason: `Financial record retention: ${r.billingYears} years after the last invoice (GDPR Art. 17(3)(b))`,
    },
    auditTrail: {
      category: DataCategory.AUDIT_TRAIL,
      years: r.hipaaDocumentationYears,
      from: 'each entry',
      reason:
        `HIPAA 45 CFR 164.312(b) and 164.316(b)(2): the append-only access trail is kept at least ` +
        `${r.hipaaDocumentationYears} years; it holds ids and field names, never PHI values`,
    },
    securityEventDays: r.securityEventDays,
    sessionDays: r.sessionDays,
    batchSize: r.sweepBatchSize,
  };
}

/** `from` plus whole calendar years (UTC), for until-dates. */
export function addYears(from: Date, years: number): Date {
  const until = new Date(from.getTime());
  until.setUTCFullYear(until.getUTCFullYear() + years);
  return until;
}

/** `from` minus whole calendar years: data dated before this has passed a `years` retention period at `now`. */
export function cutoffYears(now: Date, years: number): Date {
  return addYears(now, -years);
}

/** `now` minus whole days. */
export function cutoffDays(now: Date, days: number): Date {
  return new Date(now.getTime() - days * 24 * 3600 * 1000);
}
