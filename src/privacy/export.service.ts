import type { EntityManager } from '@mikro-orm/postgresql';

import type { AuditQueryService } from '../audit/audit-query.service';
import type { PhiVault } from '../keys/phi-vault';
import type { PatientService } from '../patients/patient.service';

/** Name and version of the JSON export structure; a breaking change bumps the version. */
export const EXPORT_FORMAT = 'hms.patient-export';
export const EXPORT_VERSION = 1;

/** Postal address as registered. */
export interface ExportAddress {
  line1?: string | null;
  city?: string | null;
  postalCode?: string | null;
  country?: string | null;
}

/**
 * Everything held about one patient, decrypted (GDPR Art. 15 and 20). Structure `hms.patient-export`
 * version 1, documented in README.md ("Export"). Card data is limited to what PCI DSS lets us hold:
 * the processor's token, brand, last four digits and expiry.
 */
export interface PatientExport {
  format: typeof EXPORT_FORMAT;
  version: typeof EXPORT_VERSION;
  generatedAt: string;
  patient: {
    id: string;
    mrn: string;
    firstName: string;
    lastName: string;
    dateOfBirth: string;
    sex: string;
    ssn: string | null;
    email: string | null;
    phone: string | null;
    address: ExportAddress | null;
    insuranceMemberId: string | null;
    registeredAt: string;
    updatedAt: string;
    processingRestrictedAt: string | null;
  };
  encounters: {
    id: string;
    startedAt: string;
    recordedAt: string;
    clinicianId: string | null;
    reason: string;
    notes: string | null;
    diagnosisCodes: string[];
    sensitivity: string | null;
  }[];
  consents: {
    current: { type: string; given: boolean; at: string; policyVersion: string | null }[];
    history: ConsentExport[];
  };
  careTeam: { userId: string; since: string }[];
  invoices: {
    id: string;
    currency: string;
    status: string;
    totalMinor: number;
    paidMinor: number;
    createdAt: string;
    lines: { description: string; amountMinor: number }[];
  }[];
  payments: {
    id: string;
    invoiceId: string;
    status: string;
    amountMinor: number;
    currency: string;
    processorToken: string;
    cardBrand: string | null;
    cardLast4: string | null;
    cardExpMonth: number | null;
    cardExpYear: number | null;
    createdAt: string;
    refundedAt: string | null;
  }[];
  accessHistory: {
    at: string;
    action: string;
    actorId: string | null;
    actorRole: string | null;
    purpose: string | null;
    outcome: string;
  }[];
  dataSubjectRequests: { id: string; type: string; status: string; receivedAt: string; dueAt: string }[];
}

/** One consent record; client address and user agent only when the patient recorded it themself. */
export interface ConsentExport {
  id: string;
  type: string;
  given: boolean;
  policyVersion: string | null;
  at: string;
  channel: string;
  recordedByRole: string;
  ip?: string | null;
  userAgent?: string | null;
}

type Row = Record<string, unknown>;
const iso = (value: unknown): string => (value instanceof Date ? value : new Date(String(value))).toISOString();
const isoOrNull = (value: unknown): string | null => (value == null ? null : iso(value));

/**
 * Builds a patient's export. Patient and encounter fields are opened through the vault; consents,
 * care team, invoices and payments are read by SQL (billing's tables are read, never its services,
 * so privacy/ does not depend on billing/); the access history comes from the audit query service.
 */
export class ExportService {
  constructor(
    private readonly vault: PhiVault,
    private readonly patients: PatientService,
    private readonly auditQueries: AuditQueryService,
  ) {}

