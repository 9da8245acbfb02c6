import { randomBytes } from 'node:crypto';

import type { Role } from '../../src/config/roles';
import { codeOf, createAccount, signIn, sql, testEmail, testPassword, type TestAccount } from '../support/accounts';
import { startTestApp, type GqlResponse, type TestApp } from '../support/app';

/*
 * The access-control matrix: every role, an integrator without scope and an anonymous caller, times
 * every patient operation, times two targets. A is the caller's own patient (care team for PHYSICIAN
 * and NURSE, self for PATIENT, a current DATA_SHARING consent for INTEGRATOR); B is somebody else's
 * (another physician's patient, whose DATA_SHARING consent was given and then withdrawn).
 *
 * Every expectation below is written out by hand from the contract and README's policy, not derived
 * from the policy code: a change of policy has to change this table too.
 */

const tag = randomBytes(3).toString('hex');
const TAG = tag.toUpperCase();
const MISSING = '00000000-0000-4000-8000-000000000000';

type Caller = Role | 'INTEGRATOR_NO_SCOPE' | 'ANONYMOUS';
type Target = 'A' | 'B';
type Refusal = 'FORBIDDEN' | 'NOT_FOUND' | 'UNAUTHENTICATED';
/** How much of a reached patient a caller sees; the fields of each shape are spelt out in SHAPES. */
type Shape = 'FULL' | 'CONSENTED' | 'FRONT_DESK' | 'BILLING' | 'ADMIN';

interface Expectations {
  /** patient(id) */
  patient: Record<Target, Shape | Refusal>;
  /** patient(id) { encounters }: the target's encounter, an empty list, or the refusal of patient(id). */
  encounters: Record<Target, 'VISIBLE' | 'EMPTY' | Refusal>;
  /** patient(id) { encounters { patient } }: the nested patient's shape, or UNREACHED when no encounter is listed. */
  encounterPatient: Record<Target, Shape | 'UNREACHED' | Refusal>;
  /** patients: which of A and B the page holds. */
  patients: Target[] | Refusal;
  /** findPatients(ssn) with the SSN of A or of B: which patients come back. */
  findPatients: Record<Target, Target[] | Refusal>;
  /** createPatient: the new patient's shape for the caller. */
  createPatient: Shape | Refusal;
  /** updatePatient(id) with an unchanged phone number. */
  updatePatient: Record<Target, Shape | Refusal>;
  /** createEncounter for the target. */
  createEncounter: Record<Target, 'ALLOWED' | Refusal>;
}

const F = 'FORBIDDEN';
const N = 'NOT_FOUND';
const U = 'UNAUTHENTICATED';

