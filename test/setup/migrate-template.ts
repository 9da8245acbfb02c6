import 'reflect-metadata';
import { MikroORM } from '@mikro-orm/postgresql';

import { ormOptions } from '../../src/db/orm.config';
import { createLogger } from '../../src/logging/logger';

/** Applies every migration to the database URL given as the first argument (run as a child process). */
async function main(url: string): Promise<void> {
  const orm = await MikroORM.init(ormOptions({ url, logger: createLogger({ level: 'silent' }) }));
  try {
    await orm.getMigrator().up();
  } finally {
    await orm.close(true);
  }
}

main(process.argv[2]).catch((error: unknown) => {
  process.stderr.write(`template migration failed: ${error instanceof Error ? error.message : 'unknown error'}\n`);
  process.exit(1);
});
