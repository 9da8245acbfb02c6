import { randomBytes, randomUUID } from 'node:crypto';

import type { PatientAccess } from '../../src/access/access.service';
import type { Role } from '../../src/config/roles';
import { ConsentType } from '../../src/consent/consent.entity';
import type { Actor } from '../../src/graphql/context';
import type { PatientInput } from '../../src/patients/patient.inputs';
import { createAccount, sql } from '../support/accounts';
import { startTestApp, type TestApp } from '../support/app';

/*
 * Lists, searches and patient(id) take the access decision from columns selected beside the rows
 * (AccessService.decisionColumns); `decide` asks the same columns over a list of ids. This holds the
 * two ways of asking to one answer, and that answer to the policy, for every role that has the columns.
 */

const tag = randomBytes(3).toString('hex');
let app: TestApp;
const actors = {} as Record<Role, Actor>;
/** Patients by situation relative to the physician `actors.PHYSICIAN`. */
const patients = {} as Record<'team' | 'teamSensitive' | 'teamRestricted' | 'other' | 'otherRestricted', string>;
const MISSING = randomUUID();

function input(n: number): PatientInput {
  return {
    firstName: `Columna${tag}`,
    lastName: `Decidida${tag}${n}`,
    dateOfBirth: '1971-05-0' + String(n + 1),
    sex: 'FEMALE',
  } as PatientInput;
}

beforeAll(async () => {
  app = await startTestApp();
  for (const role of ['ADMIN', 'PHYSICIAN', 'NURSE', 'RECEPTIONIST', 'BILLING'] as Role[]) {
    const { user } = await createAccount(app, role);
    actors[role] = { userId: user.id, role, sessionId: randomUUID() };
  }
  const em = () => app.services.orm.em.fork();
  const physician = actors.PHYSICIAN.userId;
  const make = async (n: number, team: boolean) =>
    (await app.services.patients.create(em(), input(n), team ? physician : undefined)).id;
  patients.team = await make(0, true);
  patients.teamSensitive = await make(1, true);
  patients.teamRestricted = await make(2, true);
  patients.other = await make(3, false);
  patients.otherRestricted = await make(4, false);
  await app.services.consents.grant(em(), patients.teamSensitive, ConsentType.SENSITIVE_DATA, 'v1', {
    userId: physician,
    role: 'PHYSICIAN',
    channel: 'API',
    ip: null,
    userAgent: null,
  });
  await sql(app, 'UPDATE patients SET restricted_at = now() WHERE id = ANY($1::uuid[])', [
    [patients.teamRestricted, patients.otherRestricted],
  ]);
});

afterAll(async () => {
  await app?.close();
});

const CARE: PatientAccess = { relation: 'CARE_TEAM', purpose: 'TREATMENT', sensitive: false };
const SENSITIVE: PatientAccess = { ...CARE, sensitive: true };
const OPERATIONS: PatientAccess = { relation: 'STAFF', purpose: 'OPERATIONS', sensitive: false };
const PAYMENT: PatientAccess = { relation: 'STAFF', purpose: 'PAYMENT', sensitive: false };

/** Written out from README's policy: restriction leaves treatment access only; staff reach unrestricted patients. */
const EXPECTED: Record<string, Record<keyof typeof patients, PatientAccess | null>> = {
  PHYSICIAN: { team: CARE, teamSensitive: SENSITIVE, teamRestricted: CARE, other: null, otherRestricted: null },
  NURSE: { team: null, teamSensitive: null, teamRestricted: null, other: null, otherRestricted: null },
  ADMIN: {
    team: OPERATIONS,
    teamSensitive: OPERATIONS,
    teamRestricted: null,
    other: OPERATIONS,
    otherRestricted: null,
  },
  RECEPTIONIST: {
    team: OPERATIONS,
    teamSensitive: OPERATIONS,
    teamRestricted: null,
    other: OPERATIONS,
    otherRestricted: null,
  },
  BILLING: { team: PAYMENT, teamSensitive: PAYMENT, teamRestricted: null, other: PAYMENT, otherRestricted: null },
};

describe.each(Object.keys(EXPECTED))('decisions for %s', (role) => {
  it('are the same whether asked by id or taken from the columns beside each row, and follow the policy', async () => {
    const actor = actors[role as Role];
    const access = app.services.access;
    const ids = Object.values(patients);

    const decided = await access.decide(app.services.orm.em.fork(), actor, [...ids, MISSING]);
    const fromRows = new Map<string, PatientAccess | null>();
    const columns = access.decisionColumns(actor)!;
    for (const id of ids) {
      const row = await app.services.patients.row(app.services.orm.em.fork(), id, {
        sql: 'true',
        params: [],
        columns: {
          ...columns,
          take: (patientId, values) => fromRows.set(patientId, access.fromColumns(actor, values as never)),
        },
      });
      expect(row?.id).toBe(id);
    }

    for (const [situation, id] of Object.entries(patients)) {
      const expected = EXPECTED[role][situation as keyof typeof patients];
      expect({ situation, decided: decided.get(id) ?? null }).toEqual({ situation, decided: expected });
      expect({ situation, fromRow: fromRows.get(id) }).toEqual({ situation, fromRow: expected });
    }
    // A missing id: staff roles decide as if it existed (the load then answers NOT_FOUND), clinicians reach nothing.
    expect(decided.has(MISSING)).toBe(role !== 'PHYSICIAN' && role !== 'NURSE');
  });
});

