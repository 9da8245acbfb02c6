import { withServices, type Command } from './cli-context';

/** Tables whose rows are evidence: the application may add rows and read them, never change or remove them. */
const APPEND_ONLY_TABLES = ['audit_events', 'audit_checkpoints'];

const ROLE_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export const DB_COMMANDS: Record<string, Command> = {
  'db:grant-app-role': {
    summary:
      'give an existing database role what the server needs, and no UPDATE, DELETE or TRUNCATE on the audit tables (run as the owner, after migrate)',
    async run({ args, out }) {
      const role = args[0];
      if (!role || !ROLE_NAME.test(role)) {
        out('usage: db:grant-app-role <role>   (a lower-case PostgreSQL role name that already exists)');
        return 2;
      }
      await withServices(
        async ({ orm }) => {
          // The role name is checked against ROLE_NAME above; identifiers cannot be bound parameters.
          const statements = [
            `GRANT USAGE ON SCHEMA public TO ${role}`,
            `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${role}`,
            `GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO ${role}`,
            `REVOKE UPDATE, DELETE, TRUNCATE ON ${APPEND_ONLY_TABLES.join(', ')} FROM ${role}`,
            // The migrations table is the owner's: the restricted server runs with MIGRATE_ON_START=false.
            `REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON mikro_orm_migrations FROM ${role}`,
          ];
          await orm.em.fork().transactional(async (em) => {
            for (const statement of statements) await em.execute(statement);
          });
        },
        { migrate: true },
      );
      out(`granted ${role} the server's privileges; ${APPEND_ONLY_TABLES.join(' and ')} are append-only for it`);
      out('start the server as this role with MIGRATE_ON_START=false; run `npm run migrate` as the owner');
      return 0;
    },
  },
};
