import { Migration } from '@mikro-orm/migrations';

export class Migration20261203183946UniqueMrn extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "patients" add constraint "patients_mrn_bidx_unique" unique ("mrn_bidx");`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "patients" drop constraint "patients_mrn_bidx_unique";`);
  }
}
