import { Migration } from '@mikro-orm/migrations';

/**
 * Tamper evidence for the audit trail: each row carries its place in one gapless sequence and an HMAC chained to
 * the row before it; checkpoints record the chain head for the SIEM.
 */
export class Migration20261204171000AuditChain extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `alter table "audit_events" add column "seq" bigint null, add column "prev_hash" text null, add column "hash" text null;`,
    );
    // Rows written before the chain existed get their place in the order they were written, and no hash:
    // `audit:verify` reports them as unverifiable. This is the only update the table ever sees.
    this.addSql(`alter table "audit_events" disable trigger audit_events_append_only;`);
    this.addSql(`update "audit_events" set "seq" = ordered.n
      from (select id, row_number() over (order by "at", "id") as n from "audit_events") as ordered
      where "audit_events"."id" = ordered.id;`);
    this.addSql(`alter table "audit_events" enable trigger audit_events_append_only;`);
    this.addSql(`alter table "audit_events" alter column "seq" set not null;`);
    this.addSql(`alter table "audit_events" add constraint "audit_events_seq_unique" unique ("seq");`);
    // Every row from now on must be chained. A trigger rather than a CHECK: the legacy rows above have no hash,
    // and a NOT VALID check would differ from the entities on every schema comparison.
    this.addSql(`create function hms_audit_require_chain() returns trigger language plpgsql as $$
      begin
        if new.prev_hash is null or new.hash is null or new.prev_hash !~ '^[0-9a-f]{64}$' or new.hash !~ '^[0-9a-f]{64}$' then
          raise exception 'audit rows must be chained (prev_hash and hash)' using errcode = '23514';
        end if;
        return new;
      end $$;`);
    this.addSql(
      `create trigger audit_events_require_chain before insert on "audit_events" for each row execute function hms_audit_require_chain();`,
    );

    this.addSql(
      `create table "audit_checkpoints" ("id" uuid not null, "at" timestamptz not null, "seq" bigint not null, "hash" text not null, "row_count" bigint not null, "signature" text not null, constraint "audit_checkpoints_pkey" primary key ("id"));`,
    );
    this.addSql(`create index "audit_checkpoints_seq_index" on "audit_checkpoints" ("seq");`);
    this.addSql(
      `create trigger audit_checkpoints_append_only before update or delete on "audit_checkpoints" for each row execute function hms_refuse_update();`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "audit_checkpoints" cascade;`);
    this.addSql(`drop trigger if exists audit_events_require_chain on "audit_events";`);
    this.addSql(`drop function if exists hms_audit_require_chain();`);
    this.addSql(`alter table "audit_events" drop constraint "audit_events_seq_unique";`);
    this.addSql(`alter table "audit_events" drop column "seq", drop column "prev_hash", drop column "hash";`);
  }
}
