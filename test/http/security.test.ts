import { randomBytes } from 'node:crypto';
import { ApolloServer } from '@apollo/server';
import { MikroORM } from '@mikro-orm/postgresql';

import { AppError, badUserInput, createErrorFormatter } from '../../src/graphql/errors';
import { GRAPHIQL_CSP } from '../../src/http/graphiql';
import { ormOptions } from '../../src/db/orm.config';
import { createLogger } from '../../src/logging/logger';
import { CapturedLogs, productionOverrides, startTestApp, type TestApp } from '../support/app';

const PORTAL = 'https://portal.hospital.test';
const BODY_LIMIT = 4096;
const BROWSER_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A fictional value that must never come back to a client: it stands for PHI or a secret in a request. */
const marker = (): string => `SSN-000-00-${randomBytes(4).toString('hex')}`;

let app: TestApp;

beforeAll(async () => {
  app = await startTestApp({
    CORS_ORIGINS: `${PORTAL},https://admin.hospital.test`,
    BODY_LIMIT_BYTES: String(BODY_LIMIT),
  });
});

afterAll(async () => {
  await app?.close();
});

function post(
  url: string,
  body: string,
  headers: Record<string, string> = { 'content-type': 'application/json' },
): Promise<Response> {
  return fetch(url, { method: 'POST', headers, body });
}

function expectSecurityHeaders(res: Response): void {
  expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  expect(res.headers.get('x-frame-options')).toBe('DENY');
  expect(res.headers.get('referrer-policy')).toBe('no-referrer');
  expect(res.headers.get('x-powered-by')).toBeNull();
  expect(res.headers.get('strict-transport-security')).toBeNull();
  const csp = res.headers.get('content-security-policy') ?? '';
  expect(csp).toContain("default-src 'none'");
  expect(csp).toContain("frame-ancestors 'none'");
  expect(csp).not.toContain('unsafe-inline');
  expect(csp).not.toContain('unsafe-eval');
}

describe('security headers', () => {
  it('are on a GraphQL answer, /healthz, /readyz, a 404 and error responses, without HSTS over plain HTTP', async () => {
    const responses = await Promise.all([
      post(`${app.url}/graphql`, JSON.stringify({ query: '{ health }' })),
      fetch(`${app.url}/healthz`),
      fetch(`${app.url}/readyz`),
      fetch(`${app.url}/no-such-page`),
      post(`${app.url}/graphql`, JSON.stringify({ query: '{ noSuchField }' })),
      post(`${app.url}/graphql`, '{"query": '),
      post(`${app.url}/graphql`, JSON.stringify({ query: '{ health }', pad: 'x'.repeat(BODY_LIMIT) })),
    ]);

    expect(responses.map((res) => res.status)).toEqual([200, 200, 200, 404, 400, 400, 413]);
    for (const res of responses) expectSecurityHeaders(res);
  });

  it('keep responses out of caches', async () => {
    const res = await post(`${app.url}/graphql`, JSON.stringify({ query: '{ health }' }));
    expect(res.headers.get('cache-control')).toBe('no-store');
  });

  it('ignore X-Forwarded-Proto from a peer that is not a trusted proxy', async () => {
    const res = await fetch(`${app.url}/healthz`, { headers: { 'x-forwarded-proto': 'https' } });
    expect(res.headers.get('strict-transport-security')).toBeNull();
  });
});

describe('HSTS behind a trusted TLS-terminating proxy', () => {
  let proxied: TestApp;

  beforeAll(async () => {
    proxied = await startTestApp({ TRUST_PROXY: 'loopback' });
  });

  afterAll(async () => {
    await proxied?.close();
  });

  it('is sent when the trusted proxy says the request came over TLS', async () => {
    const res = await fetch(`${proxied.url}/healthz`, { headers: { 'x-forwarded-proto': 'https' } });
    expect(res.headers.get('strict-transport-security')).toMatch(/^max-age=\d{8,}; includeSubDomains$/);
  });

  it('is not sent when the proxy forwarded plain HTTP', async () => {
    const res = await fetch(`${proxied.url}/healthz`, { headers: { 'x-forwarded-proto': 'http' } });
    expect(res.headers.get('strict-transport-security')).toBeNull();
  });
});

