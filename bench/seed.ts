import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { MikroORM } from '@mikro-orm/postgresql';
import { Client } from 'pg';

import { User } from '../src/auth/user.entity';
import type { Role } from '../src/config/roles';
import type { Config } from '../src/config/config';
import { ormOptions } from '../src/db/orm.config';
import type { Logger } from '../src/logging/logger';
import { Encounter } from '../src/patients/encounter.entity';
import { Patient, Sex } from '../src/patients/patient.entity';
import { patientValues } from '../src/patients/patient.service';
import { createServices } from '../src/services';

/** What the benchmark seeds, and what the load generator needs to address it. */
export interface SeedSize {
  patients: number;
  encountersPerPatient: number;
  physicians: number;
  /** Patients on each physician's care team. */
  careTeamSize: number;
  /** Accounts used only to sign in (scenarios 5 and 7). */
  loginAccounts: number;
}

/** The seeded actors and rows the scenarios address (ids and fictional identifiers only). */
export interface SeedData {
  physicians: { id: string; email: string }[];
  loginEmails: string[];
  /** Patients on the first physician's care team, with their (fictional) SSNs. */
  team: { id: string; ssn: string }[];
  patients: number;
  encounters: number;
}

const FIRST = [
  'Avery',
  'Briony',
  'Caspian',
  'Delphine',
  'Ezra',
  'Fennimore',
  'Gwendolyn',
  'Horatio',
  'Isolde',
  'Jasper',
];
const LAST = [
  'Quillfeather',
  'Marrowby',
  'Thistlewood',
  'Pennyworth',
  'Ashcombe',
  'Larkspur',
  'Holloway',
  'Brackenridge',
];
const REASONS = ['Follow-up of hypertension', 'Persistent cough', 'Annual check-up', 'Sprained ankle', 'Headache'];
const CODES = [['I10'], ['J41.0', 'R05'], ['Z00.00'], ['S93.401A'], ['R51.9', 'G44.209']];
const SEXES = [Sex.FEMALE, Sex.MALE, Sex.OTHER, Sex.UNKNOWN];
const BATCH = 500;

/** A valid, obviously fictional SSN for patient `i` (area 100-665, group 42). */
export function benchSsn(i: number): string {
  const area = 100 + Math.floor(i / 9999);
  const serial = (i % 9999) + 1;
  return `${area}-42-${String(serial).padStart(4, '0')}`;
}

function patientInput(i: number) {
  return {
    mrn: `BENCH-${String(i).padStart(7, '0')}`,
    firstName: `${FIRST[i % FIRST.length]}${i}`,
    lastName: LAST[i % LAST.length],
    dateOfBirth: `${1930 + (i % 80)}-${String((i % 12) + 1).padStart(2, '0')}-${String((i % 28) + 1).padStart(2, '0')}`,
    sex: SEXES[i % SEXES.length],
    ssn: benchSsn(i),
    email: `bench.patient.${i}@example.test`,
    phone: `+1415${String(5_000_000 + i).padStart(7, '0')}`,
    address: { line1: `${i} Benchmark Lane`, city: 'Fictionville', postalCode: '94107', country: 'US' },
    insuranceMemberId: `INS-BENCH-${i}`,
  };
}

/**
 * Seeds the benchmark database through the product's own vault (so every PHI column holds real ciphertext under
 * each patient's own data key, with blind indexes), then writes plaintext copies of the same rows into
 * `bench_plain_*` tables for baseline B0. Accounts go through the user service (argon2id with the configured
 * parameters). Patients and encounters are inserted in batches of entities built by `vault.assign`, not one
 * `patients.create` per row, which would take minutes for 50,000 encounters; the stored rows are the same.
 */
