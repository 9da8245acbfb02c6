import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { countTokens } from '../../src/graphql/limits';
import { LOGIN, codeOf, createAccount, signIn, sql, type TestAccount } from '../support/accounts';
import { startTestApp, type GqlResponse, type TestApp } from '../support/app';

const tag = randomBytes(3).toString('hex');
const GENERIC = 'The request is too large or too complex';
const INPUT = `{ firstName: "Limit${tag}", lastName: "Tester${tag}", dateOfBirth: "1980-01-01", sex: OTHER }`;
/** Registers a patient: proof, by the row it writes, of whether a refused document ran at all. */
const CREATE = (selection = 'id', alias = '') =>
  `${alias ? `${alias}: ` : ''}createPatient(input: ${INPUT}) { ${selection} }`;
/** A sign-in two levels deep and of cost 2, for a server whose limits are set lower than LOGIN needs. */
const SIGN_IN =
  'mutation SignIn($email: String!, $password: String!) { login(email: $email, password: $password) { accessToken } }';
const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/** POSTs any JSON body (persisted queries, operation names, batches). */
async function postJson(app: TestApp, body: unknown, token?: string): Promise<GqlResponse & { text: string }> {
  const res = await fetch(`${app.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text), headers: res.headers, text };
}

function persisted(hash: string, query?: string, variables?: Record<string, unknown>) {
  return { query, variables, extensions: { persistedQuery: { version: 1, sha256Hash: hash } } };
}

async function patientCount(app: TestApp): Promise<number> {
  const [row] = await sql<{ n: number }>(app, 'SELECT count(*)::int AS n FROM patients');
  return row.n;
}

function expectTooComplex(res: GqlResponse): void {
  expect(res.status).toBe(400);
  expect(res.body.data).toBeUndefined();
  expect(res.body.errors).toEqual([{ message: GENERIC, extensions: { code: 'QUERY_TOO_COMPLEX' } }]);
}

/** Sends a document that must be refused and checks that nothing in it ran: no patient was written. */
async function expectRefusedBeforeExecution(app: TestApp, send: () => Promise<GqlResponse>): Promise<GqlResponse> {
  const before = await patientCount(app);
  const res = await send();
  expectTooComplex(res);
  expect(JSON.stringify(res.body)).not.toContain(tag);
  expect(await patientCount(app)).toBe(before);
  return res;
}

/** Sends a document that must pass the limits and run: one patient more afterwards. */
async function expectRan(app: TestApp, send: () => Promise<GqlResponse>): Promise<GqlResponse> {
  const before = await patientCount(app);
  const res = await send();
  expect(res.body.errors).toBeUndefined();
  expect(res.status).toBe(200);
  expect(await patientCount(app)).toBe(before + 1);
  return res;
}

/** Unused query operations of 5 and 6 tokens that bring `document` to exactly `tokens` tokens. */
function padToTokens(document: string, tokens: number): string {
  const missing = tokens - countTokens(document);
  const six = missing % 5;
  const five = (missing - 6 * six) / 5;
  const pads = [
    ...Array.from({ length: five }, (_, i) => `query Pad${i} { health }`),
    ...Array.from({ length: six }, (_, i) => `query Six${i} { health __typename }`),
  ];
  const padded = `${document}\n${pads.join('\n')}`;
  expect(countTokens(padded)).toBe(tokens);
  return padded;
}

/** `document` followed by a comment that brings it to exactly `bytes` bytes. */
function padToBytes(document: string, bytes: number): string {
  const head = `${document}\n#`;
  return head + 'x'.repeat(bytes - Buffer.byteLength(head));
}

describe('abuse limits with the default settings', () => {
  let app: TestApp;
  let receptionist: TestAccount;
  let token: string;

  beforeAll(async () => {
    app = await startTestApp();
    receptionist = await createAccount(app, 'RECEPTIONIST');
    token = (await signIn(app, receptionist)).accessToken;
  });

  afterAll(async () => {
    await app?.close();
  });

  describe('aliases', () => {
    const withAliases = (count: number) =>
      `mutation { ${CREATE('id', 'p')} ${Array.from({ length: count - 1 }, (_, i) => `t${i}: __typename`).join(' ')} }`;

    it('runs a document with 15 aliases', async () => {
      const res = await expectRan(app, () => app.gql(withAliases(15), {}, token));
      expect(res.body.data!.p.id).toBeDefined();
    });

    it('refuses 16 aliases with QUERY_TOO_COMPLEX and 400 before anything runs', async () => {
      await expectRefusedBeforeExecution(app, () => app.gql(withAliases(16), {}, token));
    });

    it('refuses the same document each time it comes again, and runs the allowed one each time (kept verdicts)', async () => {
      for (let i = 0; i < 3; i++) {
        await expectRefusedBeforeExecution(app, () => app.gql(withAliases(16), {}, token));
        await expectRan(app, () => app.gql(withAliases(15), {}, token));
      }
    });
  });

  describe('directives', () => {
    const directives = ['@include(if: true)', '@skip(if: false)', '@include(if: true)', '@skip(if: false)'];
    const withDirectives = (count: number) =>
      `mutation { createPatient(input: ${INPUT}) ${directives.slice(0, count).join(' ')} { id } }`;

    it('lets three directives on a field through to validation (which allows each directive once)', async () => {
      const before = await patientCount(app);
      const res = await app.gql(withDirectives(3), {}, token);
      expect(res.status).toBe(400);
      expect(codeOf(res)).toBe('GRAPHQL_VALIDATION_FAILED');
      expect(await patientCount(app)).toBe(before);
    });

    it('refuses four directives on a field with QUERY_TOO_COMPLEX before validation', async () => {
      await expectRefusedBeforeExecution(app, () => app.gql(withDirectives(4), {}, token));
    });
  });

  describe('tokens', () => {
    const run = (query: string) => postJson(app, { query, operationName: 'Run' }, token);

    it('runs a document of exactly 2000 tokens', async () => {
      await expectRan(app, () => run(padToTokens(`mutation Run { ${CREATE()} }`, 2000)));
    });

    it('refuses 2001 tokens before parsing', async () => {
      await expectRefusedBeforeExecution(app, () => run(padToTokens(`mutation Run { ${CREATE()} }`, 2001)));
    });
  });

  describe('document size', () => {
    it('runs a document of exactly 20480 bytes', async () => {
      await expectRan(app, () => app.gql(padToBytes(`mutation { ${CREATE()} }`, 20480), {}, token));
    });

    it('refuses 20481 bytes before reading it', async () => {
      await expectRefusedBeforeExecution(app, () => app.gql(padToBytes(`mutation { ${CREATE()} }`, 20481), {}, token));
    });
  });

  describe('depth', () => {
    const nested = (depth: number) => `{ ${'a { '.repeat(depth - 1)}leaf${' }'.repeat(depth - 1)} }`;

    it('passes 8 levels on to validation and refuses 9 with QUERY_TOO_COMPLEX before it', async () => {
      const atLimit = await app.gql(nested(8));
      expect(codeOf(atLimit)).toBe('GRAPHQL_VALIDATION_FAILED');
      expectTooComplex(await app.gql(nested(9)));
    });
  });

  describe('cost', () => {
    const fields = 'id mrn firstName lastName dateOfBirth sex ssn email phone createdAt';
    const PAGE = `query Page($first: Int!) { patients(first: $first) { count nodes { ${fields} encounters { id } } } }`;

    it('answers a page whose cost is exactly the budget of 5000', async () => {
      const res = await app.gql(PAGE, { first: 98 }, token);
      expect(res.status).toBe(200);
      expect(res.body.errors).toBeUndefined();
      expect(Array.isArray(res.body.data!.patients.nodes)).toBe(true);
    });

    it('refuses one patient more per page (cost 5051), weighing the variable', async () => {
      expectTooComplex(await app.gql(PAGE, { first: 99 }, token));
    });

    it('counts first above 100 as 100', async () => {
      expectTooComplex(await app.gql(PAGE, { first: 100000 }, token));
    });
  });

  describe('sign-in and card fields', () => {
    it('runs one login in an operation', async () => {
      const res = await app.gql(LOGIN, { email: receptionist.email, password: receptionist.password });
      expect(res.body.data!.login.accessToken).toEqual(expect.any(String));
    });

    it('refuses an operation that tries two logins, and runs none of it', async () => {
      const attempt = (alias: string, password: string) =>
        `${alias}: login(email: "${receptionist.email}", password: "${password}") { accessToken }`;
      const query = `mutation { ${CREATE()} ${attempt('first', 'Guess-One-000')} ${attempt('second', receptionist.password)} }`;
      const res = await expectRefusedBeforeExecution(app, () => app.gql(query, {}, token));
      expect(JSON.stringify(res.body)).not.toContain(receptionist.email);
    });
  });

  describe('a thousand conflicting fields', () => {
    const attacks = [
      `{ ${'health '.repeat(1000)} }`,
      `{ ${Array.from({ length: 1000 }, (_, i) => `a: patient(id: "${i}") { id }`).join(' ')} }`,
      `{ ${Array.from({ length: 220 }, () => 'patient(id: "1") { id }').join(' ')} }`,
    ];

    it.each(attacks.map((query) => [query.slice(0, 30), query]))(
      'refuses %s… in well under a second',
      async (_name, query) => {
        const started = Date.now();
        const res = await app.gql(query);
        expect(Date.now() - started).toBeLessThan(1000);
        expectTooComplex(res);
      },
    );

    it("keeps answering another client's simple query while the attack goes on", async () => {
      const started = Date.now();
      const attack = Array.from({ length: 30 }, (_, i) => app.gql(attacks[i % attacks.length]));
      const simple = Array.from({ length: 5 }, () =>
        app.gql('{ health }', undefined, undefined, { 'x-request-id': `other-client-${tag}` }),
      );
      const [refused, answered] = await Promise.all([Promise.all(attack), Promise.all(simple)]);

      for (const res of answered) expect(res.body).toEqual({ data: { health: 'ok' } });
      for (const res of refused) expectTooComplex(res);
      expect(Date.now() - started).toBeLessThan(5000);
    });

    it('logs which limit refused the request, never the document', async () => {
      const res = await app.gql(attacks[0]);
      const id = res.headers.get('x-request-id');
      const entry = app.logs.lines.map((line) => JSON.parse(line)).find((line) => line.requestId === id && line.limit);
      expect(entry).toMatchObject({ limit: 'sameNameSelections', actual: 1000, max: 10, level: 40 });
      expect(app.logs.text()).not.toContain('health health');
    });
  });

  describe('requests graphql cannot read', () => {
    it('answers a parse error with 400 and a message that does not echo the document', async () => {
      const secret = `xyzzy${tag}`;
      const res = await app.gql(`{ health ${secret}( }`);
      expect(res.status).toBe(400);
      expect(res.body.errors).toEqual([
        {
          message: 'Syntax error in the GraphQL document',
          locations: [expect.any(Object)],
          extensions: { code: 'GRAPHQL_PARSE_FAILED' },
        },
      ]);
      expect(JSON.stringify(res.body)).not.toContain(secret);
    });

    it('refuses a batch (a JSON array) with 400 and runs none of it', async () => {
      const before = await patientCount(app);
      const res = await postJson(
        app,
        [{ query: `mutation { ${CREATE()} }` }, { query: `mutation { ${CREATE()} }` }],
        token,
      );
      expect(res.status).toBe(400);
      expect(res.text).not.toContain(tag);
      expect(await patientCount(app)).toBe(before);
    });

    it('never runs a GET request, within the limits or not (GraphQL is POST only)', async () => {
      const query = `{ ${'health '.repeat(11)}}`;
      const res = await fetch(`${app.url}/graphql?query=${encodeURIComponent(query)}`, {
        headers: { 'apollo-require-preflight': 'true' },
      });
      expect(res.status).toBe(405);
      expect(((await res.json()) as GqlResponse['body']).data).toBeUndefined();
    });
  });

  describe('automatic persisted queries', () => {
    it('registers a document within the limits and runs it by hash afterwards', async () => {
      const query = `{ health me { id } }`;
      const hash = sha256(query);

      const unknown = await postJson(app, persisted(hash), token);
      expect(codeOf(unknown)).toBe('PERSISTED_QUERY_NOT_FOUND');
      expect((await postJson(app, persisted(hash, query), token)).body.data).toEqual({
        health: 'ok',
        me: { id: receptionist.user.id },
      });
      expect((await postJson(app, persisted(hash), token)).body.data).toEqual({
        health: 'ok',
        me: { id: receptionist.user.id },
      });
    });

    it('does not register a document over the limits, so its hash alone runs nothing later', async () => {
      const query = `mutation { ${CREATE('id', 'p')} ${Array.from({ length: 15 }, (_, i) => `t${i}: __typename`).join(' ')} }`;
      const hash = sha256(query);
      const before = await patientCount(app);

      expectTooComplex(await postJson(app, persisted(hash, query), token));
      const later = await postJson(app, persisted(hash), token);

      expect(codeOf(later)).toBe('PERSISTED_QUERY_NOT_FOUND');
      expect(later.body.data).toBeUndefined();
      expect(await patientCount(app)).toBe(before);
    });

    it('does not register a document over the cost budget (checked after validation)', async () => {
      const query = `{ patients(first: 100) { nodes { id mrn firstName lastName encounters { id reason notes } } } }`;
      const hash = sha256(query);

      expectTooComplex(await postJson(app, persisted(hash, query), token));
      expect(codeOf(await postJson(app, persisted(hash), token))).toBe('PERSISTED_QUERY_NOT_FOUND');
    });
  });
});

describe('abuse limits set low (QUERY_MAX_DEPTH=2, QUERY_MAX_COST=10)', () => {
  let app: TestApp;
  let token: string;

  beforeAll(async () => {
    app = await startTestApp({ QUERY_MAX_DEPTH: '2', QUERY_MAX_COST: '10' });
    const account = await createAccount(app, 'RECEPTIONIST');
    token = (await app.gql(SIGN_IN, { email: account.email, password: account.password })).body.data!.login.accessToken;
  });

  afterAll(async () => {
    await app?.close();
  });

  it('runs a mutation two levels deep and refuses one three levels deep before it runs', async () => {
    await expectRan(app, () => app.gql(`mutation { ${CREATE('id')} }`, {}, token));
    await expectRefusedBeforeExecution(app, () => app.gql(`mutation { ${CREATE('id address { city }')} }`, {}, token));
  });

  it('runs a mutation of cost 10 and refuses cost 11 before it runs', async () => {
    const nine = 'id mrn firstName lastName dateOfBirth sex ssn email phone';
    await expectRan(app, () => app.gql(`mutation { ${CREATE(nine)} }`, {}, token));
    await expectRefusedBeforeExecution(app, () => app.gql(`mutation { ${CREATE(`${nine} createdAt`)} }`, {}, token));
  });

  it('refuses to register an over-cost mutation through APQ, and its hash runs nothing later', async () => {
    const query = `mutation { ${CREATE('id mrn firstName lastName dateOfBirth sex ssn email phone createdAt')} }`;
    const hash = sha256(query);
    await expectRefusedBeforeExecution(app, () => postJson(app, persisted(hash, query), token));

    const before = await patientCount(app);
    const later = await postJson(app, persisted(hash), token);
    expect(codeOf(later)).toBe('PERSISTED_QUERY_NOT_FOUND');
    expect(await patientCount(app)).toBe(before);
  });
});

describe('PERSISTED_QUERIES=off', () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp({ PERSISTED_QUERIES: 'off' });
  });

  afterAll(async () => {
    await app?.close();
  });

  it('refuses persisted queries and still answers documents', async () => {
    const query = '{ health }';
    expect(codeOf(await postJson(app, persisted(sha256(query), query)))).toBe('PERSISTED_QUERY_NOT_SUPPORTED');
    expect((await app.gql(query)).body).toEqual({ data: { health: 'ok' } });
  });
});

