import 'reflect-metadata';
import { randomBytes, randomUUID } from 'node:crypto';
import * as argon2 from 'argon2';

import { User } from '../../src/auth/user.entity';
import {
  BlindIndexer,
  DataKeyCache,
  envelopeKeyId,
  initCrypto,
  MasterKeyRing,
  openField,
  parseMasterKeys,
  sealField,
} from '../../src/crypto';
import { Encounter } from '../../src/patients/encounter.entity';
import { Patient } from '../../src/patients/patient.entity';
import { phiField, phiFieldsOf } from '../../src/phi/phi.decorator';
import { normalizeForIndex } from '../../src/phi/normalize';
import type { PhiFieldMeta } from '../../src/phi/phi.types';
import { decodeCursor, pageOf, pool, serveBaseline } from './common';

/**
 * Baseline B1, the crypto floor: the same bare server as B0, reading the real encrypted rows and decrypting each
 * selected field in its resolver with the product's own cipher (openField / sealField), blind index and master
 * key ring, behind a data-key cache of the product's size and lifetime. No authorization, rate limits or audit.
 */
const db = pool();
const versions = parseMasterKeys(String(process.env.MASTER_KEYS));
const ring = new MasterKeyRing({ versions, active: Math.max(...versions.keys()) });
const indexer = new BlindIndexer(Buffer.from(String(process.env.BLIND_INDEX_KEY), 'base64'));
const cache = new DataKeyCache({ maxEntries: 10_000, ttlMs: 5 * 60_000 });
const activeBySubject = new Map<string, string>();
// Entities are imported for their PHI marks (column, kind); the classes themselves are not used.
void [Patient, Encounter, User];

type Row = Record<string, unknown> & { id: string; created_at: Date };

/** Unwraps, in one query, every data key the rows' envelopes name that is not cached yet. */
async function loadKeys(rows: Row[], fields: readonly PhiFieldMeta[]): Promise<void> {
  const missing = new Set<string>();
  for (const row of rows) {
    for (const f of fields) {
      const envelope = row[f.column];
      if (typeof envelope === 'string') {
        const id = envelopeKeyId(envelope);
        if (!cache.get(id)) missing.add(id);
      }
    }
  }
  if (missing.size === 0) return;
  const { rows: keys } = await db.query(
    'SELECT id, subject_id, master_version, wrapped FROM data_keys WHERE id = ANY($1)',
    [[...missing]],
  );
  for (const k of keys) {
    cache.set(k.id, ring.unwrapDataKey(k.wrapped, k.master_version, { subjectId: k.subject_id, dataKeyId: k.id }));
  }
}

function open(table: string, meta: PhiFieldMeta, row: Row): unknown {
  const envelope = row[meta.column];
  if (envelope === null || envelope === undefined) return null;
  const keyId = envelopeKeyId(String(envelope));
  const plaintext = openField(
    cache.get(keyId)!,
    keyId,
    { table, column: meta.column, rowId: row.id },
    String(envelope),
  );
  return meta.kind === 'json' ? JSON.parse(plaintext) : plaintext;
}

/** One decrypting resolver per marked field of the entity. */
function decrypting(entity: string, table: string): Record<string, (row: Row) => unknown> {
  return Object.fromEntries(phiFieldsOf(entity).map((meta) => [meta.property, (row: Row) => open(table, meta, row)]));
}

const PATIENT = phiFieldsOf('Patient');
const ENCOUNTER = phiFieldsOf('Encounter');

async function patientRows(sql: string, params: unknown[]): Promise<Row[]> {
  const { rows } = await db.query<Row>(sql, params);
  await loadKeys(rows, PATIENT);
  return rows;
}

void initCrypto().then(() =>
  serveBaseline('B1', {
    Patient: {
      ...decrypting('Patient', 'patients'),
      createdAt: (r: Row) => r.created_at,
      updatedAt: (r: Row) => r.updated_at,
      encounters: async (r: Row) => {
        const { rows } = await db.query<Row>(
          'SELECT * FROM encounters WHERE patient_id = $1 ORDER BY started_at DESC, id',
          [r.id],
        );
        await loadKeys(rows, ENCOUNTER);
        return rows;
      },
    },
    Encounter: {
      ...decrypting('Encounter', 'encounters'),
      clinicianId: (r: Row) => r.clinician_id,
      startedAt: (r: Row) => r.started_at,
      createdAt: (r: Row) => r.created_at,
    },
    Query: {
      async patients(_: unknown, args: { first: number; after?: string | null }) {
        const [at, id] = args.after ? decodeCursor(args.after) : ['-infinity', '00000000-0000-0000-0000-000000000000'];
        const rows = await patientRows(
          'SELECT * FROM patients WHERE (created_at, id) > ($1, $2) ORDER BY created_at, id LIMIT $3',
          [at, id, args.first + 1],
        );
        return pageOf(rows, args.first);
      },
      async patient(_: unknown, args: { id: string }) {
        return (await patientRows('SELECT * FROM patients WHERE id = $1', [args.id]))[0] ?? null;
      },
      async findPatients(_: unknown, args: { ssn?: string | null }) {
        const meta = phiField('Patient', 'ssn')!.blindIndex!;
        const index = indexer.compute('patients', meta.column, normalizeForIndex('ssn', String(args.ssn)));
        return patientRows(`SELECT * FROM patients WHERE ${meta.column} = $1 LIMIT 100`, [index]);
      },
    },
    Mutation: {
      async createEncounter(
        _: unknown,
        { input }: { input: { patientId: string; reason: string; notes?: string; diagnosisCodes: string[] } },
      ) {
        let keyId = activeBySubject.get(input.patientId);
        if (!keyId || !cache.get(keyId)) {
          const { rows } = await db.query(
            'SELECT id, subject_id, master_version, wrapped FROM data_keys WHERE subject_id = $1 ORDER BY version DESC LIMIT 1',
            [input.patientId],
          );
          const k = rows[0];
          cache.set(
            k.id,
            ring.unwrapDataKey(k.wrapped, k.master_version, { subjectId: k.subject_id, dataKeyId: k.id }),
          );
          activeBySubject.set(input.patientId, k.id);
          keyId = k.id as string;
        }
        const key = cache.get(keyId)!;
        const id = randomUUID();
        const seal = (property: string, value: unknown) => {
          if (value === null || value === undefined) return null;
          const meta = phiField('Encounter', property)!;
          const text = meta.kind === 'json' ? JSON.stringify(value) : String(value);
          return sealField(key, keyId!, { table: 'encounters', column: meta.column, rowId: id }, text);
        };
        const { rows } = await db.query<Row>(
          `INSERT INTO encounters (id, patient_id, clinician_id, started_at, reason, notes, diagnosis_codes, sensitivity, created_at)
           VALUES ($1, $2, NULL, now(), $3, $4, $5, NULL, now()) RETURNING *`,
          [
            id,
            input.patientId,
            seal('reason', input.reason),
            seal('notes', input.notes),
            seal('diagnosisCodes', input.diagnosisCodes),
          ],
        );
        return rows[0];
      },
      async login(_: unknown, args: { email: string; password: string }) {
        const meta = phiField('User', 'email')!.blindIndex!;
        const index = indexer.compute('users', meta.column, normalizeForIndex('email', args.email));
        const { rows } = await db.query<{ password_hash: string }>(
          `SELECT password_hash FROM users WHERE ${meta.column} = $1`,
          [index],
        );
        const ok = rows.length === 1 && (await argon2.verify(rows[0].password_hash, args.password));
        return { accessToken: ok ? randomBytes(32).toString('base64url') : null };
      },
    },
  }),
);