const MATRIX: Record<Caller, Expectations> = {
  ADMIN: {
    patient: { A: 'ADMIN', B: 'ADMIN' },
    encounters: { A: 'EMPTY', B: 'EMPTY' },
    encounterPatient: { A: 'UNREACHED', B: 'UNREACHED' },
    patients: ['A', 'B'],
    // ADMIN sees no IDENTIFIER (not even partly): a search by SSN would confirm whose SSN it is.
    findPatients: { A: F, B: F },
    createPatient: F,
    updatePatient: { A: F, B: F },
    createEncounter: { A: F, B: F },
  },
  PHYSICIAN: {
    patient: { A: 'FULL', B: N },
    encounters: { A: 'VISIBLE', B: N },
    encounterPatient: { A: 'FULL', B: N },
    patients: ['A'],
    findPatients: { A: ['A'], B: [] },
    createPatient: 'FULL',
    updatePatient: { A: 'FULL', B: N },
    createEncounter: { A: 'ALLOWED', B: N },
  },
  NURSE: {
    patient: { A: 'FULL', B: N },
    encounters: { A: 'VISIBLE', B: N },
    encounterPatient: { A: 'FULL', B: N },
    patients: ['A'],
    findPatients: { A: ['A'], B: [] },
    createPatient: 'FULL',
    updatePatient: { A: 'FULL', B: N },
    createEncounter: { A: 'ALLOWED', B: N },
  },
  RECEPTIONIST: {
    patient: { A: 'FRONT_DESK', B: 'FRONT_DESK' },
    encounters: { A: 'EMPTY', B: 'EMPTY' },
    encounterPatient: { A: 'UNREACHED', B: 'UNREACHED' },
    patients: ['A', 'B'],
    findPatients: { A: ['A'], B: ['B'] },
    createPatient: 'FRONT_DESK',
    updatePatient: { A: 'FRONT_DESK', B: 'FRONT_DESK' },
    createEncounter: { A: F, B: F },
  },
  BILLING: {
    patient: { A: 'BILLING', B: 'BILLING' },
    encounters: { A: 'EMPTY', B: 'EMPTY' },
    encounterPatient: { A: 'UNREACHED', B: 'UNREACHED' },
    patients: ['A', 'B'],
    findPatients: { A: ['A'], B: ['B'] },
    createPatient: F,
    updatePatient: { A: F, B: F },
    createEncounter: { A: F, B: F },
  },
  AUDITOR: {
    patient: { A: F, B: F },
    encounters: { A: F, B: F },
    encounterPatient: { A: F, B: F },
    patients: F,
    findPatients: { A: F, B: F },
    createPatient: F,
    updatePatient: { A: F, B: F },
    createEncounter: { A: F, B: F },
  },
  PRIVACY_OFFICER: {
    patient: { A: F, B: F },
    encounters: { A: F, B: F },
    encounterPatient: { A: F, B: F },
    patients: F,
    findPatients: { A: F, B: F },
    createPatient: F,
    updatePatient: { A: F, B: F },
    createEncounter: { A: F, B: F },
  },
  INTEGRATOR: {
    patient: { A: 'CONSENTED', B: N },
    encounters: { A: 'VISIBLE', B: N },
    encounterPatient: { A: 'CONSENTED', B: N },
    patients: ['A'],
    findPatients: { A: ['A'], B: [] },
    createPatient: F,
    updatePatient: { A: F, B: F },
    createEncounter: { A: F, B: F },
  },
  INTEGRATOR_NO_SCOPE: {
    patient: { A: N, B: N },
    encounters: { A: N, B: N },
    encounterPatient: { A: N, B: N },
    patients: [],
    findPatients: { A: [], B: [] },
    createPatient: F,
    updatePatient: { A: F, B: F },
    createEncounter: { A: F, B: F },
  },
  PATIENT: {
    patient: { A: 'FULL', B: N },
    encounters: { A: 'VISIBLE', B: N },
    encounterPatient: { A: 'FULL', B: N },
    patients: F,
    findPatients: { A: F, B: F },
    createPatient: F,
    updatePatient: { A: F, B: F },
    createEncounter: { A: F, B: F },
  },
  ANONYMOUS: {
    patient: { A: U, B: U },
    encounters: { A: U, B: U },
    encounterPatient: { A: U, B: U },
    patients: U,
    findPatients: { A: U, B: U },
    createPatient: U,
    updatePatient: { A: U, B: U },
    createEncounter: { A: U, B: U },
  },
};

const PATIENT_FIELDS = [
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
] as const;
type PatientField = (typeof PATIENT_FIELDS)[number];

/** Per shape, per field: the whole value, its partial form, or null (README: PARTIAL forms; sex has none). */
const SHAPES: Record<Shape, Record<PatientField, 'full' | 'partial' | null>> = {
  FULL: {
    mrn: 'full',
    firstName: 'full',
    lastName: 'full',
    dateOfBirth: 'full',
    sex: 'full',
    ssn: 'full',
    email: 'full',
    phone: 'full',
    address: 'full',
    insuranceMemberId: 'full',
  },
  CONSENTED: {
    mrn: 'full',
    firstName: 'full',
    lastName: 'full',
    dateOfBirth: 'full',
    sex: 'full',
    ssn: 'full',
    email: 'full',
    phone: 'full',
    address: 'full',
    insuranceMemberId: null,
  },
  FRONT_DESK: {
    mrn: 'partial',
    firstName: 'full',
    lastName: 'full',
    dateOfBirth: 'full',
    sex: 'full',
    ssn: 'partial',
    email: 'full',
    phone: 'full',
    address: 'full',
    insuranceMemberId: null,
  },
  BILLING: {
    mrn: 'partial',
    firstName: 'full',
    lastName: 'full',
    dateOfBirth: 'full',
    sex: 'full',
    ssn: 'partial',
    email: 'full',
    phone: 'full',
    address: 'full',
    insuranceMemberId: 'full',
  },
  ADMIN: {
    mrn: null,
    firstName: 'partial',
    lastName: 'partial',
    dateOfBirth: 'partial',
    sex: null,
    ssn: null,
    email: null,
    phone: null,
    address: null,
    insuranceMemberId: null,
  },
};

