import type { MigrationObject } from '@mikro-orm/core';

import { Migration20261203165937Initial } from './Migration20261203165937_initial';
import { Migration20261203173625Access } from './Migration20261203173625_access';

/** Every migration in order; listed explicitly so the compiled server and the tests share them. */
export const migrationsList: MigrationObject[] = [
  { name: 'Migration20261203165937_initial', class: Migration20261203165937Initial },
  { name: 'Migration20261203173625_access', class: Migration20261203173625Access },
];