  async build(em: EntityManager, patientId: string): Promise<PatientExport> {
    const patient = await this.patients.get(em, patientId);
    const fields = (await this.vault.openAll(em, patient)) as Record<string, unknown>;
    const encounters = (await this.patients.encountersOf(em, [patient.id])).get(patient.id) ?? [];

    const openedEncounters = [];
    for (const encounter of encounters) {
      const open = (property: string) => this.vault.open(em, encounter, property, 'Encounter');
      openedEncounters.push({
        id: encounter.id,
        startedAt: iso(encounter.startedAt),
        recordedAt: iso(encounter.createdAt),
        clinicianId: encounter.clinicianId ?? null,
        reason: (await open('reason')) as string,
        notes: (await open('notes')) as string | null,
        diagnosisCodes: (await open('diagnosisCodes')) as string[],
        sensitivity: (await open('sensitivity')) as string | null,
      });
    }

    const [consents, careTeam, invoices, lines, payments, requests, history] = await Promise.all([
      em.execute<Row[]>(
        `SELECT id, type, given, policy_version, at, channel, ip, user_agent, recorded_by_role FROM consents
         WHERE patient_id = ? ORDER BY at, id`,
        [patient.id],
      ),
      em.execute<Row[]>('SELECT user_id, created_at FROM care_team_members WHERE patient_id = ? ORDER BY created_at', [
        patient.id,
      ]),
      em.execute<Row[]>(
        `SELECT id, currency, status, total_minor, paid_minor, created_at FROM invoices WHERE patient_id = ?
         ORDER BY created_at, id`,
        [patient.id],
      ),
      em.execute<Row[]>(
        `SELECT l.invoice_id, l.description, l.amount_minor FROM invoice_lines l JOIN invoices i ON i.id = l.invoice_id
         WHERE i.patient_id = ? ORDER BY l.invoice_id, l.position`,
        [patient.id],
      ),
      em.execute<Row[]>(
        `SELECT id, invoice_id, status, amount_minor, currency, processor_token, card_brand, card_last4,
                card_exp_month, card_exp_year, created_at, refunded_at
         FROM payments WHERE patient_id = ? ORDER BY created_at, id`,
        [patient.id],
      ),
      em.execute<Row[]>(
        `SELECT id, type, status, received_at, due_at FROM data_subject_requests WHERE patient_id = ?
         ORDER BY received_at, id`,
        [patient.id],
      ),
      this.auditQueries.accessHistory(em, patient.id),
    ]);

    const history_ = consents.map((c): ConsentExport => ({
      id: String(c.id),
      type: String(c.type),
      given: Boolean(c.given),
      policyVersion: (c.policy_version as string | null) ?? null,
      at: iso(c.at),
      channel: String(c.channel),
      recordedByRole: String(c.recorded_by_role),
      // The address and software of staff who recorded a consent are theirs, not the patient's.
      ...(c.recorded_by_role === 'PATIENT'
        ? { ip: (c.ip as string | null) ?? null, userAgent: (c.user_agent as string | null) ?? null }
        : {}),
    }));
    const newest = new Map<string, ConsentExport>();
    for (const consent of history_) newest.set(consent.type, consent);

    return {
      format: EXPORT_FORMAT,
      version: EXPORT_VERSION,
      generatedAt: new Date().toISOString(),
      patient: {
        id: patient.id,
        mrn: fields.mrn as string,
        firstName: fields.firstName as string,
        lastName: fields.lastName as string,
        dateOfBirth: fields.dateOfBirth as string,
        sex: fields.sex as string,
        ssn: (fields.ssn as string | null) ?? null,
        email: (fields.email as string | null) ?? null,
        phone: (fields.phone as string | null) ?? null,
        address: (fields.address as ExportAddress | null) ?? null,
        insuranceMemberId: (fields.insuranceMemberId as string | null) ?? null,
        registeredAt: iso(patient.createdAt),
        updatedAt: iso(patient.updatedAt),
        processingRestrictedAt: isoOrNull(patient.restrictedAt),
      },
      encounters: openedEncounters,
      consents: {
        current: [...newest.values()].map((c) => ({
          type: c.type,
          given: c.given,
          at: c.at,
          policyVersion: c.policyVersion,
        })),
        history: history_,
      },
      careTeam: careTeam.map((m) => ({ userId: String(m.user_id), since: iso(m.created_at) })),
      invoices: invoices.map((i) => ({
        id: String(i.id),
        currency: String(i.currency),
        status: String(i.status),
        totalMinor: Number(i.total_minor),
        paidMinor: Number(i.paid_minor),
        createdAt: iso(i.created_at),
        lines: lines
          .filter((l) => l.invoice_id === i.id)
          .map((l) => ({ description: String(l.description), amountMinor: Number(l.amount_minor) })),
      })),
      payments: payments.map((p) => ({
        id: String(p.id),
        invoiceId: String(p.invoice_id),
        status: String(p.status),
        amountMinor: Number(p.amount_minor),
        currency: String(p.currency),
        processorToken: String(p.processor_token),
        cardBrand: (p.card_brand as string | null) ?? null,
        cardLast4: (p.card_last4 as string | null) ?? null,
        cardExpMonth: p.card_exp_month == null ? null : Number(p.card_exp_month),
        cardExpYear: p.card_exp_year == null ? null : Number(p.card_exp_year),
        createdAt: iso(p.created_at),
        refundedAt: isoOrNull(p.refunded_at),
      })),
      accessHistory: history.map((h) => ({
        at: iso(h.at),
        action: h.action,
        actorId: h.actorId,
        actorRole: h.actorRole,
        purpose: h.purpose,
        outcome: h.outcome,
      })),
      dataSubjectRequests: requests.map((r) => ({
        id: String(r.id),
        type: String(r.type),
        status: String(r.status),
        receivedAt: iso(r.received_at),
        dueAt: iso(r.due_at),
      })),
    };
  }
}
