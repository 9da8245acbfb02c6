import type { MigrationObject } from '@mikro-orm/core';

import { Migration20261203165937Initial } from './Migration20261203165937_initial';

/** Every migration in order; listed explicitly so the compiled server and the tests share them. */
export const migrationsList: MigrationObject[] = [
  { name: 'Migration20261203165937_initial', class: Migration20261203165937Initial },
];