interface Fixture {
  input: Record<string, unknown>;
  /** Values as the API answers them in full (normalised). */
  full: Record<PatientField, unknown>;
  /** Partial forms, written out by hand. */
  partial: Partial<Record<PatientField, unknown>>;
  encounterReason: string;
}

const A: Fixture = {
  input: {
    mrn: `MA-${TAG}-4401`,
    firstName: `Marisol${tag}`,
    lastName: `Thornquist${tag}`,
    dateOfBirth: '1975-09-30',
    sex: 'FEMALE',
    ssn: '219096789',
    email: `Marisol.${tag}@Example.test`,
    phone: '+1 (415) 555-0142',
    address: { line1: `77 Larkspur Row ${tag}`, city: `Fictionville${tag}`, postalCode: '94110', country: 'us' },
    insuranceMemberId: `MEMBER${tag}4242`,
  },
  full: {
    mrn: `MA-${TAG}-4401`,
    firstName: `Marisol${tag}`,
    lastName: `Thornquist${tag}`,
    dateOfBirth: '1975-09-30',
    sex: 'FEMALE',
    ssn: '219-09-6789',
    email: `marisol.${tag}@example.test`,
    phone: '+14155550142',
    address: { line1: `77 Larkspur Row ${tag}`, city: `Fictionville${tag}`, postalCode: '94110', country: 'US' },
    insuranceMemberId: `MEMBER${tag}4242`,
  },
  partial: { mrn: '**********4401', ssn: '*******6789', firstName: 'M.', lastName: 'T.', dateOfBirth: '1975' },
  encounterReason: `Chest pain on exertion ${tag}`,
};

const B: Fixture = {
  input: {
    mrn: `MB-${TAG}-5502`,
    firstName: `Bertrand${tag}`,
    lastName: `Okonkwo${tag}`,
    dateOfBirth: '1988-02-14',
    sex: 'MALE',
    ssn: '219-09-4321',
    email: `bertrand.${tag}@example.test`,
    phone: '+44 20 7946 0000',
    address: { line1: `12 Quayside Lane ${tag}`, city: `Imaginaria${tag}`, postalCode: 'EC1A 1BB', country: 'GB' },
    insuranceMemberId: `MEMBER${tag}9191`,
  },
  full: {
    mrn: `MB-${TAG}-5502`,
    firstName: `Bertrand${tag}`,
    lastName: `Okonkwo${tag}`,
    dateOfBirth: '1988-02-14',
    sex: 'MALE',
    ssn: '219-09-4321',
    email: `bertrand.${tag}@example.test`,
    phone: '+442079460000',
    address: { line1: `12 Quayside Lane ${tag}`, city: `Imaginaria${tag}`, postalCode: 'EC1A 1BB', country: 'GB' },
    insuranceMemberId: `MEMBER${tag}9191`,
  },
  partial: { mrn: '**********5502', ssn: '*******4321', firstName: 'B.', lastName: 'O.', dateOfBirth: '1988' },
  encounterReason: `Asthma review ${tag}`,
};

