import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MikroORM } from '@mikro-orm/postgresql';
import { Client } from 'pg';

import { migrationsList } from '../../migrations';
import { ormOptions } from '../../src/db/orm.config';
import { printAppSchema } from '../../src/graphql/schema';
import { createLogger } from '../../src/logging/logger';
import { withDatabase } from '../setup/global-setup';

const ROOT = join(__dirname, '..', '..');

describe('GraphQL schema', () => {
  it('matches the committed schema/schema.graphql (run `npm run schema` and commit it when this fails)', async () => {
    const committed = readFileSync(join(ROOT, 'schema', 'schema.graphql'), 'utf8');
    expect(committed).toBe(await printAppSchema());
  });
});

describe('migrations', () => {
  it('lists every migration file in migrations/index.ts, in file-name order', () => {
    const files = readdirSync(join(ROOT, 'migrations'))
      .filter((file) => /^Migration\d{14}_.+\.ts$/.test(file))
      .map((file) => file.replace(/\.ts$/, ''))
      .sort();
    expect(migrationsList.map((migration) => migration.name)).toEqual(files);
  });

  it('bring an empty database exactly to the entities: no schema difference is left', async () => {
    const adminUrl = process.env.HMS_TEST_ADMIN_URL as string;
    const name = `hms_drift_${process.env.HMS_TEST_RUN_ID}_${randomBytes(3).toString('hex')}`;
    const admin = new Client({ connectionString: adminUrl });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    const orm = await MikroORM.init(
      ormOptions({ url: withDatabase(adminUrl, name), logger: createLogger({ level: 'silent' }) }),
    );
    try {
      const applied = await orm.getMigrator().up();
      expect(applied.map((migration) => migration.name)).toEqual(migrationsList.map((migration) => migration.name));

      const diff = await orm.schema.getUpdateSchemaSQL({ wrap: false });

      // A non-empty diff means an entity changed without a migration: run `npm run migration:create`.
      expect(diff.trim()).toBe('');
    } finally {
      await orm.close(true);
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    }
  });
});
