import { Migration } from '@mikro-orm/migrations';

/** Behaviour analytics: the VIP flag on patients, and one row per finding so that re-scans raise nothing twice. */
export class Migration20261204174500Ueba extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "patients" add column "vip" boolean not null default false;`);
    this.addSql(
      `create table "ueba_findings" ("id" uuid not null, "user_id" uuid not null, "rule" text not null, "day" date not null, "score" int not null, "patient_id" uuid null, "security_event_id" uuid null, "created_at" timestamptz not null, constraint "ueba_findings_pkey" primary key ("id"));`,
    );
    this.addSql(
      `alter table "ueba_findings" add constraint "ueba_findings_user_id_rule_day_unique" unique ("user_id", "rule", "day");`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "ueba_findings" cascade;`);
    this.addSql(`alter table "patients" drop column "vip";`);
  }
}