const FIXTURES: Record<Target, Fixture> = { A, B };
const FIELDS = `id mrn firstName lastName dateOfBirth sex ssn email phone address { line1 city postalCode country } insuranceMemberId`;
const READ = `query Read($id: ID!) { patient(id: $id) { ${FIELDS} } }`;
const ENCOUNTERS = `query Encounters($id: ID!) { patient(id: $id) { id encounters { id reason patient { ${FIELDS} } } } }`;
// Only A and B exist while the reads run; ten per page stays within the cost limit.
const LIST = `{ patients(first: 10) { nodes { ${FIELDS} encounters { id } } pageInfo { hasNextPage } } }`;
const FIND = `query Find($ssn: String) { findPatients(ssn: $ssn) { ${FIELDS} } }`;
const CREATE = `mutation Create($input: PatientInput!) { createPatient(input: $input) { ${FIELDS} } }`;
const UPDATE = `mutation Update($id: ID!, $input: PatientUpdateInput!) { updatePatient(id: $id, input: $input) { ${FIELDS} } }`;
const ENCOUNTER = `mutation Enc($input: EncounterInput!) { createEncounter(input: $input) { id reason patient { id } } }`;
const ASSIGN = `mutation Assign($patientId: ID!, $userId: ID!) { assignCareTeam(patientId: $patientId, userId: $userId) }`;
const GRANT = `mutation Grant($input: ConsentInput!) { grantConsent(input: $input) { given } }`;
const WITHDRAW = `mutation Withdraw($patientId: ID!) { withdrawConsent(patientId: $patientId, type: DATA_SHARING) { given } }`;
const CREATE_USER = `mutation CreateUser($input: CreateUserInput!) { createUser(input: $input) { id scopes } }`;

const CALLERS = Object.keys(MATRIX) as Caller[];
const TARGETS: Target[] = ['A', 'B'];
const REFUSALS: string[] = [F, N, U];

let app: TestApp;
const tokens = new Map<Caller, string>();
const ids = {} as Record<Target, string>;
const encounterIds = {} as Record<Target, string>;
/** Every response body each caller received, for the scans at the end. */
const seen = new Map<Caller, string[]>();

async function ask(caller: Caller, query: string, variables: Record<string, unknown> = {}): Promise<GqlResponse> {
  const res = await app.gql(query, variables, tokens.get(caller));
  seen.set(caller, [...(seen.get(caller) ?? []), JSON.stringify(res.body)]);
  return res;
}

/** What `shape` shows of a patient, field by field. */
function expected(shape: Shape, target: Target | Fixture): Record<string, unknown> {
  const fixture = typeof target === 'string' ? FIXTURES[target] : target;
  const out: Record<string, unknown> = {};
  for (const field of PATIENT_FIELDS) {
    const form = SHAPES[shape][field];
    out[field] = form === 'full' ? fixture.full[field] : form === 'partial' ? (fixture.partial[field] ?? null) : null;
  }
  return out;
}

function withoutId(patient: Record<string, unknown>): Record<string, unknown> {
  const { id: _id, ...rest } = patient;
  return rest;
}

/** A refused request: the code, no data, and for NOT_FOUND the very answer a patient that does not exist gets. */
async function expectRefused(res: GqlResponse, code: Refusal, missing?: () => Promise<GqlResponse>): Promise<void> {
  expect(codeOf(res)).toBe(code);
  expect(res.body.errors).toHaveLength(1);
  expect(res.body.data ?? null).toBeNull();
  if (code === N && missing) expect(res.body).toEqual((await missing()).body);
}

