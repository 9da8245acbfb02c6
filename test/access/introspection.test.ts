import { randomBytes } from 'node:crypto';
import { buildClientSchema, getIntrospectionQuery, graphql, parse, type GraphQLSchema } from 'graphql';

import type { Role } from '../../src/config/roles';
import { INTEGRATOR_SCOPES } from '../../src/access/access.service';
import { buildExecutableSchema } from '../../src/graphql/schema';
import { SCHEMA_READ_SCOPE, mayIntrospect, selectsIntrospection } from '../../src/graphql/introspection.plugin';
import { Sex } from '../../src/patients/patient.entity';
import { LOGIN, codeAt, codeOf, createAccount, testEmail, testPassword, type TestAccount } from '../support/accounts';
import { productionOverrides, startTestApp, type GqlResponse, type TestApp } from '../support/app';

const ENROLL = `mutation Enroll($challenge: String) { enrollTotp(challengeToken: $challenge) { secret } }`;
const CONFIRM = `mutation Confirm($code: String!, $challenge: String) {
  confirmTotp(code: $code, challengeToken: $challenge) { auth { accessToken } }
}`;
const SCHEMA = '{ __schema { queryType { name } types { name } } }';

/** Ways to ask for the schema: plainly, by type, aliased, and hidden in fragments. */
const INTROSPECTION_QUERIES: Record<string, string> = {
  __schema: SCHEMA,
  __type: '{ __type(name: "Patient") { fields { name } } }',
  'an alias': '{ health shape: __schema { types { name } } }',
  'a named fragment': 'query { ...Peek } fragment Peek on Query { __type(name: "Patient") { name } }',
  'an inline fragment': '{ ... on Query { __schema { types { name } } } }',
  'a fragment inside a fragment':
    'query { ...Outer } fragment Outer on Query { ...Inner } fragment Inner on Query { __schema { types { name } } }',
  'a skipped selection': '{ health __schema @skip(if: true) { types { name } } }',
  'another operation of the same document': 'query Harmless { health } query Peek { __schema { types { name } } }',
};

/** Signs in, enrolling TOTP through the sign-in challenge when the role requires a second factor (production). */
async function signInEnrolling(app: TestApp, account: { email: string; password: string }): Promise<string> {
  const login = (await app.gql(LOGIN, { email: account.email, password: account.password })).body.data!.login;
  if (login.accessToken) return login.accessToken;
  expect(login.mfaEnrollmentRequired).toBe(true);
  const enrolment = (await app.gql(ENROLL, { challenge: login.mfaChallengeToken })).body.data!.enrollTotp;
  const confirmed = await app.gql(CONFIRM, { code: codeAt(enrolment.secret), challenge: login.mfaChallengeToken });
  return confirmed.body.data!.confirmTotp.auth.accessToken;
}

async function integrator(app: TestApp, scopes: string[]): Promise<TestAccount> {
  const email = testEmail('integrator');
  const password = testPassword();
  const user = await app.services.auth.users.create(
    app.services.orm.em.fork(),
    { email, password, role: 'INTEGRATOR', displayName: 'Partner feed', patientId: null, scopes },
    app.logger,
    null,
  );
  return { user, email, password };
}

