import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';

import { Patient, Sex } from '../../src/patients/patient.entity';
import { createServices } from '../../src/services';
import { loadConfig } from '../../src/config/config';
import { startTestApp, testEnv, type TestApp } from '../support/app';
import { rawQuery } from '../support/database';

const run = randomUUID().slice(0, 8);
const ada = {
  firstName: `Adaline${run}`,
  lastName: `Quorrister${run}`,
  dateOfBirth: '1961-04-12',
  sex: Sex.FEMALE,
  ssn: '123-45-6789',
  email: `adaline.${run}@example.test`,
  phone: '+14155550123',
  address: { line1: `12 Wintermoor Lane ${run}`, city: 'Fictionville', postalCode: '94107', country: 'US' },
  insuranceMemberId: `INS-${run}-77`,
};
const bo = {
  ...ada,
  firstName: `Borislav${run}`,
  lastName: `Nettlecombe${run}`,
  ssn: '234-56-7890',
  email: `bo.${run}@example.test`,
  phone: '+14155550999',
};
const encounterText = {
  reason: `Persistent cough ${run}`,
  notes: `Smoker, 20 pack-years ${run}`,
  diagnosisCodes: ['J41.0', 'F17.210'],
};

describe('PHI at rest', () => {
  let app: TestApp;
  let em: EntityManager;
  let adaId: string;
  let boId: string;

  beforeAll(async () => {
    app = await startTestApp();
    em = app.services.orm.em.fork();
    const a = await app.services.patients.create(em, { ...ada, mrn: `A-${run}` });
    const b = await app.services.patients.create(em, { ...bo, mrn: `B-${run}` });
    adaId = a.id;
    boId = b.id;
    const clinician = randomUUID();
    await em.getConnection().execute(
      `INSERT INTO users (id, email, password_hash, role, display_name, password_changed_at, created_at, updated_at)
       VALUES (?, ?, 'x', 'PHYSICIAN', 'Dr Test', now(), now(), now())`,
      [clinician, 'phi1.00000000-0000-0000-0000-000000000000.' + 'A'.repeat(56)],
    );
    await app.services.patients.createEncounter(em, clinician, { patientId: adaId, ...encounterText });
  });

  afterAll(async () => {
    await app?.close();
  });

  const plaintexts = () => [
    ada.firstName,
    ada.lastName,
    ada.email,
    ada.address.line1,
    ada.insuranceMemberId,
    '123-45-6789',
    '123456789',
    '4155550123',
    bo.firstName,
    bo.lastName,
    encounterText.reason,
    encounterText.notes,
    'J41.0',
    'F17.210',
    '1961-04-12',
    `A-${run}`,
  ];

  it('stores no PHI value in plaintext in any column of any table', async () => {
    const tables = await rawQuery<{ table_name: string }>(
      app.db.url,
      "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
    );
    for (const { table_name } of tables) {
      const rows = await rawQuery(app.db.url, `SELECT * FROM "${table_name}"`);
      const dump = JSON.stringify(rows);
      for (const value of plaintexts()) expect(dump).not.toContain(value);
    }
  });

  it('leaves no PHI value in a pg_dump of the database', () => {
    const dump = execFileSync('pg_dump', ['--no-owner', '--data-only', app.db.url], {
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    });
    expect(dump).toContain('phi1.');
    for (const value of plaintexts()) expect(dump).not.toContain(value);
  });

  it('refuses plaintext in a PHI column at the database itself', async () => {
    await expect(
      rawQuery(app.db.url, 'UPDATE patients SET first_name = $1 WHERE id = $2', ['Plaintext', adaId]),
    ).rejects.toThrow(/patient_first_name_envelope_check/);
  });

  it('decrypts what it stored, under the right key', async () => {
    const fresh = app.services.orm.em.fork();
    const patient = await fresh.findOneOrFail(Patient, adaId);
    expect(await app.services.vault.openAll(fresh, patient)).toMatchObject({ ...ada, dateOfBirth: '1961-04-12' });
  });

  it('issues no encryption and no UPDATE when patients are loaded and flushed unchanged', async () => {
    const fresh = app.services.orm.em.fork();
    const sealsBefore = app.services.vault.stats.seals;
    const loaded = await fresh.find(Patient, {});
    expect(loaded.length).toBeGreaterThanOrEqual(2);
    await app.services.vault.open(fresh, loaded[0], 'ssn');
    fresh.getUnitOfWork().computeChangeSets();
    expect(fresh.getUnitOfWork().getChangeSets()).toHaveLength(0);
    const updated = await rawQuery<{ updated_at: Date }>(app.db.url, 'SELECT updated_at FROM patients WHERE id = $1', [
      adaId,
    ]);
    await fresh.flush();
    const after = await rawQuery<{ updated_at: Date }>(app.db.url, 'SELECT updated_at FROM patients WHERE id = $1', [
      adaId,
    ]);
    expect(after[0].updated_at).toEqual(updated[0].updated_at);
    expect(app.services.vault.stats.seals).toBe(sealsBefore);
  });

  it('finds patients by each searchable field, normalising case, spaces and dashes', async () => {
    const search = (criteria: Record<string, string>) =>
      app.services.patients.search(app.services.orm.em.fork(), criteria);
    expect((await search({ ssn: '123 45 6789'.replace(/ /g, '') })).map((p) => p.id)).toEqual([adaId]);
    expect((await search({ ssn: '123456789' })).map((p) => p.id)).toEqual([adaId]);
    expect((await search({ email: `  ADALINE.${run}@Example.TEST ` })).map((p) => p.id)).toEqual([adaId]);
    expect((await search({ mrn: `b-${run}` })).map((p) => p.id)).toEqual([boId]);
    expect(
      (await search({ lastName: `  quorrister${run.toUpperCase()} `.toLowerCase(), dateOfBirth: '1961-04-12' })).map(
        (p) => p.id,
      ),
    ).toEqual([adaId]);
    expect(await search({ ssn: '345-67-8901' })).toEqual([]);
  });

  it('refuses to decrypt a ciphertext moved to another row or column, or tampered with', async () => {
    const [row] = await rawQuery<{ first_name: string; last_name: string }>(
      app.db.url,
      'SELECT first_name, last_name FROM patients WHERE id = $1',
      [adaId],
    );
    const fresh = app.services.orm.em.fork();
    const bob = await fresh.findOneOrFail(Patient, boId);
    bob.firstName = row.first_name as never;
    await expect(app.services.vault.open(fresh, bob, 'firstName')).rejects.toMatchObject({
      code: expect.stringMatching(/DECRYPT_FAILED|KEY_MISMATCH/),
    });
    const adaRow = await fresh.findOneOrFail(Patient, adaId);
    adaRow.lastName = row.first_name as never;
    await expect(app.services.vault.open(fresh, adaRow, 'lastName')).rejects.toMatchObject({ code: 'DECRYPT_FAILED' });
    const body = row.first_name;
    const flipped = body.slice(0, -6) + (body.at(-6) === 'A' ? 'B' : 'A') + body.slice(-5);
    adaRow.firstName = flipped as never;
    await expect(app.services.vault.open(fresh, adaRow, 'firstName')).rejects.toMatchObject({
      code: expect.stringMatching(/DECRYPT_FAILED|BAD_ENVELOPE/),
    });
  });

  it('fails loudly under a wrong master key instead of returning garbage', async () => {
    const config = loadConfig(testEnv(app.db.url));
    const other = createServices(config, app.services.orm, app.logger);
    const fresh = app.services.orm.em.fork();
    const patient = await fresh.findOneOrFail(Patient, adaId);
    await expect(other.vault.open(fresh, patient, 'firstName')).rejects.toMatchObject({ code: 'DECRYPT_FAILED' });
  });

  it('makes a shredded patient unreadable while every other patient still decrypts', async () => {
    const fresh = app.services.orm.em.fork();
    expect(await app.services.dataKeys.shred(fresh, boId)).toBe(1);
    const bob = await fresh.findOneOrFail(Patient, boId);
    await expect(app.services.vault.open(fresh, bob, 'lastName')).rejects.toMatchObject({ code: 'KEY_DESTROYED' });
    const adaRow = await fresh.findOneOrFail(Patient, adaId);
    expect(await app.services.vault.open(fresh, adaRow, 'lastName')).toBe(ada.lastName);
    const keys = await rawQuery<{ wrapped: Buffer | null }>(
      app.db.url,
      'SELECT wrapped FROM data_keys WHERE subject_id = $1',
      [boId],
    );
    expect(keys.every((k) => k.wrapped === null)).toBe(true);
  });
});