export async function seed(config: Config, url: string, size: SeedSize, password: string, logger: Logger) {
  const orm = await MikroORM.init(ormOptions({ url, password: config.database.password, logger }));
  const services = createServices(config, orm, logger);
  try {
    await orm.getMigrator().up();
    const em = orm.em.fork();
    const account = async (role: Role, tag: string) => {
      const email = `bench.${tag}@example.test`;
      const user = await services.auth.users.create(
        em,
        { email, password, role, displayName: `Bench ${tag}`, patientId: null },
        logger,
        null,
      );
      return { id: user.id, email };
    };
    const physicians: SeedData['physicians'] = [];
    for (let k = 0; k < size.physicians; k++) physicians.push(await account('PHYSICIAN', `physician.${k}`));
    const staff: Role[] = ['NURSE', 'ADMIN', 'RECEPTIONIST', 'BILLING', 'AUDITOR', 'PRIVACY_OFFICER', 'INTEGRATOR'];
    for (const role of staff) await account(role, role.toLowerCase().replace('_', '-'));
    const loginEmails: string[] = [];
    for (let k = 0; k < size.loginAccounts; k++) loginEmails.push((await account('NURSE', `login.${k}`)).email);

    const ids: string[] = [];
    const base = Date.now() - size.patients * 1000;
    for (let start = 0; start < size.patients; start += BATCH) {
      const batch = em.fork();
      for (let i = start; i < Math.min(size.patients, start + BATCH); i++) {
        const patient = new Patient();
        patient.id = randomUUID();
        patient.createdAt = new Date(base + i * 1000);
        patient.updatedAt = patient.createdAt;
        await services.vault.assign(batch, patient, patientValues(patientInput(i)));
        batch.persist(patient);
        ids.push(patient.id);
        for (let e = 0; e < size.encountersPerPatient; e++) {
          const encounter = new Encounter();
          encounter.id = randomUUID();
          encounter.patientId = patient.id;
          encounter.clinicianId = physicians[i % physicians.length].id;
          encounter.startedAt = new Date(base + i * 1000 + e * 60_000);
          encounter.createdAt = encounter.startedAt;
          // Sensitivity labels are left out: the baselines apply no consent filter, so output sizes stay equal.
          await services.vault.assign(batch, encounter, {
            reason: REASONS[(i + e) % REASONS.length],
            notes: `Seen in clinic ${e}; advised rest and fluids.`,
            diagnosisCodes: CODES[(i + e) % CODES.length],
            sensitivity: null,
          });
          batch.persist(encounter);
        }
      }
      await batch.flush();
      logger.info({ patients: Math.min(size.patients, start + BATCH) }, 'seeded patients');
    }

    // Care teams: physician k treats a window of consecutive patients (the first physician's window is `team`).
    const teamSize = Math.min(size.careTeamSize, size.patients);
    const links: [string, string][] = [];
    physicians.forEach((p, k) => {
      for (let j = 0; j < teamSize; j++) links.push([ids[(k * 97 + j) % ids.length], p.id]);
    });
    const conn = em.getConnection();
    for (let start = 0; start < links.length; start += 10_000) {
      const chunk = links.slice(start, start + 10_000);
      await conn.execute(
        `INSERT INTO care_team_members (id, patient_id, user_id, added_by, created_at)
         SELECT gen_random_uuid(), l.patient_id, l.user_id, l.user_id, now()
         FROM unnest(ARRAY[?]::uuid[], ARRAY[?]::uuid[]) AS l(patient_id, user_id)`,
        [chunk.map((l) => l[0]), chunk.map((l) => l[1])],
      );
    }
    await plainCopies(services, orm, size.patients);
    const team = ids.slice(0, teamSize).map((id, j) => ({ id, ssn: benchSsn(j) }));
    const data: SeedData = {
      physicians,
      loginEmails,
      team,
      patients: size.patients,
      encounters: size.patients * size.encountersPerPatient,
    };
    // `--keep` runs read this back instead of seeding again (ids and fictional identifiers; no secret).
    await conn.execute('CREATE TABLE bench_meta (seed jsonb NOT NULL)');
    await conn.execute('INSERT INTO bench_meta (seed) VALUES (?::jsonb)', [JSON.stringify(data)]);
    await conn.execute('ANALYZE');
    return data;
  } finally {
    await services.close();
    await orm.close(true);
  }
}

