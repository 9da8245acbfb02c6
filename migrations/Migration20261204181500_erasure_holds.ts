import { Migration } from '@mikro-orm/migrations';

/** Retention holds of erased patients: what a legal duty keeps, and until when (src/privacy/erasure.service.ts). */
export class Migration20261204181500ErasureHolds extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "erasure_holds" ("id" uuid not null, "patient_id" uuid not null, "request_id" uuid not null, "category" text not null, "until" timestamptz not null, "created_at" timestamptz not null, constraint "erasure_holds_pkey" primary key ("id"));`,
    );
    this.addSql(`create index "erasure_holds_until_index" on "erasure_holds" ("until");`);
    this.addSql(
      `alter table "erasure_holds" add constraint "erasure_holds_patient_id_category_unique" unique ("patient_id", "category");`,
    );
    this.addSql(
      `alter table "erasure_holds" add constraint "erasure_holds_patient_id_foreign" foreign key ("patient_id") references "patients" ("id") on update cascade on delete cascade;`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "erasure_holds" cascade;`);
  }
}