it('a patients page as a physician reaches exactly the care team, its rows carrying the decisions', async () => {
  const actor = actors.PHYSICIAN;
  const access = app.services.access;
  const taken = new Map<string, PatientAccess | null>();
  const page = await app.services.patients.page(app.services.orm.em.fork(), 100, null, {
    ...access.listScope(actor)!,
    columns: {
      ...access.decisionColumns(actor)!,
      take: (patientId, values) => taken.set(patientId, access.fromColumns(actor, values as never)),
    },
  });

  expect(page.nodes.map((p) => p.id).sort()).toEqual(
    [patients.team, patients.teamSensitive, patients.teamRestricted].sort(),
  );
  expect(Object.keys(page.nodes[0]).some((key) => key.startsWith('access_'))).toBe(false);
  expect(taken.get(patients.teamSensitive)).toEqual(SENSITIVE);
  expect(taken.get(patients.teamRestricted)).toEqual(CARE);
});

describe('list scopes', () => {
  let integrator: Actor;

  beforeAll(async () => {
    const em = () => app.services.orm.em.fork();
    const nurse = actors.NURSE;
    const open = (patientId: string) =>
      app.services.breakGlass.grant(em(), nurse, patientId, `Scope test ${tag}: patient arrived unconscious`, () =>
        Promise.resolve(),
      );
    await open(patients.other);
    const expired = await open(patients.teamSensitive);
    const revoked = await open(patients.otherRestricted);
    await sql(app, "UPDATE break_glass_grants SET expires_at = now() - interval '1 minute' WHERE id = $1", [
      expired.id,
    ]);
    await app.services.breakGlass.revoke(em(), nurse, revoked.id);

    const { user } = await createAccount(app, 'INTEGRATOR');
    integrator = { userId: user.id, role: 'INTEGRATOR', sessionId: randomUUID(), scopes: ['patients:read'] };
    const by = { userId: actors.RECEPTIONIST.userId, role: 'RECEPTIONIST', channel: 'API', ip: null, userAgent: null };
    await app.services.consents.grant(em(), patients.team, ConsentType.DATA_SHARING, 'v1', by as never);
    await app.services.consents.grant(em(), patients.other, ConsentType.DATA_SHARING, 'v1', by as never);
    await app.services.consents.withdraw(em(), patients.other, ConsentType.DATA_SHARING, by as never);
  });

  /** The patients of this file a scope admits, in the shape asked for. */
  async function admitted(actor: Actor, shape: 'page' | 'lookup'): Promise<string[]> {
    const scope = app.services.access.listScope(actor, shape) ?? { sql: 'true', params: [] };
    let n = 1;
    const where = scope.sql.replace(/\?/g, () => `$${++n}`);
    const rows = await sql<{ id: string }>(
      app,
      `SELECT p.id FROM patients p WHERE p.id = ANY($1::uuid[]) AND ${where}`,
      [Object.values(patients), ...scope.params],
    );
    return rows.map((r) => r.id).sort();
  }

  const reachable = (...situations: (keyof typeof patients)[]) => situations.map((s) => patients[s]).sort();

  it.each(['ADMIN', 'PHYSICIAN', 'NURSE', 'RECEPTIONIST', 'BILLING', 'INTEGRATOR'])(
    'admit the same patients for %s whether shaped for a page or for a lookup',
    async (role) => {
      const actor = role === 'INTEGRATOR' ? integrator : actors[role as Role];
      const expected: Record<string, string[]> = {
        ADMIN: reachable('team', 'teamSensitive', 'other'),
        PHYSICIAN: reachable('team', 'teamSensitive', 'teamRestricted'),
        NURSE: reachable('other'), // the active grant only: not the expired one, not the revoked one
        RECEPTIONIST: reachable('team', 'teamSensitive', 'other'),
        BILLING: reachable('team', 'teamSensitive', 'other'),
        INTEGRATOR: reachable('team'), // consent given; the other's was withdrawn
      };

      expect(await admitted(actor, 'page')).toEqual(expected[role]);
      expect(await admitted(actor, 'lookup')).toEqual(expected[role]);
    },
  );
});