/** POSTs a document, naming the operation to run when it holds several. */
async function post(app: TestApp, query: string, token?: string, operationName?: string): Promise<GqlResponse> {
  if (!operationName) return app.gql(query, {}, token);
  const res = await fetch(`${app.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, operationName }),
  });
  return { status: res.status, body: (await res.json()) as GqlResponse['body'], headers: res.headers };
}

describe('selectsIntrospection', () => {
  it.each(Object.entries(INTROSPECTION_QUERIES))('finds introspection in %s', (_name, query) => {
    expect(selectsIntrospection(parse(query))).toBe(true);
  });

  it('lets __typename and ordinary fields through', () => {
    expect(selectsIntrospection(parse('{ __typename health me { __typename id } }'))).toBe(false);
    expect(selectsIntrospection(parse('query { ...F } fragment F on Query { health }'))).toBe(false);
  });

  it('grants it to ADMIN and to INTEGRATOR accounts with schema:read only', () => {
    expect(INTEGRATOR_SCOPES).toContain(SCHEMA_READ_SCOPE);
    const who = (role: Role, scopes?: string[]) => ({ userId: 'u', sessionId: 's', role, scopes });
    expect(mayIntrospect(who('ADMIN'))).toBe(true);
    expect(mayIntrospect(who('INTEGRATOR', ['schema:read']))).toBe(true);
    expect(mayIntrospect(who('INTEGRATOR', ['patients:read']))).toBe(false);
    expect(mayIntrospect(who('INTEGRATOR'))).toBe(false);
    for (const role of [
      'PHYSICIAN',
      'NURSE',
      'RECEPTIONIST',
      'BILLING',
      'AUDITOR',
      'PRIVACY_OFFICER',
      'PATIENT',
    ] as Role[]) {
      expect(mayIntrospect(who(role, ['schema:read']))).toBe(false);
    }
    expect(mayIntrospect(null)).toBe(false);
  });
});

describe('in production', () => {
  let prod: TestApp;
  const tokens = new Map<string, string>();

  beforeAll(async () => {
    prod = await startTestApp(productionOverrides());
    expect(prod.config.isProduction).toBe(true);
    for (const role of ['ADMIN', 'PHYSICIAN', 'AUDITOR', 'PATIENT'] as Role[]) {
      const account = role === 'PATIENT' ? await patientAccount(prod) : await createAccount(prod, role);
      tokens.set(role, await signInEnrolling(prod, account));
    }
    tokens.set('INTEGRATOR schema:read', await signInEnrolling(prod, await integrator(prod, ['schema:read'])));
    tokens.set('INTEGRATOR patients:read', await signInEnrolling(prod, await integrator(prod, ['patients:read'])));
  });

  afterAll(async () => {
    await prod?.close();
  });

  async function patientAccount(app: TestApp): Promise<TestAccount> {
    const em = app.services.orm.em.fork();
    const lastName = `Vantablack${randomBytes(3).toString('hex')}`;
    const patient = await app.services.patients.create(em, {
      firstName: 'Ione',
      lastName,
      dateOfBirth: '1990-01-01',
      sex: Sex.FEMALE,
    });
    return createAccount(app, 'PATIENT', { patientId: patient.id });
  }

  describe('introspection', () => {
    it.each(Object.entries(INTROSPECTION_QUERIES))(
      'through %s is refused to an anonymous caller with 401',
      async (_name, query) => {
        const res = await post(prod, query, undefined, query.includes('Harmless') ? 'Harmless' : undefined);

        expect(res.status).toBe(401);
        expect(res.headers.get('www-authenticate')).toBe('Bearer');
        expect(codeOf(res)).toBe('UNAUTHENTICATED');
        expect(res.body.data).toBeUndefined();
        expect(res.body.errors).toHaveLength(1);
        expect(res.body.errors![0].extensions).toEqual({ code: 'UNAUTHENTICATED' });
      },
    );

    const REFUSED = ['PHYSICIAN', 'AUDITOR', 'PATIENT', 'INTEGRATOR patients:read'];

    it.each(REFUSED)('is refused to %s with 403 FORBIDDEN, before anything runs', async (who) => {
      for (const query of Object.values(INTROSPECTION_QUERIES)) {
        const res = await post(prod, query, tokens.get(who), query.includes('Harmless') ? 'Harmless' : undefined);

        expect({ query, status: res.status, code: codeOf(res) }).toEqual({ query, status: 403, code: 'FORBIDDEN' });
        expect(res.body.data).toBeUndefined();
        expect(JSON.stringify(res.body)).not.toContain('Patient');
      }
    });

    it.each(['ADMIN', 'INTEGRATOR schema:read'])('is answered in full to %s', async (who) => {
      const res = await prod.gql(getIntrospectionQuery(), {}, tokens.get(who));

      expect(res.status).toBe(200);
      expect(res.body.errors).toBeUndefined();
      const schema = buildClientSchema(res.body.data as never);
      expect(schema.getType('Patient')).toBeDefined();
      expect(schema.getQueryType()?.getFields().patient).toBeDefined();
    });

    it('leaves __typename to everyone', async () => {
      for (const token of [undefined, tokens.get('PHYSICIAN')]) {
        const res = await prod.gql('{ __typename health }', {}, token);
        expect(res.status).toBe(200);
        expect(res.body).toEqual({ data: { __typename: 'Query', health: 'ok' } });
      }
    });
  });

  describe('errors carry no schema suggestions', () => {
    let schema: GraphQLSchema;
    const registration = { firstName: 'Ione', lastName: 'Vantablack', dateOfBirth: '1990-01-01', sex: 'FEMALE' };

    beforeAll(async () => {
      schema = await buildExecutableSchema();
    });

    /** The cases: each one, run through graphql-js directly, does suggest a name (checked first). */
    const CREATE = 'mutation($input: PatientInput!) { createPatient(input: $input) { id } }';
    const CASES: [string, string, Record<string, unknown>][] = [
      ['a misspelt field', '{ healt }', {}],
      ['a misspelt nested field', '{ me { rol } }', {}],
      ['a misspelt argument', '{ patients(frist: 1) { count } }', {}],
      ['a misspelt directive argument', '{ health @include(iff: true) }', {}],
      ['a misspelt type of a variable', 'query($input: PatientInputt!) { health }', {}],
      ['a misspelt type of a fragment', '{ me { ... on Usr { id } } }', {}],
      [
        'a misspelt enum value in the query',
        'mutation { withdrawConsent(patientId: "p", type: DATA_SHARNG) { given } }',
        {},
      ],
      [
        'a misspelt input field in the query',
        'mutation { createPatient(input: { firstNme: "A", lastName: "B", dateOfBirth: "1990-01-01", sex: MALE }) { id } }',
        {},
      ],
      ['a bad enum value in variables', CREATE, { input: { ...registration, sex: 'MALEX' } }],
      ['a misspelt input field in variables', CREATE, { input: { ...registration, sexx: 'MALE' } }],
      [
        'a bad enum value in a variable of its own',
        'mutation($type: ConsentType!) { withdrawConsent(patientId: "p", type: $type) { given } }',
        { type: 'DATA_SHARNG' },
      ],
    ];

    it.each(CASES)('for %s, although graphql-js itself suggests a name', async (_name, query, variables) => {
      const raw = await graphql({ schema, source: query, variableValues: variables, contextValue: {} });
      expect(JSON.stringify(raw.errors)).toContain('Did you mean');

      for (const token of [undefined, tokens.get('PHYSICIAN')]) {
        const res = await prod.gql(query, variables, token);

        expect(res.status).toBe(400);
        expect(res.body.errors!.length).toBeGreaterThan(0);
        expect(JSON.stringify(res.body)).not.toMatch(/did you mean/i);
      }
    });

    it('answers a bad value in variables without echoing it', async () => {
      const res = await prod.gql(CREATE, { input: { ...registration, sex: 'MALEX' } });

      expect(res.body.errors).toHaveLength(1);
      expect(res.body.errors![0]).toMatchObject({
        message: 'Invalid value for a variable or argument',
        extensions: { code: 'BAD_USER_INPUT' },
      });
      expect(JSON.stringify(res.body)).not.toContain('MALEX');
    });

    it('answers a literal of the wrong type without echoing it (regression: validation messages quoted values)', async () => {
      const res = await prod.gql('{ findPatients(ssn: 219099998) { id } }', {}, tokens.get('PHYSICIAN'));

      expect(res.status).toBe(400);
      expect(res.body.errors![0]).toMatchObject({
        message: 'The document is not valid against the schema',
        extensions: { code: 'GRAPHQL_VALIDATION_FAILED' },
      });
      expect((res.body.errors![0] as { locations?: unknown }).locations).toBeDefined();
      expect(JSON.stringify(res.body)).not.toContain('219099998');
    });
  });
});

describe('outside production', () => {
  let dev: TestApp;

  beforeAll(async () => {
    dev = await startTestApp();
  });

  afterAll(async () => {
    await dev?.close();
  });

  it('answers introspection to anyone, anonymous included', async () => {
    expect(dev.config.isProduction).toBe(false);
    const res = await dev.gql(getIntrospectionQuery());

    expect(res.status).toBe(200);
    expect(res.body.errors).toBeUndefined();
    expect(buildClientSchema(res.body.data as never).getType('Patient')).toBeDefined();
  });
});
