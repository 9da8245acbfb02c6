import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { createAccount, signIn } from '../support/accounts';
import { startTestApp, testEnv, type TestApp } from '../support/app';
import { rawQuery } from '../support/database';

const run = promisify(execFile);
const role = `hms_app_${randomBytes(4).toString('hex')}`;
const CREATE = `mutation Create($input: PatientInput!) { createPatient(input: $input) { id } }`;
const READ = `query Read($id: ID!) { patient(id: $id) { id lastName } }`;

let owner: TestApp;
let restricted: TestApp;
let roleUrl: string;

beforeAll(async () => {
  owner = await startTestApp();
  await rawQuery(owner.db.url, `CREATE ROLE ${role} LOGIN`);
  const env = {
    ...testEnv(owner.db.url),
    AUDIT_HMAC_KEY: owner.config.keys.auditHmacKey.toString('base64'),
    LOG_LEVEL: 'silent',
    PATH: process.env.PATH,
  };
  const script = join(__dirname, '..', '..', 'src', 'cli', 'main.ts');
  const register = join(__dirname, '..', 'setup', 'swc-register.js');
  const { stdout } = await run(process.execPath, ['-r', register, script, 'db:grant-app-role', role], { env });
  expect(stdout).toContain(`granted ${role}`);
  const url = new URL(owner.db.url);
  url.username = role;
  roleUrl = url.toString();
  restricted = await startTestApp({}, { databaseUrl: roleUrl });
});

afterAll(async () => {
  await restricted?.close();
  await owner?.close(); // drops the database, and with it the role's privileges there
  const admin = new URL(owner.db.url);
  admin.pathname = '/postgres';
  await rawQuery(admin.toString(), `DROP ROLE IF EXISTS ${role}`);
});

describe('the application database role (db:grant-app-role)', () => {
  it('runs the whole server: sign-in, registration and audited reads', async () => {
    const physician = (await signIn(restricted, await createAccount(restricted, 'PHYSICIAN'))).accessToken;
    const input = { firstName: 'Role', lastName: 'Restricted', dateOfBirth: '1990-02-03', sex: 'MALE' };
    const id = (await restricted.gql(CREATE, { input }, physician)).body.data!.createPatient.id as string;
    const read = await restricted.gql(READ, { id }, physician);
    expect(read.body.data?.patient).toEqual({ id, lastName: 'Restricted' });
    const rows = await rawQuery(
      roleUrl,
      "SELECT seq FROM audit_events WHERE patient_id = $1 AND action = 'patient.read'",
      [id],
    );
    expect(rows).toHaveLength(1);
    expect((await restricted.services.auditIntegrity.verify(restricted.services.orm.em.fork())).ok).toBe(true);
  });

  it('cannot change or remove audit rows, nor switch off the triggers that guard them', async () => {
    for (const statement of [
      "UPDATE audit_events SET action = 'x'",
      'DELETE FROM audit_events',
      'TRUNCATE audit_events',
      'DELETE FROM audit_checkpoints',
    ]) {
      await expect(rawQuery(roleUrl, statement)).rejects.toThrow(/permission denied/);
    }
    await expect(rawQuery(roleUrl, 'ALTER TABLE audit_events DISABLE TRIGGER USER')).rejects.toThrow(/must be owner/);
    await expect(rawQuery(roleUrl, 'DELETE FROM mikro_orm_migrations')).rejects.toThrow(/permission denied/);
  });
});
