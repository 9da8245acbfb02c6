import { defineConfig, type Options } from '@mikro-orm/postgresql';
import { Migrator } from '@mikro-orm/migrations';

import { migrationsList } from '../../migrations';
import type { Logger } from '../logging/logger';
import { ENTITIES } from './entities';

/**
 * MikroORM options for one database URL. Entities and migrations are listed explicitly so the
 * compiled server, the CLI and the tests load exactly the same set without file globs.
 */
export function ormOptions(options: { url: string; password?: string; logger: Logger; logSql?: boolean }): Options {
  return defineConfig({
    clientUrl: options.url,
    ...(options.password ? { password: options.password } : {}),
    entities: ENTITIES,
    extensions: [Migrator],
    forceUtcTimezone: true,
    discovery: { warnWhenNoEntities: true },
    // Query logging prints parameters; outside local development it stays off (config enforces it).
    debug: options.logSql ? ['query'] : false,
    logger: (message) => options.logger.debug({ component: 'orm' }, message),
    colors: false,
    pool: { min: 0, max: 10 },
    migrations: {
      migrationsList,
      tableName: 'mikro_orm_migrations',
      transactional: true,
      allOrNothing: true,
      snapshot: false,
      emit: 'ts',
      path: 'migrations',
      pathTs: 'migrations',
    },
  });
}
