import { MikroORM } from '@mikro-orm/postgresql';

import type { Config } from '../config/config';
import { databasePassword } from '../config/secret-providers';
import type { Logger } from '../logging/logger';
import { startEmbeddedPostgres, type EmbeddedDatabase } from './embedded-postgres';
import { ormOptions } from './orm.config';

/** The open database: the ORM, and the embedded cluster when this process started one. */
export interface Database {
  orm: MikroORM;
  embedded?: EmbeddedDatabase;
  close(): Promise<void>;
}

/**
 * Connects to `DATABASE_URL`, or starts the embedded cluster when it is unset, then applies
 * pending migrations (all or nothing, in one transaction).
 */
export async function openDatabase(
  config: Config,
  logger: Logger,
  options: { migrate?: boolean } = {},
): Promise<Database> {
  let embedded: EmbeddedDatabase | undefined;
  let url = config.database.url;
  if (!url) {
    embedded = await startEmbeddedPostgres({
      dataDir: config.dataDir,
      password: config.database.embeddedPassword as string,
      database: 'hms',
      logger,
    });
    url = embedded.url;
    logger.info('using the embedded PostgreSQL under the data directory');
  }
  const orm = await MikroORM.init(
    ormOptions({ url, password: databasePassword(config), logger, logSql: config.database.logSql }),
  );
  if (options.migrate ?? true) await migrate(orm, logger);
  return {
    orm,
    embedded,
    async close() {
      await orm.close(true);
      await embedded?.stop();
    },
  };
}

/** Applies every pending migration and logs their names. */
export async function migrate(orm: MikroORM, logger: Logger): Promise<void> {
  const applied = await orm.getMigrator().up();
  if (applied.length > 0) logger.info({ migrations: applied.map((m) => m.name) }, 'applied migrations');
}

/** Readiness: the database answers and no migration is pending. */
export async function checkReadiness(orm: MikroORM): Promise<{ ready: boolean; reason?: string }> {
  try {
    await orm.em.getConnection().execute('SELECT 1');
    const pending = await orm.getMigrator().getPendingMigrations();
    return pending.length === 0 ? { ready: true } : { ready: false, reason: 'migrations pending' };
  } catch {
    return { ready: false, reason: 'database unreachable' };
  }
}
