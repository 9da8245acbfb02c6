import { Migration } from '@mikro-orm/migrations';

/**
 * Care-team lookups by staff member (issue 11): every list and search of a PHYSICIAN or NURSE is scoped by
 * `care_team_members.user_id`, and the only index led with `patient_id`, so each request scanned the whole table
 * (22 ms at 100,000 members, measured by `npm run bench`).
 */
export class Migration20261204190000CareTeamUserIndex extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create index "care_team_members_user_id_patient_id_index" on "care_team_members" ("user_id", "patient_id");`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`drop index if exists "care_team_members_user_id_patient_id_index";`);
  }
}
