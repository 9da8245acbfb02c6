import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';

import type { Role } from '../config/roles';
import { printAppSchema } from '../graphql/schema';
import { withServices, type Command } from './cli-context';
import { AUDIT_COMMANDS } from './audit.commands';
import { COMPLIANCE_COMMANDS } from './compliance.commands';
import { DB_COMMANDS } from './db.commands';
import { KEY_COMMANDS } from './keys.commands';
import { PRIVACY_COMMANDS } from './privacy.commands';
import { SIEM_COMMANDS } from './siem.commands';
import { UEBA_COMMANDS } from './ueba.commands';

export const COMMANDS: Record<string, Command> = {
  ...KEY_COMMANDS,
  ...AUDIT_COMMANDS,
  ...SIEM_COMMANDS,
  ...UEBA_COMMANDS,
  ...DB_COMMANDS,
  ...PRIVACY_COMMANDS,
  ...COMPLIANCE_COMMANDS,
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
  'user:create': {
    summary: 'create an account (--email, --role, --display-name, --patient-id); password on stdin or in env',
    async run({ args, out }) {
      const option = (name: string): string | undefined => {
        const at = args.indexOf(`--${name}`);
        return at === -1 ? undefined : args[at + 1];
      };
      if (args.some((a) => a.startsWith('--password'))) {
        out('refusing a password in the arguments (other processes can read them): use stdin or HMS_NEW_USER_PASSWORD');
        return 2;
      }
      const [email, role, displayName] = [option('email'), option('role'), option('display-name')];
      if (!email || !role || !displayName) {
        out('usage: user:create --email E --role ROLE --display-name N [--patient-id ID]');
        out('the password is read from HMS_NEW_USER_PASSWORD, else from the first line of stdin');
        return 2;
      }
      let password = process.env.HMS_NEW_USER_PASSWORD;
      if (password === undefined) {
        if (process.stdin.isTTY) {
          out('pipe the password on stdin or set HMS_NEW_USER_PASSWORD');
          return 2;
        }
        let input = '';
        for await (const chunk of process.stdin) input += String(chunk);
        password = input.split(/\r?\n/)[0];
      }
      const account = { email, password, role: role as Role, displayName, patientId: option('patient-id') ?? null };
      return withServices(async ({ auth, orm, logger }) => {
        const user = await auth.users.create(orm.em.fork(), account, logger, null);
        out(`created user ${user.id} with role ${user.role}`);
        return 0;
      });
    },
  },
};

function schemaFilePath(): string {
  return resolve(process.cwd(), 'schema', 'schema.graphql');
}
