import type { MigrationObject } from '@mikro-orm/core';

import { Migration20261203165937Initial } from './Migration20261203165937_initial';
import { Migration20261203173625Access } from './Migration20261203173625_access';
import { Migration20261203183946UniqueMrn } from './Migration20261203183946_unique_mrn';
import { Migration20261204170029SiemOutbox } from './Migration20261204170029_siem_outbox';
import { Migration20261204171000AuditChain } from './Migration20261204171000_audit_chain';
import { Migration20261204173000Billing } from './Migration20261204173000_billing';
import { Migration20261204174500Ueba } from './Migration20261204174500_ueba';
import { Migration20261204180000DataSubjectRequests } from './Migration20261204180000_data_subject_requests';
import { Migration20261204181500ErasureHolds } from './Migration20261204181500_erasure_holds';
import { Migration20261204190000CareTeamUserIndex } from './Migration20261204190000_care_team_user_index';

/** Every migration in order; listed explicitly so the compiled server and the tests share them. */
export const migrationsList: MigrationObject[] = [
  { name: 'Migration20261203165937_initial', class: Migration20261203165937Initial },
  { name: 'Migration20261203173625_access', class: Migration20261203173625Access },
  { name: 'Migration20261203183946_unique_mrn', class: Migration20261203183946UniqueMrn },
  { name: 'Migration20261204170029_siem_outbox', class: Migration20261204170029SiemOutbox },
  { name: 'Migration20261204171000_audit_chain', class: Migration20261204171000AuditChain },
  { name: 'Migration20261204173000_billing', class: Migration20261204173000Billing },
  { name: 'Migration20261204174500_ueba', class: Migration20261204174500Ueba },
  { name: 'Migration20261204180000_data_subject_requests', class: Migration20261204180000DataSubjectRequests },
  { name: 'Migration20261204181500_erasure_holds', class: Migration20261204181500ErasureHolds },
  { name: 'Migration20261204190000_care_team_user_index', class: Migration20261204190000CareTeamUserIndex },
];
