import { Migration } from '@mikro-orm/migrations';

export class Migration20261204173000Billing extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "invoices" ("id" uuid not null, "patient_id" uuid not null, "currency" text not null, "status" text check ("status" in ('OPEN', 'PARTIALLY_PAID', 'PAID')) not null, "total_minor" int not null, "paid_minor" int not null default 0, "created_by" uuid not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, constraint "invoices_pkey" primary key ("id"), constraint invoices_currency_check check (currency ~ '^[A-Z]{3}$'), constraint invoices_amounts_check check (total_minor > 0 AND paid_minor >= 0 AND paid_minor <= total_minor));`,
    );
    this.addSql(`create index "invoices_patient_id_created_at_index" on "invoices" ("patient_id", "created_at");`);

    this.addSql(
      `create table "invoice_lines" ("id" uuid not null, "invoice_id" uuid not null, "position" int not null, "description" text not null, "amount_minor" int not null, constraint "invoice_lines_pkey" primary key ("id"), constraint invoice_lines_amount_check check (amount_minor > 0), constraint invoice_lines_description_check check (description !~ '[0-9]{13}'));`,
    );
    this.addSql(
      `alter table "invoice_lines" add constraint "invoice_lines_invoice_id_position_unique" unique ("invoice_id", "position");`,
    );

    this.addSql(
      `create table "payments" ("id" uuid not null, "invoice_id" uuid not null, "patient_id" uuid not null, "amount_minor" int not null, "currency" text not null, "status" text check ("status" in ('SUCCEEDED', 'DECLINED', 'FAILED', 'REFUNDED')) not null, "processor" text not null, "processor_token" text not null, "processor_reference" text null, "card_brand" text null, "card_last4" text null, "card_exp_month" smallint null, "card_exp_year" smallint null, "decline_code" text null, "created_by" uuid not null, "created_at" timestamptz not null, "refunded_at" timestamptz null, "refunded_by" uuid null, "refund_reference" text null, constraint "payments_pkey" primary key ("id"), constraint payments_amount_check check (amount_minor > 0), constraint payments_card_last4_check check (card_last4 ~ '^[0-9]{4}$'), constraint payments_card_exp_month_check check (card_exp_month >= 1 AND card_exp_month <= 12), constraint payments_processor_token_check check (processor_token !~ '[0-9]{13}'), constraint payments_processor_reference_check check (processor_reference !~ '[0-9]{13}'));`,
    );
    this.addSql(`create index "payments_invoice_id_created_at_index" on "payments" ("invoice_id", "created_at");`);

    this.addSql(
      `create table "payment_events" ("id" uuid not null, "payment_id" uuid not null, "from_status" text null, "to_status" text not null, "actor_id" uuid not null, "at" timestamptz not null, constraint "payment_events_pkey" primary key ("id"));`,
    );
    this.addSql(`create index "payment_events_payment_id_at_index" on "payment_events" ("payment_id", "at");`);

    this.addSql(
      `create table "idempotency_keys" ("id" uuid not null, "user_id" uuid not null, "operation" text not null, "key" text not null, "fingerprint" text not null, "result" jsonb null, "created_at" timestamptz not null, "expires_at" timestamptz not null, constraint "idempotency_keys_pkey" primary key ("id"), constraint idempotency_keys_key_check check (key !~ '[0-9]{13}'), constraint idempotency_keys_kept_check check (expires_at >= (created_at + '24:00:00'::interval)));`,
    );
    this.addSql(`create index "idempotency_keys_expires_at_index" on "idempotency_keys" ("expires_at");`);
    this.addSql(
      `alter table "idempotency_keys" add constraint "idempotency_keys_user_id_operation_key_unique" unique ("user_id", "operation", "key");`,
    );

    this.addSql(
      `alter table "invoices" add constraint "invoices_patient_id_foreign" foreign key ("patient_id") references "patients" ("id") on update cascade on delete cascade;`,
    );
    this.addSql(
      `alter table "invoice_lines" add constraint "invoice_lines_invoice_id_foreign" foreign key ("invoice_id") references "invoices" ("id") on update cascade on delete cascade;`,
    );
    this.addSql(
      `alter table "payments" add constraint "payments_invoice_id_foreign" foreign key ("invoice_id") references "invoices" ("id") on update cascade on delete cascade;`,
    );
    this.addSql(
      `alter table "payment_events" add constraint "payment_events_payment_id_foreign" foreign key ("payment_id") references "payments" ("id") on update cascade on delete cascade;`,
    );
    this.addSql(
      `alter table "idempotency_keys" add constraint "idempotency_keys_user_id_foreign" foreign key ("user_id") references "users" ("id") on update cascade on delete cascade;`,
    );

    // Status transitions are the payment's history: rows are only added (hms_refuse_update is from the access migration).
    this.addSql(
      `create trigger payment_events_append_only before update on "payment_events" for each row execute function hms_refuse_update();`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "payment_events" cascade;`);
    this.addSql(`drop table if exists "payments" cascade;`);
    this.addSql(`drop table if exists "invoice_lines" cascade;`);
    this.addSql(`drop table if exists "invoices" cascade;`);
    this.addSql(`drop table if exists "idempotency_keys" cascade;`);
  }
}
