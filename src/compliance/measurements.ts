import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';

import type { AuditIntegrity } from '../audit/audit-integrity';
import { PHI_ENVELOPE_SQL_PATTERN } from '../crypto/field-cipher';
import type { MasterKeyRing } from '../crypto/master-key-ring';
import { quote } from '../keys/sealed-table.catalog';
import { phiFieldsOf, sealedEntities } from '../phi/phi.decorator';

/** One marked column: how many stored values it holds and how many of them are not an encryption envelope. */
export interface ColumnCoverage {
  table: string;
  column: string;
  /** The PHI category, or `sealed` for an encrypted column that is personal or secret but not PHI. */
  category: string;
  values: number;
  notEnvelope: number;
}

export interface EncryptionCoverage {
  columns: ColumnCoverage[];
  values: number;
  notEnvelope: number;
  /** Share of stored values that are envelopes, in percent; 100 when nothing is stored. */
  percent: number;
}

/** Data keys under one master key version. */
export interface MasterKeyVersionFigures {
  version: number;
  configured: boolean;
  active: boolean;
  liveDataKeys: number;
  destroyedDataKeys: number;
  /** Creation time of the oldest and newest live data key this version wraps (ISO), null without any. */
  oldestDataKeyAt: string | null;
  newestDataKeyAt: string | null;
}

export interface MasterKeyFigures {
  activeVersion: number;
  versions: MasterKeyVersionFigures[];
  /** Why the age of the master key material itself cannot be given. */
  ageNote: string;
}

export interface UebaFigures {
  measured: boolean;
  note?: string;
  falsePositives?: number;
  normalUserDays?: number;
  falsePositiveRate?: number;
  incidentsFlagged?: number;
  incidents?: number;
  writtenAt?: string;
}

export interface Measurements {
  measuredAt: string;
  database: string;
  encryption: EncryptionCoverage;
  masterKeys: MasterKeyFigures;
  dataSubjectRequests: { open: number; overdue: number; oldestOverdueDueAt: string | null };
  auditChain: { verified: boolean; rows: number; legacyRows: number; checkpointsChecked: number; broken?: string };
  ueba: UebaFigures;
}

/** Where test/audit/ueba-synthetic.test.ts leaves its figures. */
export const UEBA_FIGURES_FILE = join('reports', 'ueba-synthetic.json');

/**
 * PHI encryption coverage by scanning the database: for each marked column, the stored values that do not have
 * the envelope's form. This checks the form, not that each value decrypts (that needs every data key); the CHECK
 * constraint enforces the same form, so a non-zero count means the constraint was dropped or bypassed.
 */
export async function measureEncryption(orm: MikroORM): Promise<EncryptionCoverage> {
  const em = orm.em.fork();
  const columns: ColumnCoverage[] = [];
  for (const entity of sealedEntities()) {
    const meta = orm.getMetadata().find(entity);
    if (!meta) continue;
    for (const field of phiFieldsOf(entity)) {
      const column = meta.properties[field.property as keyof typeof meta.properties]?.fieldNames?.[0];
      if (!column) continue;
      const [row] = await em.execute<{ values: number; not_envelope: number }[]>(
        `SELECT count(${quote(column)})::int AS values,
                count(*) FILTER (WHERE ${quote(column)} !~ '${PHI_ENVELOPE_SQL_PATTERN}')::int AS not_envelope
         FROM ${quote(meta.tableName)}`,
      );
      columns.push({
        table: meta.tableName,
        column,
        category: field.category ?? 'sealed',
        values: row.values,
        notEnvelope: row.not_envelope,
      });
    }
  }
  const values = columns.reduce((a, c) => a + c.values, 0);
  const notEnvelope = columns.reduce((a, c) => a + c.notEnvelope, 0);
  const percent = values === 0 ? 100 : Math.floor(((values - notEnvelope) / values) * 10_000) / 100;
  return { columns, values, notEnvelope, percent };
}

