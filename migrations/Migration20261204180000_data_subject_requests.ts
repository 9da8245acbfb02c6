import { Migration } from '@mikro-orm/migrations';

const ENVELOPE = `^phi1[.][0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}[.](?:[A-Za-z0-9_-]{4}){13}(?:(?:[A-Za-z0-9_-][AQgw]|[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048])|(?:[A-Za-z0-9_-]{4})+(?:[A-Za-z0-9_-][AQgw]|[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048])?)\$`;

/** Data-subject requests (GDPR Art. 12-20) and the restriction flag on patients (Art. 18). */
export class Migration20261204180000DataSubjectRequests extends Migration {
  override async up(): Promise<void> {
    // No foreign key to patients: the record that a request was handled outlives an erasure of the patient.
    this.addSql(
      `create table "data_subject_requests" ("id" uuid not null, "patient_id" uuid not null, "type" text check ("type" in ('ACCESS', 'EXPORT', 'ERASURE', 'RECTIFICATION', 'RESTRICTION')) not null, "status" text check ("status" in ('RECEIVED', 'IN_REVIEW', 'COMPLETED', 'REJECTED')) not null, "reason" text null, "rejection_reason" text null, "requested_by" uuid not null, "requested_by_role" text not null, "received_at" timestamptz not null, "due_at" timestamptz not null, "completed_at" timestamptz null, "decided_by" uuid null, "format" text check ("format" in ('JSON', 'FHIR')) null, "rectified_fields" text[] null, "certificate" jsonb null, constraint "data_subject_requests_pkey" primary key ("id"), constraint data_subject_request_reason_envelope_check check ("reason" ~ '${ENVELOPE}'), constraint data_subject_request_rejection_reason_envelope_check check ("rejection_reason" ~ '${ENVELOPE}'));`,
    );
    this.addSql(
      `create index "data_subject_requests_status_due_at_index" on "data_subject_requests" ("status", "due_at");`,
    );
    this.addSql(
      `create index "data_subject_requests_patient_id_received_at_index" on "data_subject_requests" ("patient_id", "received_at");`,
    );
    this.addSql(`alter table "patients" add column "restricted_at" timestamptz null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "data_subject_requests" cascade;`);
    this.addSql(`alter table "patients" drop column "restricted_at";`);
  }
}