async function setUp(): Promise<void> {
  app = await startTestApp();
  const accounts = new Map<string, TestAccount>();
  for (const role of [
    'ADMIN',
    'PHYSICIAN',
    'NURSE',
    'RECEPTIONIST',
    'BILLING',
    'AUDITOR',
    'PRIVACY_OFFICER',
  ] as Role[]) {
    accounts.set(role, await createAccount(app, role));
    tokens.set(role, (await signIn(app, accounts.get(role)!)).accessToken);
  }
  const otherPhysician = await createAccount(app, 'PHYSICIAN');
  const otherPhysicianToken = (await signIn(app, otherPhysician)).accessToken;

  // Integrators through the contract's createUser, with and without the scope.
  for (const [caller, scopes] of [
    ['INTEGRATOR', ['patients:read']],
    ['INTEGRATOR_NO_SCOPE', []],
  ] as const) {
    const input = {
      email: testEmail('integrator'),
      password: testPassword(),
      role: 'INTEGRATOR',
      displayName: 'Partner feed',
      scopes,
    };
    const created = await ask('ADMIN', CREATE_USER, { input });
    expect(created.body.data?.createUser.scopes).toEqual(scopes);
    tokens.set(caller, (await signIn(app, input)).accessToken);
  }

  // Both patients registered at the front desk, so nobody is on either care team yet.
  for (const target of TARGETS) {
    const created = await app.gql(CREATE, { input: FIXTURES[target].input }, tokens.get('RECEPTIONIST'));
    expect(created.body.errors).toBeUndefined();
    ids[target] = created.body.data!.createPatient.id;
  }
  tokens.set('PATIENT', (await signIn(app, await createAccount(app, 'PATIENT', { patientId: ids.A }))).accessToken);

  const assign = async (patientId: string, userId: string) =>
    expect((await app.gql(ASSIGN, { patientId, userId }, tokens.get('ADMIN'))).body.data?.assignCareTeam).toBe(true);
  await assign(ids.A, accounts.get('PHYSICIAN')!.user.id);
  await assign(ids.A, accounts.get('NURSE')!.user.id);
  await assign(ids.B, otherPhysician.user.id);

  const consent = async (query: string, variables: Record<string, unknown>, given: boolean) => {
    // DATA_SHARING opens the record to integrators: only the patient or the privacy office records it.
    const res = await app.gql(query, variables, tokens.get('PRIVACY_OFFICER'));
    expect(res.body.data?.grantConsent?.given ?? res.body.data?.withdrawConsent?.given).toBe(given);
  };
  await consent(GRANT, { input: { patientId: ids.A, type: 'DATA_SHARING', policyVersion: 'share-1' } }, true);
  await consent(GRANT, { input: { patientId: ids.B, type: 'DATA_SHARING', policyVersion: 'share-1' } }, true);
  await consent(WITHDRAW, { patientId: ids.B }, false);

  const encounter = async (target: Target, token: string) => {
    const input = { patientId: ids[target], reason: FIXTURES[target].encounterReason, diagnosisCodes: ['J45.909'] };
    const res = await app.gql(ENCOUNTER, { input }, token);
    expect(res.body.errors).toBeUndefined();
    encounterIds[target] = res.body.data!.createEncounter.id;
  };
  await encounter('A', tokens.get('PHYSICIAN')!);
  await encounter('B', otherPhysicianToken);
}

beforeAll(setUp);

afterAll(async () => {
  await app?.close();
});

describe.each(CALLERS)('%s reading', (caller) => {
  const row = MATRIX[caller];
  const missing = (query: string) => () => app.gql(query, { id: MISSING }, tokens.get(caller));

  it.each(TARGETS)('patient(id) of %s answers as the matrix says', async (target) => {
    const outcome = row.patient[target];
    const res = await ask(caller, READ, { id: ids[target] });

    if (REFUSALS.includes(outcome)) return expectRefused(res, outcome as Refusal, missing(READ));
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data!.patient).toEqual({ id: ids[target], ...expected(outcome as Shape, target) });
  });

  it.each(TARGETS)('Patient.encounters and Encounter.patient of %s answer as the matrix says', async (target) => {
    const listed = row.encounters[target];
    const nested = row.encounterPatient[target];
    const res = await ask(caller, ENCOUNTERS, { id: ids[target] });

    if (REFUSALS.includes(listed)) {
      expect(nested).toBe(listed);
      return expectRefused(res, listed as Refusal, missing(ENCOUNTERS));
    }
    expect(res.body.errors).toBeUndefined();
    const encounters = res.body.data!.patient.encounters as {
      id: string;
      reason: string;
      patient: Record<string, unknown>;
    }[];
    if (listed === 'EMPTY') {
      expect(nested).toBe('UNREACHED');
      expect(encounters).toEqual([]);
      return;
    }
    expect(encounters.map((e) => [e.id, e.reason])).toEqual([[encounterIds[target], FIXTURES[target].encounterReason]]);
    expect(encounters[0].patient).toEqual({ id: ids[target], ...expected(nested as Shape, target) });
  });

  it('patients lists exactly the reachable patients, each with the fields and encounters the direct read shows', async () => {
    const outcome = row.patients;
    const res = await ask(caller, LIST);

    if (typeof outcome === 'string') return expectRefused(res, outcome);
    expect(res.body.errors).toBeUndefined();
    const nodes = res.body.data!.patients.nodes as Record<string, unknown>[];
    expect(nodes.map((p) => p.id)).toEqual(outcome.map((t) => ids[t]));
    for (const target of outcome) {
      const encounters = row.encounters[target] === 'VISIBLE' ? [{ id: encounterIds[target] }] : [];
      expect(nodes.find((p) => p.id === ids[target])).toEqual({
        id: ids[target],
        ...expected(row.patient[target] as Shape, target),
        encounters,
      });
    }
    expect(res.body.data!.patients.pageInfo.hasNextPage).toBe(false);
  });

  it.each(TARGETS)('findPatients by the SSN of %s answers as the matrix says', async (target) => {
    const outcome = row.findPatients[target];
    const res = await ask(caller, FIND, { ssn: FIXTURES[target].full.ssn });

    if (typeof outcome === 'string') return expectRefused(res, outcome);
    expect(res.body.errors).toBeUndefined();
    const found = res.body.data!.findPatients as Record<string, unknown>[];
    expect(found.map((p) => p.id)).toEqual(outcome.map((t) => ids[t]));
    for (const t of outcome)
      expect(withoutId(found.find((p) => p.id === ids[t])!)).toEqual(expected(row.patient[t] as Shape, t));
  });
});