/** Data keys per master key version, with the configured and active versions of the ring. */
export async function measureMasterKeys(em: EntityManager, ring: MasterKeyRing): Promise<MasterKeyFigures> {
  const rows = await em.execute<
    { version: number; live: number; destroyed: number; oldest: string | null; newest: string | null }[]
  >(
    `SELECT master_version AS version,
            count(*) FILTER (WHERE wrapped IS NOT NULL)::int AS live,
            count(*) FILTER (WHERE wrapped IS NULL)::int AS destroyed,
            to_char(min(created_at) FILTER (WHERE wrapped IS NOT NULL) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS oldest,
            to_char(max(created_at) FILTER (WHERE wrapped IS NOT NULL) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS newest
     FROM data_keys GROUP BY master_version`,
  );
  const byVersion = new Map(rows.map((r) => [r.version, r]));
  const versions = [...new Set([...ring.versions(), ...byVersion.keys()])].sort((a, b) => a - b);
  return {
    activeVersion: ring.activeVersion,
    versions: versions.map((version) => {
      const row = byVersion.get(version);
      return {
        version,
        configured: ring.hasVersion(version),
        active: version === ring.activeVersion,
        liveDataKeys: row?.live ?? 0,
        destroyedDataKeys: row?.destroyed ?? 0,
        oldestDataKeyAt: row?.oldest ?? null,
        newestDataKeyAt: row?.newest ?? null,
      };
    }),
    // Known shortcoming: nothing records when a master key version was introduced (MASTER_KEYS carries no dates,
    // keys:rotate writes no audit row, and re-wrapping keeps each data key's created_at), so its age is unknown.
    ageNote:
      'The age of the master key material is not recorded: MASTER_KEYS carries no dates and keys:rotate leaves no ' +
      'record of when a version was introduced. Shown instead: the oldest and newest data key each version wraps ' +
      '(a data key re-wrapped by keys:rotate keeps its creation time).',
  };
}

/** Open data-subject requests, and those past their due date (Art. 12(3)). */
export async function measureDataSubjectRequests(em: EntityManager): Promise<Measurements['dataSubjectRequests']> {
  const [row] = await em.execute<{ open: number; overdue: number; oldest: string | null }[]>(
    `SELECT count(*)::int AS open,
            count(*) FILTER (WHERE due_at < now())::int AS overdue,
            to_char(min(due_at) FILTER (WHERE due_at < now()) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS oldest
     FROM data_subject_requests WHERE status NOT IN ('COMPLETED', 'REJECTED')`,
  );
  return { open: row.open, overdue: row.overdue, oldestOverdueDueAt: row.oldest };
}

/** The audit chain walked and its checkpoints checked (`audit:verify`). */
export async function measureAuditChain(
  em: EntityManager,
  integrity: AuditIntegrity,
): Promise<Measurements['auditChain']> {
  const report = await integrity.verify(em);
  return {
    verified: report.ok,
    rows: report.rows,
    legacyRows: report.legacyRows,
    checkpointsChecked: report.checkpointsChecked,
    ...(report.broken ? { broken: `row ${report.broken.seq}: ${report.broken.reason}` } : {}),
  };
}

/** The UEBA false-positive figures of the last run of test/audit/ueba-synthetic.test.ts, when there was one. */
export function readUebaFigures(root: string): UebaFigures {
  const path = join(root, UEBA_FIGURES_FILE);
  if (!existsSync(path)) {
    return {
      measured: false,
      note: `not measured: ${UEBA_FIGURES_FILE} is missing (run test/audit/ueba-synthetic.test.ts)`,
    };
  }
  try {
    const figures = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    const count = (key: string) => (typeof figures[key] === 'number' ? (figures[key] as number) : undefined);
    const falsePositives = count('falsePositiveUserDays');
    const normalUserDays = count('normalUserDays');
    if (falsePositives === undefined || !normalUserDays) throw new Error('figures missing');
    return {
      measured: true,
      falsePositives,
      normalUserDays,
      falsePositiveRate: falsePositives / normalUserDays,
      incidentsFlagged: count('incidentsFlagged'),
      incidents: count('incidents'),
      writtenAt: typeof figures.writtenAt === 'string' ? figures.writtenAt : undefined,
    };
  } catch {
    return { measured: false, note: `not measured: ${UEBA_FIGURES_FILE} cannot be read` };
  }
}

/** Every measurement against one database; `database` says which, without credentials. */
export async function measureAll(
  deps: { orm: MikroORM; ring: MasterKeyRing; integrity: AuditIntegrity },
  root: string,
  database: string,
): Promise<Measurements> {
  const em = deps.orm.em.fork();
  return {
    measuredAt: new Date().toISOString(),
    database,
    encryption: await measureEncryption(deps.orm),
    masterKeys: await measureMasterKeys(em, deps.ring),
    dataSubjectRequests: await measureDataSubjectRequests(em),
    auditChain: await measureAuditChain(deps.orm.em.fork(), deps.integrity),
    ueba: readUebaFigures(root),
  };
}

/** Purposes of use the audit trail holds. */
export async function observedPurposes(em: EntityManager): Promise<string[]> {
  const rows = await em.execute<{ purpose: string }[]>(
    'SELECT DISTINCT purpose FROM audit_events WHERE purpose IS NOT NULL ORDER BY purpose',
  );
  return rows.map((r) => r.purpose);
}
