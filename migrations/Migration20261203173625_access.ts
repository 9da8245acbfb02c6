import { Migration } from '@mikro-orm/migrations';

export class Migration20261203173625Access extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "audit_events" ("id" uuid not null, "at" timestamptz not null, "action" text not null, "actor_id" uuid null, "actor_role" text null, "session_id" uuid null, "patient_id" uuid null, "purpose" text null, "outcome" text not null, "fields" text[] not null default '{}', "request_id" text null, "ip" text null, "user_agent" text null, constraint "audit_events_pkey" primary key ("id"));`,
    );
    this.addSql(`create index "audit_events_actor_id_at_index" on "audit_events" ("actor_id", "at");`);
    this.addSql(`create index "audit_events_patient_id_at_index" on "audit_events" ("patient_id", "at");`);

    this.addSql(
      `create table "consents" ("id" uuid not null, "patient_id" uuid not null, "type" text check ("type" in ('TREATMENT', 'RESEARCH', 'MARKETING', 'DATA_SHARING', 'SENSITIVE_DATA')) not null, "given" boolean not null, "policy_version" text null, "at" timestamptz not null, "channel" text not null, "ip" text null, "user_agent" text null, "recorded_by" uuid not null, "recorded_by_role" text not null, constraint "consents_pkey" primary key ("id"));`,
    );
    this.addSql(`create index "consents_patient_id_type_at_index" on "consents" ("patient_id", "type", "at");`);

    this.addSql(
      `create table "security_events" ("id" uuid not null, "at" timestamptz not null, "event_type" text not null, "severity" text not null, "actor_id" uuid null, "patient_id" uuid null, "details" jsonb not null default '{}', constraint "security_events_pkey" primary key ("id"));`,
    );
    this.addSql(`create index "security_events_event_type_at_index" on "security_events" ("event_type", "at");`);

    this.addSql(
      `create table "care_team_members" ("id" uuid not null, "patient_id" uuid not null, "user_id" uuid not null, "added_by" uuid not null, "created_at" timestamptz not null, constraint "care_team_members_pkey" primary key ("id"));`,
    );
    this.addSql(
      `alter table "care_team_members" add constraint "care_team_members_patient_id_user_id_unique" unique ("patient_id", "user_id");`,
    );

    this.addSql(
      `create table "break_glass_grants" ("id" uuid not null, "patient_id" uuid not null, "user_id" uuid not null, "reason" text not null, "created_at" timestamptz not null, "expires_at" timestamptz not null, "revoked_at" timestamptz null, "revoked_by" uuid null, constraint "break_glass_grants_pkey" primary key ("id"), constraint break_glass_grant_reason_envelope_check check ("reason" ~ '^phi1[.][0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}[.](?:[A-Za-z0-9_-]{4}){13}(?:(?:[A-Za-z0-9_-][AQgw]|[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048])|(?:[A-Za-z0-9_-]{4})+(?:[A-Za-z0-9_-][AQgw]|[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048])?)\$'));`,
    );
    this.addSql(
      `create index "break_glass_grants_user_id_patient_id_expires_at_index" on "break_glass_grants" ("user_id", "patient_id", "expires_at");`,
    );

    this.addSql(
      `alter table "consents" add constraint "consents_patient_id_foreign" foreign key ("patient_id") references "patients" ("id") on update cascade on delete cascade;`,
    );

    this.addSql(
      `alter table "care_team_members" add constraint "care_team_members_patient_id_foreign" foreign key ("patient_id") references "patients" ("id") on update cascade on delete cascade;`,
    );
    this.addSql(
      `alter table "care_team_members" add constraint "care_team_members_user_id_foreign" foreign key ("user_id") references "users" ("id") on update cascade on delete cascade;`,
    );

    this.addSql(
      `alter table "break_glass_grants" add constraint "break_glass_grants_patient_id_foreign" foreign key ("patient_id") references "patients" ("id") on update cascade on delete cascade;`,
    );
    this.addSql(
      `alter table "break_glass_grants" add constraint "break_glass_grants_user_id_foreign" foreign key ("user_id") references "users" ("id") on update cascade on delete cascade;`,
    );

    this.addSql(`alter table "users" add column "scopes" text[] not null default '{}';`);

    this.addSql(`alter table "encounters" add column "sensitivity" text null;`);
    this.addSql(
      `alter table "encounters" add constraint encounter_sensitivity_envelope_check check("sensitivity" ~ '^phi1[.][0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}[.](?:[A-Za-z0-9_-]{4}){13}(?:(?:[A-Za-z0-9_-][AQgw]|[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048])|(?:[A-Za-z0-9_-]{4})+(?:[A-Za-z0-9_-][AQgw]|[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048])?)\$');`,
    );
    // Consent history is proof (GDPR Art. 7(1)): rows are never changed, only added. Deletion stays
    // possible so that erasure of a patient can remove them with the patient row.
    this.addSql(`create function hms_refuse_update() returns trigger language plpgsql as $$
      begin raise exception 'rows of % are append-only', tg_table_name using errcode = 'P0001'; end $$;`);
    this.addSql(
      `create trigger consents_append_only before update on "consents" for each row execute function hms_refuse_update();`,
    );
    // The audit trail keeps no foreign key to patients (it outlives an erasure) and refuses change of any kind.
    this.addSql(
      `create trigger audit_events_append_only before update or delete on "audit_events" for each row execute function hms_refuse_update();`,
    );
    this.addSql(
      `create trigger audit_events_no_truncate before truncate on "audit_events" for each statement execute function hms_refuse_update();`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "audit_events" cascade;`);
    this.addSql(`drop function if exists hms_refuse_update() cascade;`);

    this.addSql(`drop table if exists "consents" cascade;`);

    this.addSql(`drop table if exists "security_events" cascade;`);

    this.addSql(`drop table if exists "care_team_members" cascade;`);

    this.addSql(`drop table if exists "break_glass_grants" cascade;`);

    this.addSql(`alter table "encounters" drop constraint encounter_sensitivity_envelope_check;`);
    this.addSql(`alter table "encounters" drop column "sensitivity";`);

    this.addSql(`alter table "users" drop column "scopes";`);
  }
}
