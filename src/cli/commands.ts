import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';

import { printAppSchema } from '../graphql/schema';
import { withServices, type Command } from './cli-context';
import { KEY_COMMANDS } from './keys.commands';

export const COMMANDS: Record<string, Command> = {
  ...KEY_COMMANDS,
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
