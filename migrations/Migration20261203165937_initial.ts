import { Migration } from '@mikro-orm/migrations';

export class Migration20261203165937Initial extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "data_keys" ("id" uuid not null, "subject_id" uuid not null, "version" int not null, "master_version" int not null, "wrapped" bytea null, "created_at" timestamptz not null, "destroyed_at" timestamptz null, constraint "data_keys_pkey" primary key ("id"));`,
    );
    this.addSql(`create index "data_keys_master_version_index" on "data_keys" ("master_version");`);
    this.addSql(
      `alter table "data_keys" add constraint "data_keys_subject_id_version_unique" unique ("subject_id", "version");`,
    );

    this.addSql(
      `create table "patients" ("id" uuid not null, "mrn_bidx" text null, "mrn" text not null, "first_name" text not null, "last_name" text not null, "date_of_birth" text not null, "sex" text not null, "ssn_bidx" text null, "ssn" text null, "email_bidx" text null, "email" text null, "phone_bidx" text null, "phone" text null, "address" text null, "insurance_member_id" text null, "created_at" timestamptz not null, "updated_at" timestamptz not null, "name_dob_bidx" text null, constraint "patients_pkey" primary key ("id"), constraint patient_mrn_envelope_check check ("mrn" ~ '^phi1[.][0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}[.](?:[A-Za-z0-9_-]{4}){13}(?:(?:[A-Za-z0-9_-][AQgw]|[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048])|(?:[A-Za-z0-9_-]{4})+(?:[A-Za-z0-9_-][AQgw]|[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048])?)\$'), constraint patient_first_name_envelope_check check ("first_name" ~ '^phi1[.][0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}[.](?:[A-Za-z0-9_-]{4}){13}(?:(?:[A-Za-z0-9_-][AQgw]|[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048])|(?:[A-Za-z0-9_-]{4})+(?:[A-Za-z0-9_-][AQgw]|[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048])?)\$'), constraint patient_last_name_envelope_check check ("last_name" ~ '^phi1[.][0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}[.](?:[A-Za-z0-9_-]{4}){13}(?:(?:[A-Za-z0-9_-][AQgw]|[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048])|(?:[A-Za-z0-9_-]{4})+(?:[A-Za-z0-9_-][AQgw]|[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048])?)\$'), constraint patient_date_of_birth_envelope_check check ("date_of_birth" ~ '^phi1[.][0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}[.](?:[A-Za-z0-9_-]{4}){13}(?:(?:[A-Za-z0-9_-][AQgw]|[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048])|(?:[A-Za-z0-9_-]{4})+(?:[A-Za-z0-9_-][AQgw]|[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048])?)\$'), constraint patient_sex_envelope_check check ("sex" ~ '^phi1[.][0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}[.](?:[A-Za-z0-9_-]{4}){13}(?:(?:[A-Za-z0-9_-][AQgw]|[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048])|(?:[A-Za-z0-9_-]{4})+(?:[A-Za-z0-9_-][AQgw]|[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048])?)\$'), constraint patient_ssn_envelope_check check ("ssn" ~ '^phi1[.][0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}[.](?:[A-Za-z0-9_-]{4}){13}(?:(?:[A-Za-z0-9_-][AQgw]|[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048])|(?:[A-Za-z0-9_-]{4})+(?:[A-Za-z0-9_-][AQgw]|[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048])?)\$'), constraint patient_email_envelope_check check ("email" ~ '^phi1[.][0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}[.](?:[A-Za-z0-9_-]{4}){13}(?:(?:[A-Za-z0-9_-][AQgw]|[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048])|(?:[A-Za-z0-9_-]{4})+(?:[A-Za-z0-9_-][AQgw]|[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048])?)\$'), constraint patient_phone_envelope_check check ("phone" ~ '^phi1[.][0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}[.](?:[A-Za-z0-9_-]{4}){13}(?:(?:[A-Za-z0-9_-][AQgw]|[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048])|(?:[A-Za-z0-9_-]{4})+(?:[A-Za-z0-9_-][AQgw]|[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048])?)\$'), constraint patient_address_envelope_check check ("address" ~ '^phi1[.][0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}[.](?:[A-Za-z0-9_-]{4}){13}(?:(?:[A-Za-z0-9_-][AQgw]|[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048])|(?:[A-Za-z0-9_-]{4})+(?:[A-Za-z0-9_-][AQgw]|[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048])?)\$'), constraint patient_insurance_member_id_envelope_check check ("insurance_member_id" ~ '^phi1[.][0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}[.](?:[A-Za-z0-9_-]{4}){13}(?:(?:[A-Za-z0-9_-][AQgw]|[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048])|(?:[A-Za-z0-9_-]{4})+(?:[A-Za-z0-9_-][AQgw]|[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048])?)\$'));`,
    );
    this.addSql(`create index "patients_mrn_bidx_index" on "patients" ("mrn_bidx");`);
    this.addSql(`create index "patients_ssn_bidx_index" on "patients" ("ssn_bidx");`);
    this.addSql(`create index "patients_email_bidx_index" on "patients" ("email_bidx");`);
    this.addSql(`create index "patients_phone_bidx_index" on "patients" ("phone_bidx");`);
    this.addSql(`create index "patients_name_dob_bidx_index" on "patients" ("name_dob_bidx");`);

    this.addSql(
      `create table "users" ("id" uuid not null, "email_bidx" text null, "email" text not null, "password_hash" text not null, "role" text check ("role" in ('ADMIN', 'PHYSICIAN', 'NURSE', 'RECEPTIONIST', 'BILLING', 'AUDITOR', 'PRIVACY_OFFICER', 'INTEGRATOR', 'PATIENT')) not null, "display_name" text not null, "patient_id" uuid null, "disabled_at" timestamptz null, "failed_login_count" int not null default 0, "locked_until" timestamptz null, "failed_mfa_count" int not null default 0, "mfa_locked_until" timestamptz null, "totp_secret" text null, "totp_pending_secret" text null, "totp_enabled_at" timestamptz null, "totp_last_step" bigint null, "recovery_code_hashes" text[] not null default '{}', "last_login_at" timestamptz null, "password_changed_at" timestamptz not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, constraint "users_pkey" primary key ("id"), constraint user_email_envelope_check check ("email" ~ '^phi1[.][0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}[.](?:[A-Za-z0-9_-]{4}){13}(?:(?:[A-Za-z0-9_-][AQgw]|[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048])|(?:[A-Za-z0-9_-]{4})+(?:[A-Za-z0-9_-][AQgw]|[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048])?)\$'), constraint user_totp_secret_envelope_check check ("totp_secret" ~ '^phi1[.][0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}[.](?:[A-Za-z0-9_-]{4}){13}(?:(?:[A-Za-z0-9_-][AQgw]|[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048])|(?:[A-Za-z0-9_-]{4})+(?:[A-Za-z0-9_-][AQgw]|[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048])?)\$'), constraint user_totp_pending_secret_envelope_check check ("totp_pending_secret" ~ '^phi1[.][0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}[.](?:[A-Za-z0-9_-]{4}){13}(?:(?:[A-Za-z0-9_-][AQgw]|[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048])|(?:[A-Za-z0-9_-]{4})+(?:[A-Za-z0-9_-][AQgw]|[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048])?)\$'));`,
    );
    this.addSql(`create index "users_email_bidx_index" on "users" ("email_bidx");`);
    this.addSql(`alter table "users" add constraint "users_patient_id_unique" unique ("patient_id");`);
    this.addSql(`alter table "users" add constraint "users_email_bidx_unique" unique ("email_bidx");`);

    this.addSql(
      `create table "sessions" ("id" uuid not null, "user_id" uuid not null, "created_at" timestamptz not null, "last_seen_at" timestamptz not null, "expires_at" timestamptz not null, "revoked_at" timestamptz null, "revoked_reason" text null, "mfa_at" timestamptz null, "ip" text null, "user_agent" text null, constraint "sessions_pkey" primary key ("id"));`,
    );
    this.addSql(`create index "sessions_user_id_revoked_at_index" on "sessions" ("user_id", "revoked_at");`);

    this.addSql(
      `create table "refresh_tokens" ("token_hash" text not null, "session_id" uuid not null, "generation" int not null, "created_at" timestamptz not null, "used_at" timestamptz null, constraint "refresh_tokens_pkey" primary key ("token_hash"));`,
    );
    this.addSql(`create index "refresh_tokens_session_id_index" on "refresh_tokens" ("session_id");`);

    this.addSql(
      `create table "encounters" ("id" uuid not null, "patient_id" uuid not null, "clinician_id" uuid null, "started_at" timestamptz not null, "reason" text not null, "notes" text null, "diagnosis_codes" text not null, "created_at" timestamptz not null, constraint "encounters_pkey" primary key ("id"), constraint encounter_reason_envelope_check check ("reason" ~ '^phi1[.][0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}[.](?:[A-Za-z0-9_-]{4}){13}(?:(?:[A-Za-z0-9_-][AQgw]|[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048])|(?:[A-Za-z0-9_-]{4})+(?:[A-Za-z0-9_-][AQgw]|[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048])?)\$'), constraint encounter_notes_envelope_check check ("notes" ~ '^phi1[.][0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}[.](?:[A-Za-z0-9_-]{4}){13}(?:(?:[A-Za-z0-9_-][AQgw]|[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048])|(?:[A-Za-z0-9_-]{4})+(?:[A-Za-z0-9_-][AQgw]|[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048])?)\$'), constraint encounter_diagnosis_codes_envelope_check check ("diagnosis_codes" ~ '^phi1[.][0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}[.](?:[A-Za-z0-9_-]{4}){13}(?:(?:[A-Za-z0-9_-][AQgw]|[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048])|(?:[A-Za-z0-9_-]{4})+(?:[A-Za-z0-9_-][AQgw]|[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048])?)\$'));`,
    );
    this.addSql(`create index "encounters_patient_id_started_at_index" on "encounters" ("patient_id", "started_at");`);

    this.addSql(
      `alter table "users" add constraint "users_patient_id_foreign" foreign key ("patient_id") references "patients" ("id") on update cascade on delete set null;`,
    );

    this.addSql(
      `alter table "sessions" add constraint "sessions_user_id_foreign" foreign key ("user_id") references "users" ("id") on update cascade on delete cascade;`,
    );

    this.addSql(
      `alter table "refresh_tokens" add constraint "refresh_tokens_session_id_foreign" foreign key ("session_id") references "sessions" ("id") on update cascade on delete cascade;`,
    );

    this.addSql(
      `alter table "encounters" add constraint "encounters_patient_id_foreign" foreign key ("patient_id") references "patients" ("id") on update cascade on delete cascade;`,
    );
    this.addSql(
      `alter table "encounters" add constraint "encounters_clinician_id_foreign" foreign key ("clinician_id") references "users" ("id") on update cascade on delete set null;`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "users" drop constraint "users_patient_id_foreign";`);

    this.addSql(`alter table "encounters" drop constraint "encounters_patient_id_foreign";`);

    this.addSql(`alter table "sessions" drop constraint "sessions_user_id_foreign";`);

    this.addSql(`alter table "encounters" drop constraint "encounters_clinician_id_foreign";`);

    this.addSql(`alter table "refresh_tokens" drop constraint "refresh_tokens_session_id_foreign";`);

    this.addSql(`drop table if exists "data_keys" cascade;`);

    this.addSql(`drop table if exists "patients" cascade;`);

    this.addSql(`drop table if exists "users" cascade;`);

    this.addSql(`drop table if exists "sessions" cascade;`);

    this.addSql(`drop table if exists "refresh_tokens" cascade;`);

    this.addSql(`drop table if exists "encounters" cascade;`);
  }
}
