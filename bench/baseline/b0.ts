import { randomBytes, randomUUID } from 'node:crypto';
import * as argon2 from 'argon2';

import { decodeCursor, pageOf, pool, serveBaseline } from './common';

/**
 * Baseline B0: bare Apollo Server reading the plaintext copies of the seeded rows (`bench_plain_*`). No
 * authentication, authorization, encryption, rate limits or audit: what the API would cost with no protection.
 */
const db = pool();

type Row = Record<string, unknown> & { id: string; created_at: Date };

const patientFields = {
  firstName: (r: Row) => r.first_name,
  lastName: (r: Row) => r.last_name,
  dateOfBirth: (r: Row) => r.date_of_birth,
  insuranceMemberId: (r: Row) => r.insurance_member_id,
  createdAt: (r: Row) => r.created_at,
  updatedAt: (r: Row) => r.updated_at,
  encounters: async (r: Row) =>
    (await db.query('SELECT * FROM bench_plain_encounters WHERE patient_id = $1 ORDER BY started_at DESC, id', [r.id]))
      .rows,
};

const encounterFields = {
  clinicianId: (r: Row) => r.clinician_id,
  startedAt: (r: Row) => r.started_at,
  diagnosisCodes: (r: Row) => r.diagnosis_codes,
  createdAt: (r: Row) => r.created_at,
};

void serveBaseline('B0', {
  Patient: patientFields,
  Encounter: encounterFields,
  Query: {
    async patients(_: unknown, args: { first: number; after?: string | null }) {
      const [at, id] = args.after ? decodeCursor(args.after) : ['-infinity', '00000000-0000-0000-0000-000000000000'];
      const { rows } = await db.query<Row>(
        'SELECT * FROM bench_plain_patients WHERE (created_at, id) > ($1, $2) ORDER BY created_at, id LIMIT $3',
        [at, id, args.first + 1],
      );
      return pageOf(rows, args.first);
    },
    async patient(_: unknown, args: { id: string }) {
      return (await db.query('SELECT * FROM bench_plain_patients WHERE id = $1', [args.id])).rows[0] ?? null;
    },
    async findPatients(_: unknown, args: { ssn?: string | null }) {
      return (await db.query('SELECT * FROM bench_plain_patients WHERE ssn = $1 LIMIT 100', [args.ssn])).rows;
    },
  },
  Mutation: {
    async createEncounter(
      _: unknown,
      { input }: { input: { patientId: string; reason: string; notes?: string; diagnosisCodes: string[] } },
    ) {
      const { rows } = await db.query(
        `INSERT INTO bench_plain_encounters (id, patient_id, clinician_id, started_at, reason, notes, diagnosis_codes, created_at)
         VALUES ($1, $2, NULL, now(), $3, $4, $5, now()) RETURNING *`,
        [randomUUID(), input.patientId, input.reason, input.notes ?? null, JSON.stringify(input.diagnosisCodes)],
      );
      return rows[0];
    },
    async login(_: unknown, args: { email: string; password: string }) {
      const { rows } = await db.query<{ password_hash: string }>(
        'SELECT password_hash FROM bench_plain_users WHERE email = $1',
        [args.email.trim().toLowerCase()],
      );
      const ok = rows.length === 1 && (await argon2.verify(rows[0].password_hash, args.password));
      return { accessToken: ok ? randomBytes(32).toString('base64url') : null };
    },
  },
});