describe('what list, search and nested paths reveal', () => {
  it('are, in the matrix itself, never wider than the direct read of the same patient', () => {
    for (const caller of CALLERS) {
      const row = MATRIX[caller];
      const reachable = TARGETS.filter((t) => !REFUSALS.includes(row.patient[t]));
      const listed = Array.isArray(row.patients) ? row.patients : [];
      const found = TARGETS.flatMap((t) => {
        const outcome = row.findPatients[t];
        return Array.isArray(outcome) ? outcome : [];
      });
      for (const target of [...listed, ...found]) {
        expect({ caller, target, reachable: reachable.includes(target) }).toEqual({ caller, target, reachable: true });
      }
      for (const target of TARGETS) {
        if (!REFUSALS.includes(row.patient[target])) continue;
        expect({ caller, target, nested: row.encounterPatient[target] }).toEqual({
          caller,
          target,
          nested: row.patient[target],
        });
      }
    }
  });

  it('tells a physician there is no next page after A although B exists', async () => {
    const res = await ask('PHYSICIAN', '{ patients(first: 1) { nodes { id } pageInfo { hasNextPage } } }');
    expect(res.body.data!.patients).toEqual({ nodes: [{ id: ids.A }], pageInfo: { hasNextPage: false } });
  });

  it('finds nothing for a physician searching the last name and birth date of B', async () => {
    const res = await ask(
      'PHYSICIAN',
      'query($n: String, $d: Date) { findPatients(lastName: $n, dateOfBirth: $d) { id } }',
      {
        n: B.full.lastName,
        d: B.full.dateOfBirth,
      },
    );
    expect(res.body.data!.findPatients).toEqual([]);
  });
});

