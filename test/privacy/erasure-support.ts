import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';

import { ConsentType } from '../../src/consent/consent.entity';
import { Sex } from '../../src/patients/patient.entity';
import { createServices } from '../../src/services';
import type { TestApp } from '../support/app';
import { createAccount, type TestAccount } from '../support/accounts';
import { rawQuery } from '../support/database';

/** A seeded patient: its id and every identifying value it was given, for scans of the output. */
export interface SeededPatient {
  id: string;
  mrn: string;
  values: {
    firstName: string;
    lastName: string;
    dateOfBirth: string;
    ssn: string;
    email: string;
    phone: string;
    address: { line1: string; city: string; postalCode: string; country: string };
    insuranceMemberId: string;
  };
  encounterReason?: string;
  account?: TestAccount;
}

export interface SeedOptions {
  dateOfBirth?: string;
  postalCode?: string;
  /** Start of one encounter (with reason, notes and codes); none when omitted. */
  encounterAt?: Date;
  /** Consents to record, in order: [type, given]. */
  consents?: [ConsentType, boolean][];
  /** Create a linked PATIENT account. */
  account?: boolean;
  /** A clinician to put on the care team. */
  careTeamUserId?: string;
}

function digits(n: number): string {
  return Array.from(randomBytes(n), (b) => String(b % 10)).join('');
}

/** Creates a patient through the services with unique, obviously fictional values. */
export async function seedPatient(app: TestApp, tag: string, options: SeedOptions = {}): Promise<SeededPatient> {
  const run = randomBytes(4).toString('hex');
  const values = {
    firstName: `${tag}Zephyrine${run}`,
    lastName: `Quillfeather${run}`,
    dateOfBirth: options.dateOfBirth ?? '1972-03-19',
    ssn: `${100 + (parseInt(digits(3), 10) % 500)}-${10 + (parseInt(digits(2), 10) % 89)}-${1000 + (parseInt(digits(4), 10) % 8999)}`,
    email: `${tag.toLowerCase()}.${run}@example.test`,
    phone: `+1415${digits(7)}`,
    address: {
      line1: `${digits(3)} Marrowgate Lane ${run}`,
      city: `Thistleby${run}`,
      postalCode: options.postalCode ?? '94107',
      country: 'US',
    },
    insuranceMemberId: `INS-${run}-${digits(4)}`,
  };
  const mrn = `MRN-${run}`.toUpperCase();
  const em = app.services.orm.em.fork();
  const patient = await app.services.patients.create(em, { ...values, mrn, sex: Sex.FEMALE } as never);
  const seeded: SeededPatient = { id: patient.id, mrn, values };

  if (options.encounterAt) {
    const clinician = options.careTeamUserId ?? (await createAccount(app, 'PHYSICIAN')).user.id;
    seeded.encounterReason = `Wheezing after ${tag} ${run}`;
    await app.services.patients.createEncounter(app.services.orm.em.fork(), clinician, {
      patientId: patient.id,
      reason: seeded.encounterReason,
      notes: `Notes ${run}`,
      diagnosisCodes: ['J45.909'],
      startedAt: options.encounterAt,
    } as never);
  }
  for (const [type, given] of options.consents ?? []) {
    const by = { userId: patient.id, role: 'PATIENT', channel: 'PORTAL' as const, ip: '127.0.0.1', userAgent: 'test' };
    if (given) await app.services.consents.grant(app.services.orm.em.fork(), patient.id, type, 'v1', by);
    else await app.services.consents.withdraw(app.services.orm.em.fork(), patient.id, type, by);
  }
  if (options.careTeamUserId) {
    await rawQuery(
      app.db.url,
      `INSERT INTO care_team_members (id, patient_id, user_id, added_by, created_at)
       VALUES (gen_random_uuid(), $1, $2, $2, now()) ON CONFLICT DO NOTHING`,
      [patient.id, options.careTeamUserId],
    );
  }
  if (options.account) seeded.account = await createAccount(app, 'PATIENT', { patientId: patient.id });
  return seeded;
}

/** Every plaintext value of a seeded patient, in the forms a leak would take. */
export function plaintextsOf(p: SeededPatient): string[] {
  const v = p.values;
  return [
    v.firstName,
    v.lastName,
    v.email,
    v.phone,
    v.phone.slice(2),
    v.ssn,
    v.ssn.replace(/-/g, ''),
    v.address.line1,
    v.address.city,
    v.insuranceMemberId,
    p.mrn,
    ...(p.encounterReason ? [p.encounterReason] : []),
    ...(p.account ? [p.account.email] : []),
  ];
}

/** JSON of every row of every table of the app's database. */
export async function scanAllTables(app: TestApp): Promise<string> {
  const tables = await rawQuery<{ table_name: string }>(
    app.db.url,
    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
  );
  const parts: string[] = [];
  for (const { table_name } of tables) {
    parts.push(JSON.stringify(await rawQuery(app.db.url, `SELECT * FROM "${table_name}"`)));
  }
  return parts.join('\n');
}

/** A data-only pg_dump of the app's database. */
export function pgDump(app: TestApp): string {
  return execFileSync('pg_dump', ['--no-owner', '--data-only', app.db.url], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
}

/** Approves the erasure of `patientId` as `officer`, in a transaction of its own (what approveErasure runs). */
export function eraseAs(app: TestApp, officer: TestAccount, patientId: string, requestId: string = randomUUID()) {
  return app.services.orm.em
    .fork()
    .transactional((em) =>
      app.services.erasure.erase(
        em,
        { id: requestId, patientId },
        { userId: officer.user.id, role: 'PRIVACY_OFFICER' },
      ),
    );
}

/** Opens a stored envelope with a server that has never cached a key (as a restore from backup would). */
export async function openWithFreshServer(
  app: TestApp,
  entity: string,
  row: Record<string, unknown>,
  property: string,
): Promise<unknown> {
  const fresh = createServices(app.config, app.services.orm, app.logger);
  try {
    return await fresh.vault.open(app.services.orm.em.fork(), row, property, entity);
  } finally {
    await fresh.close();
  }
}
