import type { MigrationObject } from '@mikro-orm/core';

import { Migration20261203165937Initial } from './Migration20261203165937_initial';
import { Migration20261203173625Access } from './Migration20261203173625_access';
import { Migration20261203183946UniqueMrn } from './Migration20261203183946_unique_mrn';

/** Every migration in order; listed explicitly so the compiled server and the tests share them. */
export const migrationsList: MigrationObject[] = [
  { name: 'Migration20261203165937_initial', class: Migration20261203165937Initial },
  { name: 'Migration20261203173625_access', class: Migration20261203173625Access },
  { name: 'Migration20261203183946_unique_mrn', class: Migration20261203183946UniqueMrn },
];
