import { randomBytes } from 'node:crypto';
import { getNamedType, isObjectType, type GraphQLObjectType, type GraphQLSchema } from 'graphql';

import type { Role } from '../../src/config/roles';
import { buildAppSchema } from '../../src/graphql/schema';
import { createAccount, sessionIdOf, signIn, sql, type TestAccount } from '../support/accounts';
import { startTestApp, type TestApp } from '../support/app';

/**
 * Every Query field that can hand out PHI must leave exactly the expected audit rows. The schema is
 * walked for Query fields whose type reaches a field marked @phi (through any depth of object
 * fields); each one needs an entry in CASES below, or this test fails naming it.
 */

const tag = randomBytes(3).toString('hex');
const USER_AGENT = `coverage-test/${tag}`;

const ALL_PATIENT_FIELDS = [
  'id',
  'mrn',
  'firstName',
  'lastName',
  'dateOfBirth',
  'sex',
  'ssn',
  'email',
  'phone',
  'address',
  'insuranceMemberId',
  'createdAt',
  'updatedAt',
];
const PATIENT_SELECTION = `id mrn firstName lastName dateOfBirth sex ssn email phone
  address { line1 city postalCode country } insuranceMemberId createdAt updatedAt`;

const seeded = (n: string) => ({
  firstName: `Rosalind${tag}${n}`,
  lastName: `Quennell${tag}${n}`,
  dateOfBirth: n === 'a' ? '1957-03-19' : '1983-11-02',
  sex: 'FEMALE',
  ssn: n === 'a' ? '219-09-9991' : '219-09-9992',
  email: `rosalind.${tag}${n}@example.test`,
  phone: n === 'a' ? '+14155550191' : '+14155550192',
  address: { line1: `12 Juniper Close ${tag}${n}`, city: `Fabletown${tag}`, postalCode: '94110', country: 'US' },
  insuranceMemberId: `INS${tag}${n}7781`,
});
const encounterInput = (patientId: string) => ({
  patientId,
  reason: `Recurring migraine ${tag}`,
  notes: `Responds to rest ${tag}`,
  diagnosisCodes: ['G43.909'],
});

interface Expected {
  action: string;
  patientId: string;
  purpose: string;
  fields: string[];
}

interface World {
  patients: { a: string; b: string };
  values: string[];
}

interface Case {
  /** A caller the rules allow, who reaches the seeded patients. */
  caller: Role;
  query: string;
  variables(world: World): Record<string, unknown>;
  expected(world: World): Expected[];
}

const read = (patientId: string, fields: string[]): Expected => ({
  action: 'patient.read',
  patientId,
  purpose: 'TREATMENT',
  fields,
});

/** One entry per PHI-returning Query field: how to call it and the exact audit rows it must write. */
const CASES: Record<string, Case> = {
  patient: {
    caller: 'PHYSICIAN',
    query: `query One($id: ID!) {
      patient(id: $id) {
        ${PATIENT_SELECTION}
        encounters { id reason notes diagnosisCodes sensitivity startedAt patient { id lastName } }
      }
    }`,
    variables: (w) => ({ id: w.patients.a }),
    // The record itself, and once more for the patient reached again through the encounter.
    expected: (w) => [
      read(w.patients.a, [...ALL_PATIENT_FIELDS, 'encounters']),
      read(w.patients.a, ['id', 'lastName']),
    ],
  },
  patients: {
    caller: 'PHYSICIAN',
    query: `query Page { patients(first: 10) { nodes { ${PATIENT_SELECTION} } pageInfo { endCursor hasNextPage } } }`,
    variables: () => ({}),
    expected: (w) => [read(w.patients.a, ALL_PATIENT_FIELDS), read(w.patients.b, ALL_PATIENT_FIELDS)],
  },
  findPatients: {
    caller: 'PHYSICIAN',
    query: `query Find($ssn: String) { findPatients(ssn: $ssn) { id lastName ssn } }`,
    variables: () => ({ ssn: seeded('b').ssn }),
    expected: (w) => [read(w.patients.b, ['id', 'lastName', 'ssn'])],
  },
};

function isMarkedPhi(type: GraphQLObjectType, field: string): boolean {
  const def = type.getFields()[field];
  return Boolean(def.extensions?.phi) || Boolean(def.astNode?.directives?.some((d) => d.name.value === 'phi'));
}

/** Whether a type, or any object type reachable from its fields, has a field marked @phi. */
function reachesPhi(type: unknown, seen = new Set<string>()): boolean {
  const named = getNamedType(type as Parameters<typeof getNamedType>[0]);
  if (!isObjectType(named) || seen.has(named.name)) return false;
  seen.add(named.name);
  return Object.values(named.getFields()).some((f) => isMarkedPhi(named, f.name) || reachesPhi(f.type, seen));
}