/** The seed facts a previous `--keep` run stored in its database. */
export async function seededData(url: string, password?: string): Promise<SeedData> {
  const client = new Client({ connectionString: url, ...(password ? { password } : {}) });
  await client.connect();
  try {
    return (await client.query<{ seed: SeedData }>('SELECT seed FROM bench_meta')).rows[0].seed;
  } finally {
    await client.end();
  }
}

/**
 * Plaintext copies for B0 (no encryption at all): the same ids, values and order, in tables of their own that
 * no product code reads. This is the bench database only; it is dropped with it.
 */
async function plainCopies(services: ReturnType<typeof createServices>, orm: MikroORM, patients: number) {
  const conn = orm.em.getConnection();
  await conn.execute(`
    CREATE TABLE bench_plain_patients (
      id uuid PRIMARY KEY, mrn text, first_name text, last_name text, date_of_birth text, sex text, ssn text,
      email text, phone text, address jsonb, insurance_member_id text, created_at timestamptz, updated_at timestamptz);
    CREATE INDEX ON bench_plain_patients (created_at, id);
    CREATE INDEX ON bench_plain_patients (ssn);
    CREATE TABLE bench_plain_encounters (
      id uuid PRIMARY KEY, patient_id uuid, clinician_id uuid, started_at timestamptz, reason text, notes text,
      diagnosis_codes jsonb, sensitivity text, created_at timestamptz);
    CREATE INDEX ON bench_plain_encounters (patient_id, started_at);
    CREATE TABLE bench_plain_users (email text PRIMARY KEY, password_hash text);`);
  const em = orm.em.fork();
  const text = (v: unknown) => (v === null || v === undefined ? null : String(v));
  for (let offset = 0; offset < patients; offset += BATCH) {
    const rows = await em
      .createQueryBuilder(Patient, 'p')
      .select('*')
      .orderBy({ createdAt: 'asc', id: 'asc' })
      .limit(BATCH)
      .offset(offset)
      .getResultList();
    const values = await Promise.all(rows.map((p) => services.vault.openAll(em, p)));
    await conn.execute(
      `INSERT INTO bench_plain_patients SELECT * FROM json_populate_recordset(null::bench_plain_patients, ?::json)`,
      [
        JSON.stringify(
          rows.map((p, i) => ({
            id: p.id,
            mrn: text(values[i].mrn),
            first_name: text(values[i].firstName),
            last_name: text(values[i].lastName),
            date_of_birth: text(values[i].dateOfBirth),
            sex: text(values[i].sex),
            ssn: text(values[i].ssn),
            email: text(values[i].email),
            phone: text(values[i].phone),
            address: values[i].address ?? null,
            insurance_member_id: text(values[i].insuranceMemberId),
            created_at: p.createdAt,
            updated_at: p.updatedAt,
          })),
        ),
      ],
    );
    const encounters = await em.find(Encounter, { patientId: { $in: rows.map((p) => p.id) } });
    const opened = await Promise.all(encounters.map((e) => services.vault.openAll(em, e)));
    await conn.execute(
      `INSERT INTO bench_plain_encounters SELECT * FROM json_populate_recordset(null::bench_plain_encounters, ?::json)`,
      [
        JSON.stringify(
          encounters.map((e, i) => ({
            id: e.id,
            patient_id: e.patientId,
            clinician_id: e.clinicianId,
            started_at: e.startedAt,
            reason: text(opened[i].reason),
            notes: text(opened[i].notes),
            diagnosis_codes: opened[i].diagnosisCodes,
            sensitivity: text(opened[i].sensitivity),
            created_at: e.createdAt,
          })),
        ),
      ],
    );
    em.clear();
  }
  // Login baseline: the same argon2id hashes, looked up by plaintext email.
  const users: { id: string; password_hash: string }[] = await conn.execute('SELECT id, password_hash FROM users');
  for (const u of users) {
    const user = await em.findOneOrFail(User, u.id);
    const email = await services.vault.open(em, user, 'email');
    await conn.execute('INSERT INTO bench_plain_users (email, password_hash) VALUES (?, ?)', [email, u.password_hash]);
  }
}