describe.each(CALLERS)('%s writing', (caller) => {
  const row = MATRIX[caller];

  async function count(table: string, where = 'true', params: unknown[] = []): Promise<number> {
    const [result] = await sql<{ n: string }>(app, `SELECT count(*) AS n FROM ${table} WHERE ${where}`, params);
    return Number(result.n);
  }

  it('createPatient answers as the matrix says and writes nothing when refused', async () => {
    // One MRN per caller (MRNs are unique): MC-, MD-, ... of the same length, so the masked form is fixed.
    const mrn = `M${String.fromCharCode(67 + CALLERS.indexOf(caller))}-${TAG}-7000`;
    const newcomer: Fixture = {
      input: { mrn, firstName: `Cecily${tag}`, lastName: `Newcomb${tag}`, dateOfBirth: '2001-04-05', sex: 'OTHER' },
      full: {
        mrn,
        firstName: `Cecily${tag}`,
        lastName: `Newcomb${tag}`,
        dateOfBirth: '2001-04-05',
        sex: 'OTHER',
        ssn: null,
        email: null,
        phone: null,
        address: null,
        insuranceMemberId: null,
      },
      partial: { mrn: '**********7000', firstName: 'C.', lastName: 'N.', dateOfBirth: '2001' },
      encounterReason: '',
    };
    const before = await count('patients');
    const res = await ask(caller, CREATE, { input: newcomer.input });

    const outcome = row.createPatient;
    if (REFUSALS.includes(outcome)) {
      await expectRefused(res, outcome as Refusal);
      expect(await count('patients')).toBe(before);
      return;
    }
    expect(res.body.errors).toBeUndefined();
    expect(withoutId(res.body.data!.createPatient)).toEqual(expected(outcome as Shape, newcomer));
  });

  it.each(TARGETS)(
    'updatePatient of %s answers as the matrix says and changes nothing when refused',
    async (target) => {
      const [before] = await sql<{ updated_at: Date }>(app, 'SELECT updated_at FROM patients WHERE id = $1', [
        ids[target],
      ]);
      const variables = { id: ids[target], input: { phone: FIXTURES[target].full.phone } };
      const res = await ask(caller, UPDATE, variables);

      const outcome = row.updatePatient[target];
      if (REFUSALS.includes(outcome)) {
        await expectRefused(res, outcome as Refusal, () =>
          app.gql(UPDATE, { ...variables, id: MISSING }, tokens.get(caller)),
        );
        const [after] = await sql<{ updated_at: Date }>(app, 'SELECT updated_at FROM patients WHERE id = $1', [
          ids[target],
        ]);
        expect(after.updated_at).toEqual(before.updated_at);
        return;
      }
      expect(res.body.errors).toBeUndefined();
      expect(res.body.data!.updatePatient).toEqual({ id: ids[target], ...expected(outcome as Shape, target) });
    },
  );

  it.each(TARGETS)(
    'createEncounter for %s answers as the matrix says and records nothing when refused',
    async (target) => {
      const before = await count('encounters', 'patient_id = $1', [ids[target]]);
      const input = { patientId: ids[target], reason: `Follow-up ${tag} by ${caller}`, diagnosisCodes: ['Z09'] };
      const res = await ask(caller, ENCOUNTER, { input });

      const outcome = row.createEncounter[target];
      if (REFUSALS.includes(outcome)) {
        const missing = () => app.gql(ENCOUNTER, { input: { ...input, patientId: MISSING } }, tokens.get(caller));
        await expectRefused(res, outcome as Refusal, missing);
        expect(await count('encounters', 'patient_id = $1', [ids[target]])).toBe(before);
        return;
      }
      expect(res.body.errors).toBeUndefined();
      expect(res.body.data!.createEncounter).toMatchObject({ reason: input.reason, patient: { id: ids[target] } });
      expect(await count('encounters', 'patient_id = $1', [ids[target]])).toBe(before + 1);
    },
  );
});

describe('every response of this file', () => {
  /** Values of a patient that `shape` withholds (in full); sex is left out, its values are substrings of each other. */
  function withheld(shape: Shape | Refusal, encounters: string, target: Target): string[] {
    const fixture = FIXTURES[target];
    const out: string[] = [];
    for (const field of PATIENT_FIELDS) {
      if (field === 'sex') continue;
      const form = REFUSALS.includes(shape) ? null : SHAPES[shape as Shape][field];
      if (form === 'full') continue;
      const value = fixture.full[field];
      if (field === 'address')
        out.push(...Object.values(value as Record<string, string>).filter((v) => v.includes(tag)));
      else out.push(String(value));
      if (field === 'ssn') out.push(String(value).replace(/-/g, ''));
    }
    if (encounters !== 'VISIBLE') out.push(fixture.encounterReason, encounterIds[target]);
    if (REFUSALS.includes(shape)) out.push(ids[target]);
    return out;
  }

  it('never carried a value the matrix withholds from that caller, nor any ciphertext', () => {
    for (const caller of CALLERS) {
      const bodies = seen.get(caller) ?? [];
      expect(bodies.length).toBeGreaterThan(0);
      const text = bodies.join('\n');
      expect(text).not.toContain('phi1.');
      for (const target of TARGETS) {
        // The scan reads real answers: what the caller may see of a reached patient is in them.
        const shape = MATRIX[caller].patient[target];
        if (!REFUSALS.includes(shape)) expect(text).toContain(String(expected(shape as Shape, target).lastName));
        for (const value of withheld(MATRIX[caller].patient[target], MATRIX[caller].encounters[target], target)) {
          expect({ caller, target, leaked: text.includes(value) ? value : null }).toEqual({
            caller,
            target,
            leaked: null,
          });
        }
      }
    }
  });
});