describe('CORS', () => {
  it('lets an allowed origin read the answer', async () => {
    const res = await post(`${app.url}/graphql`, JSON.stringify({ query: '{ health }' }), {
      'content-type': 'application/json',
      origin: PORTAL,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe(PORTAL);
    expect(res.headers.get('vary')).toContain('Origin');
    expect(res.headers.get('access-control-allow-credentials')).not.toBe('true');
  });

  it('answers an allowed origin preflight with the methods and headers it may use', async () => {
    const res = await fetch(`${app.url}/graphql`, {
      method: 'OPTIONS',
      headers: {
        origin: PORTAL,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization,content-type',
      },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe(PORTAL);
    expect(res.headers.get('access-control-allow-methods')).toContain('POST');
    expect(res.headers.get('access-control-allow-headers')).toContain('Authorization');
  });

  it('gives another origin no CORS header, so its browser cannot read the answer', async () => {
    const res = await post(`${app.url}/graphql`, JSON.stringify({ query: '{ health }' }), {
      'content-type': 'application/json',
      origin: 'https://evil.example',
    });
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
  });

  it("refuses another origin's preflight with 403", async () => {
    const res = await fetch(`${app.url}/graphql`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    });
    expect(res.status).toBe(403);
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('does not match an origin by prefix or suffix', async () => {
    for (const origin of [
      `${PORTAL}.evil.example`,
      'https://evil-portal.hospital.test',
      PORTAL.replace('https', 'http'),
      'null',
    ]) {
      const res = await fetch(`${app.url}/graphql`, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST' },
      });
      expect(res.status).toBe(403);
    }
  });
});

describe('request bodies', () => {
  it('refuses a body over BODY_LIMIT_BYTES with 413 and does not echo it', async () => {
    const secret = marker();
    const res = await post(
      `${app.url}/graphql`,
      JSON.stringify({ query: '{ health }', variables: { ssn: secret, pad: 'x'.repeat(BODY_LIMIT) } }),
    );
    const text = await res.text();

    expect(res.status).toBe(413);
    expect(text).not.toContain(secret);
    expect(JSON.parse(text).errors[0].message).toBe('Request body too large');
  });

  it('answers a body just under the limit', async () => {
    const body = JSON.stringify({ query: '{ health }', variables: { pad: '' } });
    const padded = body.replace('"pad":""', `"pad":"${'x'.repeat(BODY_LIMIT - body.length - 10)}"`);
    expect(padded.length).toBeLessThan(BODY_LIMIT);
    const res = await post(`${app.url}/graphql`, padded);
    expect(res.status).toBe(200);
  });

  it('refuses malformed JSON with 400 and does not echo it', async () => {
    const secret = marker();
    const res = await post(`${app.url}/graphql`, `{"query": "{ health }", "variables": {"ssn": "${secret}"`);
    const text = await res.text();

    expect(res.status).toBe(400);
    expect(text).not.toContain(secret);
    expect(text).not.toContain('JSON at position');
  });

  it('does not log the body of a refused request', async () => {
    const secret = marker();
    await post(`${app.url}/graphql`, `{"variables": {"ssn": "${secret}"}, oops`);
    await post(`${app.url}/graphql`, JSON.stringify({ variables: { ssn: secret, pad: 'x'.repeat(BODY_LIMIT) } }));
    expect(app.logs.text()).not.toContain(secret);
  });
});

describe('Apollo request guards', () => {
  it('refuses a simple-request POST (content-type text/plain) as a possible CSRF', async () => {
    const res = await post(`${app.url}/graphql`, JSON.stringify({ query: '{ health }' }), {
      'content-type': 'text/plain',
    });
    const text = await res.text();
    expect(res.status).toBe(400);
    expect(text).not.toContain('"health"');
    expect(text).toContain('CSRF');
  });

  it('refuses a form-encoded POST as a possible CSRF', async () => {
    const res = await post(`${app.url}/graphql`, 'query=%7B%20health%20%7D', {
      'content-type': 'application/x-www-form-urlencoded',
    });
    expect(res.status).toBe(400);
    expect(await res.text()).not.toContain('"health"');
  });

  it('refuses GraphQL over GET, with or without the preflight header: variables would land in URLs and logs', async () => {
    const variables = encodeURIComponent(JSON.stringify({ ssn: '123-45-6789' }));
    const url = `${app.url}/graphql?query=${encodeURIComponent('{ health }')}&variables=${variables}`;

    for (const headers of [{}, { 'apollo-require-preflight': 'true' }] as Record<string, string>[]) {
      const refused = await fetch(url, { headers });
      expect(refused.status).toBe(405);
      expect(refused.headers.get('allow')).toBe('POST');
      const body = await refused.text();
      expect(JSON.parse(body)).toMatchObject({ errors: [{ extensions: { code: 'METHOD_NOT_ALLOWED' } }] });
      expect(body).not.toContain('"health"');
      expect(body).not.toContain('123-45-6789');
    }
  });

  it('refuses a mutation sent by GET, even with the preflight header', async () => {
    const query = 'mutation { __typename }';
    const byPost = await app.gql(query);
    const byGet = await fetch(`${app.url}/graphql?query=${encodeURIComponent(query)}`, {
      headers: { 'apollo-require-preflight': 'true' },
    });

    expect(byPost.body.data).toEqual({ __typename: 'Mutation' });
    expect(byGet.status).toBe(405);
    expect(((await byGet.json()) as { data?: unknown }).data).toBeUndefined();
  });

  it('refuses a batched request (a JSON array body)', async () => {
    const res = await post(`${app.url}/graphql`, JSON.stringify([{ query: '{ health }' }, { query: '{ health }' }]));
    const text = await res.text();
    expect(res.status).toBe(400);
    expect(text).not.toContain('"health"');
  });

  it('does not echo a variable value that fails coercion', async () => {
    const secret = marker();
    const res = await app.gql('query Q($id: ID!) { patient(id: $id) { id } }', { id: { ssn: secret } });
    expect(res.status).toBe(400);
    expect(res.body.errors?.[0].extensions?.code).toBe('BAD_USER_INPUT');
    expect(JSON.stringify(res.body)).not.toContain(secret);
  });
});

describe('request ids', () => {
  it('generates an X-Request-Id and logs the request under it', async () => {
    const res = await fetch(`${app.url}/healthz`);
    const id = res.headers.get('x-request-id') ?? '';
    expect(id).toMatch(UUID);
    expect(
      app.logs.lines
        .map((line) => JSON.parse(line))
        .some((entry) => entry.requestId === id && entry.path === '/healthz'),
    ).toBe(true);
  });

  it('logs the full path of a GraphQL request (regression: it logged "/" for everything under /graphql)', async () => {
    const res = await app.gql('{ health }');
    const id = res.headers.get('x-request-id');
    const entry = app.logs.lines
      .map((line) => JSON.parse(line))
      .find((line) => line.requestId === id && line.msg === 'request');
    expect(entry).toMatchObject({ method: 'POST', path: '/graphql', status: 200 });
  });

  it('logs a path without its query string', async () => {
    const secret = marker();
    const res = await fetch(`${app.url}/healthz?ssn=${secret}`);
    const id = res.headers.get('x-request-id');
    const entry = app.logs.lines
      .map((line) => JSON.parse(line))
      .find((line) => line.requestId === id && line.msg === 'request');
    expect(entry.path).toBe('/healthz');
    expect(app.logs.text()).not.toContain(secret);
  });

  it('gives each request its own id', async () => {
    const [a, b] = await Promise.all([fetch(`${app.url}/healthz`), fetch(`${app.url}/healthz`)]);
    expect(a.headers.get('x-request-id')).not.toBe(b.headers.get('x-request-id'));
  });

  it("echoes a caller's plain request id", async () => {
    const given = `portal-${randomBytes(6).toString('hex')}`;
    const res = await app.gql('{ health }', undefined, undefined, { 'x-request-id': given });
    expect(res.headers.get('x-request-id')).toBe(given);
  });

  it.each([
    ['with spaces and markup', '<script>alert(1)</script> id'],
    ['too long', 'a'.repeat(65)],
    ['too short', 'abc'],
    ['with a quote', 'abc"def-ghij'],
  ])("replaces a caller's unsafe request id (%s)", async (_case, given) => {
    const res = await fetch(`${app.url}/healthz`, { headers: { 'x-request-id': given } });
    const id = res.headers.get('x-request-id') ?? '';
    expect(id).toMatch(UUID);
    const entries = app.logs.lines.map((line) => JSON.parse(line) as { requestId?: string });
    expect(entries.some((entry) => entry.requestId === id)).toBe(true);
    expect(entries.some((entry) => entry.requestId === given)).toBe(false);
  });
});

describe('GraphiQL on the real server', () => {
  it('is served outside production by default, under its own CSP without inline scripts', async () => {
    const res = await fetch(`${app.url}/graphql`, { headers: { accept: BROWSER_ACCEPT } });
    const html = await res.text();

    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/html');
    expect(html).toContain('id="graphiql"');
    expect(res.headers.get('content-security-policy')).toBe(GRAPHIQL_CSP);
    expect(GRAPHIQL_CSP).toMatch(/script-src 'self'(;|$)/);
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  });
});

describe('production', () => {
  let prod: TestApp;

  beforeAll(async () => {
    // Production demands a strong database password; the test server's URL may carry none (trust auth).
    prod = await startTestApp(productionOverrides());
  });

  afterAll(async () => {
    await prod?.close();
  });

  it('loads a production configuration whose database password still connects', async () => {
    expect(prod.config.isProduction).toBe(true);
    const orm = await MikroORM.init(
      ormOptions({
        url: prod.db.url,
        password: prod.config.database.password,
        logger: createLogger({ level: 'silent' }),
      }),
    );
    try {
      expect(await orm.em.getConnection().execute('SELECT 1 AS one')).toEqual([{ one: 1 }]);
    } finally {
      await orm.close(true);
    }
  });

  it('does not serve GraphiQL by default', async () => {
    const page = await fetch(`${prod.url}/graphql`, { headers: { accept: BROWSER_ACCEPT } });
    const asset = await fetch(`${prod.url}/graphiql-assets/graphiql-init.js`);

    expect(page.headers.get('content-type') ?? '').not.toContain('text/html');
    expect(await page.text()).not.toContain('id="graphiql"');
    expect(asset.status).toBe(404);
  });

  it('masks an unexpected error as INTERNAL_SERVER_ERROR with an error id, and logs it in full under that id', async () => {
    const secret = marker();
    // Authentication will read sessions from the database; make that read fail with a real driver error
    // whose message carries SQL and a value, as a broken query or constraint would.
    const spy = jest.spyOn(prod.services.auth, 'authenticate').mockImplementation(async () => {
      await prod.services.orm.em
        .fork()
        .getConnection()
        .execute(`SELECT * FROM missing_sessions WHERE ssn = '${secret}'`);
      return null;
    });
    let res;
    try {
      res = await post(`${prod.url}/graphql`, JSON.stringify({ query: '{ health }' }), {
        'content-type': 'application/json',
        authorization: 'Bearer not-a-real-token',
      });
    } finally {
      spy.mockRestore();
    }
    const text = await res.text();
    const body = JSON.parse(text);

    expect(res.status).toBe(500);
    expectSecurityHeaders(res);
    expect(body.data).toBeUndefined();
    expect(body.errors).toHaveLength(1);
    expect(body.errors[0].message).toBe('Internal server error');
    expect(body.errors[0].extensions.code).toBe('INTERNAL_SERVER_ERROR');
    expect(body.errors[0].extensions.errorId).toMatch(UUID);
    expect(Object.keys(body.errors[0].extensions).sort()).toEqual(['code', 'errorId']);
    for (const leak of [secret, 'missing_sessions', 'SELECT', 'select', 'relation', 'stacktrace', '.ts:', 'at ']) {
      expect(text).not.toContain(leak);
    }

    const logged = prod.logs.lines
      .map((line) => JSON.parse(line))
      .find((entry) => entry.errorId === body.errors[0].extensions.errorId);
    expect(logged).toBeDefined();
    expect(logged.level).toBe(50);
    expect(JSON.stringify(logged.err)).toContain('missing_sessions');
    expect(logged.err.stack).toBeDefined();
  });

  it('gives no field suggestions in validation errors', async () => {
    const res = await prod.gql('{ healt }');
    expect(res.status).toBe(400);
    expect(JSON.stringify(res.body)).not.toContain('Did you mean');
  });
});

describe('the error formatter on a resolver that throws', () => {
  const logs = new CapturedLogs();
  let apollo: ApolloServer;
  const secret = marker();

  beforeAll(async () => {
    apollo = new ApolloServer({
      typeDefs: 'type Query { boom: String, refused: String, ok: String }',
      resolvers: {
        Query: {
          boom: () => {
            const error = new Error(
              `duplicate key value violates unique constraint "patients_ssn_bidx" Key (ssn)=(${secret})`,
            );
            Object.assign(error, { sql: `insert into "patients" ("ssn") values ('${secret}')` });
            throw error;
          },
          refused: () => {
            throw badUserInput('Date of birth is in the future', 'dateOfBirth');
          },
          ok: () => 'fine',
        },
      },
      includeStacktraceInErrorResponses: false,
      formatError: createErrorFormatter(createLogger({ level: 'info' }, logs.stream)),
    });
    await apollo.start();
  });

  afterAll(async () => {
    await apollo?.stop();
  });

  it('masks the error, keeps the rest of the answer, and logs the full error under the same id', async () => {
    const response = await apollo.executeOperation({ query: '{ boom ok }' });
    const result = response.body.kind === 'single' ? response.body.singleResult : undefined;

    expect(result?.data).toEqual({ boom: null, ok: 'fine' });
    const error = result?.errors?.[0];
    expect(error?.message).toBe('Internal server error');
    expect(error?.path).toEqual(['boom']);
    expect(error?.extensions?.code).toBe('INTERNAL_SERVER_ERROR');
    expect(JSON.stringify(result)).not.toContain(secret);
    expect(JSON.stringify(result)).not.toContain('patients');

    const logged = logs.lines
      .map((line) => JSON.parse(line))
      .find((entry) => entry.errorId === error?.extensions?.errorId);
    expect(logged.err.message).toContain('patients_ssn_bidx');
    expect(logged.err.stack).toContain('Error');
  });

  it('passes a deliberate error with its code and field', async () => {
    const response = await apollo.executeOperation({ query: '{ refused }' });
    const error = response.body.kind === 'single' ? response.body.singleResult.errors?.[0] : undefined;
    expect(error?.message).toBe('Date of birth is in the future');
    expect(error?.extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'dateOfBirth' });
    expect(new AppError('x', 'FORBIDDEN').extensions.code).toBe('FORBIDDEN');
  });
});
