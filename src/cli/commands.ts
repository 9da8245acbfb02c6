import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';

import { loadConfig } from '../config/config';
import { initCrypto } from '../crypto';
import { openDatabase } from '../db/database';
import { printAppSchema } from '../graphql/schema';
import { createLogger } from '../logging/logger';
import { createServices, type Services } from '../services';

/** What a command receives: its arguments and a line printer. */
export interface CommandContext {
  args: string[];
  out(line: string): void;
}

interface Command {
  summary: string;
  run(context: CommandContext): Promise<number>;
}


/** Opens config, crypto, database and services for a command, and always closes them. */
async function withServices<T>(fn: (services: Services) => Promise<T>, options: { migrate?: boolean } = {}): Promise<T> {
  const config = loadConfig();
  const logger = createLogger({ level: process.env.LOG_LEVEL ?? 'warn' });
  await initCrypto();
  const database = await openDatabase(config, logger, options);
  const services = createServices(config, database.orm, logger);
  try {
    return await fn(services);
  } finally {
    await services.close();
    await database.close();
  }
}

export const COMMANDS: Record<string, Command> = {
  'schema:emit': {
    summary: 'write schema/schema.graphql from the code (--check: fail when it differs)',
    async run({ args, out }) {
      const sdl = await printAppSchema();
      const file = schemaFilePath();
      if (args.includes('--check')) {
        const committed = readFileSync(file, 'utf8');
        if (committed !== sdl) {
          out('schema/schema.graphql is out of date: run `npm run schema` and commit it');
          return 1;
        }
        out('schema/schema.graphql matches the code');
        return 0;
      }
      writeFileSync(file, sdl);
      out(`wrote ${file}`);
      return 0;
    },
  },
  migrate: {
    summary: 'apply pending database migrations',
    async run({ out }) {
      await withServices(async () => undefined, { migrate: true });
      out('migrations applied');
      return 0;
    },
  },
  'migration:create': {
    summary: 'write a migration for the difference between the entities and the migrated database',
    async run({ out }) {
      return withServices(async ({ orm }) => {
        const result = await orm.getMigrator().createMigration(resolve(process.cwd(), 'migrations'), false, false);
        if (!result.fileName) {
          out('entities and database agree: no migration needed');
          return 0;
        }
        out(`wrote migrations/${result.fileName}; add it to migrations/index.ts`);
        return 0;
      });
    },
  },
};

function schemaFilePath(): string {
  return resolve(process.cwd(), 'schema', 'schema.graphql');
}
