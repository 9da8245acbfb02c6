import { defineConfig, type Options } from '@mikro-orm/postgresql';
import { Migrator } from '@mikro-orm/migrations';

import { migrationsList } from '../../migrations';
import type { Logger } from '../logging/logger';
import { ENTITIES } from './entities';

/**
 * MikroORM options for one database URL. Entities and migrations are listed explicitly so the
 * compiled server, the CLI and the tests load exactly the same set without file globs.
 */
export function ormOptions(options: {
  url: string;
  /** A function is asked for each new connection, so a rotated password (secret providers) needs no restart. */
  password?: string | (() => string | undefined);
  logger: Logger;
  logSql?: boolean;
}): Options {
  return defineConfig({
    clientUrl: options.url,
    ...passwordOption(options.password),
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

/**
 * MikroORM 6 passes a password function to knex as a connection provider: knex asks it again whenever the
 * `expirationChecker` says so, here once the password differs from the one the pool last connected with. Open
 * connections keep working (PostgreSQL checks a password only when connecting).
 */
function passwordOption(password: string | (() => string | undefined) | undefined): Pick<Options, 'password'> {
  if (!password) return {};
  if (typeof password === 'string') return { password };
  return {
    password: () => {
      const current = password() ?? '';
      return { password: current, expirationChecker: () => (password() ?? '') !== current };
    },
  };
}