describe('PERSISTED_QUERIES=only (an allow-list from a manifest)', () => {
  const HEALTH = '{ health }';
  const REGISTER = 'mutation Register($input: PatientInput!) { createPatient(input: $input) { id } }';
  const input = { firstName: `Listed${tag}`, lastName: `Tester${tag}`, dateOfBirth: '1980-01-01', sex: 'OTHER' };
  let app: TestApp;
  let token: string;

  beforeAll(async () => {
    const manifest = join(mkdtempSync(join(tmpdir(), 'hms-manifest-')), 'operations.json');
    // The client's sign-in operation is one of its listed operations.
    writeFileSync(
      manifest,
      JSON.stringify(Object.fromEntries([HEALTH, REGISTER, LOGIN].map((query) => [sha256(query), query]))),
    );
    app = await startTestApp({ PERSISTED_QUERIES: 'only', PERSISTED_QUERIES_MANIFEST: manifest });
    token = (await signIn(app, await createAccount(app, 'RECEPTIONIST'))).accessToken;
  });

  afterAll(async () => {
    await app?.close();
  });

  function expectForbidden(res: GqlResponse): void {
    expect(res.status).toBe(403);
    expect(res.body.data).toBeUndefined();
    expect(res.body.errors).toEqual([
      { message: 'Only registered operations are accepted', extensions: { code: 'FORBIDDEN' } },
    ]);
  }

  it('runs a listed operation by its hash', async () => {
    expect((await postJson(app, persisted(sha256(HEALTH)))).body).toEqual({ data: { health: 'ok' } });
    await expectRan(app, () => postJson(app, persisted(sha256(REGISTER), undefined, { input }), token));
  });

  it('runs a listed operation sent as its exact text', async () => {
    expect((await app.gql(HEALTH)).body).toEqual({ data: { health: 'ok' } });
  });

  it('refuses any other document with FORBIDDEN and 403, without running it', async () => {
    const before = await patientCount(app);
    expectForbidden(await app.gql(`mutation { ${CREATE()} }`, {}, token));
    expectForbidden(await app.gql('{  health }'));
    expect(await patientCount(app)).toBe(before);
  });

  it('refuses an unknown hash, and an attempt to register one', async () => {
    const query = '{ health me { id } }';
    expectForbidden(await postJson(app, persisted(sha256(query)), token));
    expectForbidden(await postJson(app, persisted(sha256(query), query), token));
    expectForbidden(await postJson(app, persisted(sha256(query)), token));
  });
});
