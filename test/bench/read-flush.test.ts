import { randomBytes } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';

import { Encounter } from '../../src/patients/encounter.entity';
import { Patient, Sex } from '../../src/patients/patient.entity';
import { phiFieldsOf } from '../../src/phi/phi.decorator';
import { startTestApp, type TestApp } from '../support/app';
import { createAccount, signIn, sql } from '../support/accounts';

const N = 25;
const tag = randomBytes(3).toString('hex');
const FIELDS =
  'id mrn firstName lastName dateOfBirth sex ssn email phone address { line1 city } insuranceMemberId createdAt';

/**
 * Issue 11's invariant, as a test rather than a benchmark: reading N patients with their encounters, on every
 * read path, and flushing the EntityManager issues zero encryptions and zero UPDATE statements. Encryptions are
 * the vault's own counter; UPDATE statements are counted by the database itself, with a statement-level trigger
 * on every table holding sealed PHI and on data_keys, so an UPDATE from any code path (ORM or raw SQL) counts.
 */
describe('reading patients and flushing', () => {
  let app: TestApp;
  let token: string;
  let ids: string[];

  const updates = async () =>
    Number((await sql<{ n: string }>(app, 'SELECT count(*) AS n FROM read_flush_updates'))[0].n);

  beforeAll(async () => {
    app = await startTestApp();
    const physician = await createAccount(app, 'PHYSICIAN');
    token = (await signIn(app, physician)).accessToken;
    const em = app.services.orm.em.fork();
    ids = [];
    for (let i = 0; i < N; i++) {
      const patient = await app.services.patients.create(
        em,
        {
          firstName: `Orla${tag}${i}`,
          lastName: `Fenwright${tag}`,
          dateOfBirth: '1972-03-04',
          sex: Sex.FEMALE,
          ssn: `321-54-${String(1000 + i)}`,
          email: `orla.${tag}.${i}@example.test`,
          phone: `+1415666${String(1000 + i)}`,
          address: { line1: `${i} Quillon Row`, city: 'Fictionville', postalCode: '94107', country: 'US' },
          insuranceMemberId: `INS-${tag}-${i}`,
        },
        physician.user.id,
      );
      ids.push(patient.id);
      for (let e = 0; e < 2; e++) {
        await app.services.patients.createEncounter(em, physician.user.id, {
          patientId: patient.id,
          reason: `Routine review ${e}`,
          notes: 'Fictional notes.',
          diagnosisCodes: ['Z00.00'],
        });
      }
    }
    await sql(app, 'CREATE TABLE read_flush_updates (tbl text NOT NULL)');
    await sql(
      app,
      `CREATE FUNCTION read_flush_count() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN INSERT INTO read_flush_updates VALUES (TG_TABLE_NAME); RETURN NULL; END $$`,
    );
    for (const table of ['patients', 'encounters', 'users', 'data_keys']) {
      await sql(
        app,
        `CREATE TRIGGER read_flush_${table} AFTER UPDATE ON ${table} FOR EACH STATEMENT EXECUTE FUNCTION read_flush_count()`,
      );
    }
  });

  afterAll(async () => {
    await app?.close();
  });

  /** Decrypts every marked field of the rows, as the field resolvers do. */
  async function openEvery(em: EntityManager, entity: string, rows: object[]): Promise<unknown[]> {
    const values: unknown[] = [];
    for (const row of rows) {
      for (const meta of phiFieldsOf(entity)) {
        values.push(await app.services.vault.open(em, row, meta.property, entity));
      }
    }
    return values;
  }

  it('decrypts every field of N patients and their encounters on each ORM read path, then flushes nothing', async () => {
    const em = app.services.orm.em.fork();
    const { vault, patients } = app.services;
    const sealsBefore = vault.stats.seals;
    const opensBefore = vault.stats.opens;
    const updatesBefore = await updates();

    const page = await patients.page(em, N, null, null);
    expect(page.nodes).toHaveLength(N);
    const opened = await openEvery(em, 'Patient', page.nodes);
    expect(opened).toContain(`Orla${tag}0`);
    const byPatient = await patients.encountersOf(
      em,
      page.nodes.map((p) => p.id),
    );
    await openEvery(em, 'Encounter', [...byPatient.values()].flat());
    // Managed entities too: `patient(id)` loads through findOne, exports through find.
    for (const id of ids.slice(0, 5)) await vault.openAll(em, await patients.get(em, id));
    const managed = await em.find(Patient, { id: { $in: ids } });
    const encounters = await em.find(Encounter, { patientId: { $in: ids } });
    expect(encounters).toHaveLength(2 * N);
    for (const entity of [...managed, ...encounters]) await vault.openAll(em, entity);
    expect(await patients.search(em, { ssn: '321-54-1003' })).toHaveLength(1);

    em.getUnitOfWork().computeChangeSets();
    expect(em.getUnitOfWork().getChangeSets()).toHaveLength(0);
    await em.flush();

    expect(vault.stats.opens - opensBefore).toBeGreaterThan(N * 10);
    expect(vault.stats.seals).toBe(sealsBefore);
    expect(await updates()).toBe(updatesBefore);
  });

  it('serves patients, patient(id) with encounters and findPatients over HTTP with no encryption and no UPDATE', async () => {
    const sealsBefore = app.services.vault.stats.seals;
    const updatesBefore = await updates();

    const list = await app.gql(
      `{ patients(first: ${N}) { nodes { ${FIELDS} encounters { reason notes } } } }`,
      {},
      token,
    );
    expect(list.body.errors).toBeUndefined();
    expect(list.body.data!.patients.nodes).toHaveLength(N);
    expect(list.body.data!.patients.nodes[0].encounters[0].notes).toBe('Fictional notes.');
    const one = await app.gql(
      `query($id: ID!) { patient(id: $id) { ${FIELDS} encounters { reason diagnosisCodes } } }`,
      { id: ids[3] },
      token,
    );
    expect(one.body.data!.patient.firstName).toBe(`Orla${tag}3`);
    const found = await app.gql(`{ findPatients(ssn: "321-54-1004") { ${FIELDS} } }`, {}, token);
    expect(found.body.data!.findPatients.map((p: { id: string }) => p.id)).toEqual([ids[4]]);

    expect(app.services.vault.stats.seals).toBe(sealsBefore);
    expect(await updates()).toBe(updatesBefore);
  });

  it('counts an actual change: one edited field is one encryption and one UPDATE (the counters can fail)', async () => {
    const em = app.services.orm.em.fork();
    const sealsBefore = app.services.vault.stats.seals;
    const updatesBefore = await updates();

    await app.services.patients.update(em, ids[0], { firstName: `Orlaith${tag}` });

    expect(app.services.vault.stats.seals).toBe(sealsBefore + 1);
    expect(await updates()).toBe(updatesBefore + 1);
  });
});
