import { Migration } from '@mikro-orm/migrations';

export class Migration20261204170029SiemOutbox extends Migration {
  override async up(): Promise<void> {
    // The SIEM outbox: written in the transaction of the event it carries, delivered in id order per stream.
    this.addSql(
      `create table "siem_outbox" ("id" bigserial primary key, "stream" text not null, "event_id" uuid not null, "event_type" text not null, "severity" text not null, "at" timestamptz not null, "actor_id" uuid null, "patient_id" uuid null, "details" jsonb not null default '{}', "created_at" timestamptz not null, "delivered_at" timestamptz null, "syslog_delivered_at" timestamptz null, "attempts" int not null default 0, "last_error" text null);`,
    );
    this.addSql(`alter table "siem_outbox" add constraint "siem_outbox_event_id_unique" unique ("event_id");`);
    this.addSql(`create index "siem_outbox_created_at_index" on "siem_outbox" ("created_at");`);
    this.addSql(
      `create index "siem_outbox_stream_delivered_at_id_index" on "siem_outbox" ("stream", "delivered_at", "id");`,
    );
    this.addSql(
      `create index "siem_outbox_stream_syslog_delivered_at_id_index" on "siem_outbox" ("stream", "syslog_delivered_at", "id");`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "siem_outbox" cascade;`);
  }
}