function phiQueries(schema: GraphQLSchema): string[] {
  const query = schema.getQueryType();
  if (!query) return [];
  return Object.values(query.getFields())
    .filter((f) => reachesPhi(f.type))
    .map((f) => f.name)
    .sort();
}

describe('audit coverage of every PHI-returning query', () => {
  let app: TestApp;
  let schema: GraphQLSchema;
  const world: World = { patients: { a: '', b: '' }, values: [] };
  const callers = {} as Record<Role, { account: TestAccount; token: string }>;

  beforeAll(async () => {
    schema = await buildAppSchema();
    app = await startTestApp();
    for (const role of ['PHYSICIAN', 'RECEPTIONIST'] as Role[]) {
      const account = await createAccount(app, role);
      callers[role] = { account, token: (await signIn(app, account)).accessToken };
    }
    const create = `mutation C($input: PatientInput!) { createPatient(input: $input) { id mrn } }`;
    for (const n of ['a', 'b'] as const) {
      // Registered by the physician, who thereby joins the care team (purpose TREATMENT).
      const res = await app.gql(create, { input: seeded(n) }, callers.PHYSICIAN.token);
      expect(res.body.errors).toBeUndefined();
      world.patients[n] = res.body.data!.createPatient.id;
      const { address, ...flat } = seeded(n);
      world.values.push(...Object.values(flat).filter((v) => v !== 'FEMALE'), address.line1, address.city);
      world.values.push(res.body.data!.createPatient.mrn);
    }
    const encounter = `mutation E($input: EncounterInput!) { createEncounter(input: $input) { id } }`;
    const input = encounterInput(world.patients.a);
    expect((await app.gql(encounter, { input }, callers.PHYSICIAN.token)).body.errors).toBeUndefined();
    world.values.push(input.reason, input.notes, 'G43.909');
  });

  afterAll(async () => {
    await app?.close();
  });

  it('has an entry for every Query field whose type reaches a @phi field, and none for another', () => {
    const found = phiQueries(schema);

    const missing = found.filter((name) => !(name in CASES)).map((name) => `Query.${name} has no audit case`);
    const stale = Object.keys(CASES)
      .filter((name) => !found.includes(name))
      .map((name) => `Query.${name} is in CASES but returns no PHI (or no longer exists)`);
    expect([...missing, ...stale]).toEqual([]);
    expect(found).toContain('patient');
  });

  describe.each(Object.keys(CASES))('Query.%s', (name) => {
    it('writes exactly the expected audit rows, with actor, session, request and client, and no PHI value', async () => {
      const spec = CASES[name];
      const { account, token } = callers[spec.caller];
      const requestId = `coverage-${name}-${tag}`;

      const res = await app.gql(spec.query, spec.variables(world), token, {
        'x-request-id': requestId,
        'user-agent': USER_AGENT,
      });

      expect(res.body.errors).toBeUndefined();
      // The answer really carries PHI (so the rows below are about a real disclosure).
      expect(world.values.some((v) => JSON.stringify(res.body.data).includes(v))).toBe(true);
      const rows = await sql(app, 'SELECT * FROM audit_events WHERE request_id = $1', [requestId]);
      const shape = (r: Expected) => ({ ...r, fields: [...r.fields].sort() });
      const order = (a: Expected, b: Expected) =>
        `${a.patientId}${a.fields.join()}`.localeCompare(`${b.patientId}${b.fields.join()}`);
      const written = rows.map((r) => ({
        action: r.action as string,
        patientId: r.patient_id as string,
        purpose: r.purpose as string,
        fields: r.fields as string[],
      }));
      expect(written.map(shape).sort(order)).toEqual(spec.expected(world).map(shape).sort(order));
      for (const row of rows) {
        expect(row).toMatchObject({
          outcome: 'ALLOWED',
          actor_id: account.user.id,
          actor_role: spec.caller,
          session_id: sessionIdOf(token),
          request_id: requestId,
          ip: '127.0.0.1',
          user_agent: USER_AGENT,
        });
      }
      const text = JSON.stringify(rows);
      for (const value of world.values) expect({ value, inRow: text.includes(value) }).toEqual({ value, inRow: false });
    });
  });

  it('leaves no seeded PHI value anywhere in the audit trail or the security events', async () => {
    const text = JSON.stringify([
      await sql(app, 'SELECT * FROM audit_events'),
      await sql(app, 'SELECT * FROM security_events'),
    ]);
    expect(world.values.length).toBeGreaterThan(10);
    for (const value of world.values)
      expect({ value, inTrail: text.includes(value) }).toEqual({ value, inTrail: false });
  });
});
