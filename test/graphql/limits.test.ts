import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getIntrospectionQuery, parse, validate, type GraphQLSchema, type OperationDefinitionNode } from 'graphql';

import { ConfigError, loadConfig } from '../../src/config/config';
import {
  DEFAULT_QUERY_LIMITS,
  checkDocument,
  checkSource,
  countTokens,
  operationCost,
  type QueryLimits,
} from '../../src/graphql/limits';
import { checkDocumentText, createQueryLimits, loadPersistedQueryManifest } from '../../src/graphql/limits.plugin';
import { buildAppSchema } from '../../src/graphql/schema';
import { testEnv } from '../support/app';

const LIMITS: QueryLimits = DEFAULT_QUERY_LIMITS;
const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');
const limitOf = (query: string, limits: QueryLimits = LIMITS) => checkDocument(parse(query), limits)?.limit ?? null;

/** `{ a { a { ... { leaf } } } }` with `depth` fields on the deepest path. */
function nested(depth: number): string {
  return `{ ${'a { '.repeat(depth - 1)}leaf${' }'.repeat(depth - 1)} }`;
}

/** A document `{ health }` padded with comments to exactly `bytes` UTF-8 bytes. */
function paddedTo(bytes: number, filler = 'x'): string {
  const head = '{ health }\n#';
  const fillerBytes = Buffer.byteLength(filler);
  const room = bytes - Buffer.byteLength(head);
  return head + filler.repeat(Math.floor(room / fillerBytes)) + 'x'.repeat(room % fillerBytes);
}

function costOf(schema: GraphQLSchema, query: string, variables: Record<string, unknown> = {}): number {
  const document = parse(query);
  expect(validate(schema, document)).toEqual([]);
  const operation = document.definitions.find((d): d is OperationDefinitionNode => d.kind === 'OperationDefinition')!;
  return operationCost(schema, document, operation, variables);
}

describe('document size', () => {
  it('accepts a document of exactly QUERY_MAX_BYTES bytes and refuses one byte more', () => {
    expect(checkSource(paddedTo(LIMITS.maxBytes), LIMITS)).toBeNull();
    expect(checkSource(paddedTo(LIMITS.maxBytes + 1), LIMITS)).toEqual({
      limit: 'bytes',
      actual: LIMITS.maxBytes + 1,
      max: LIMITS.maxBytes,
    });
  });

  it('counts bytes, not characters', () => {
    const text = paddedTo(LIMITS.maxBytes + 2, 'é');
    expect(text.length).toBeLessThan(LIMITS.maxBytes);
    expect(checkSource(text, LIMITS)?.limit).toBe('bytes');
  });
});

describe('tokens', () => {
  const withTokens = (count: number): string => `{ ${'a '.repeat(count - 2)}}`;

  it('accepts exactly QUERY_MAX_TOKENS tokens and refuses one more', () => {
    expect(countTokens(withTokens(LIMITS.maxTokens))).toBe(LIMITS.maxTokens);
    expect(checkSource(withTokens(LIMITS.maxTokens), LIMITS)).toBeNull();
    expect(checkSource(withTokens(LIMITS.maxTokens + 1), LIMITS)?.limit).toBe('tokens');
  });

  it("counts the way graphql's parser counts for maxTokens, without comments", () => {
    const text = `# a comment\nquery Q($id: ID! = "1") { patient(id: $id) { id ... on Patient { mrn } } }`;
    const tokens = countTokens(text);
    expect(() => parse(text, { maxTokens: tokens })).not.toThrow();
    expect(() => parse(text, { maxTokens: tokens - 1 })).toThrow(/tokens/);
  });

  it('stops counting once past the limit', () => {
    expect(countTokens('{ a b c d e f g h }', 3)).toBe(4);
  });

  it('leaves a text the lexer rejects to the parser', () => {
    expect(checkSource('{ health ~ }', LIMITS)).toBeNull();
  });
});

describe('depth', () => {
  it('accepts QUERY_MAX_DEPTH levels of fields and refuses one more', () => {
    expect(limitOf(nested(LIMITS.maxDepth))).toBeNull();
    expect(limitOf(nested(LIMITS.maxDepth + 1))).toBe('depth');
  });

  it('counts fields reached through named and inline fragments', () => {
    const query = `{ a { ...F } } fragment F on T { b { ... on T { c { d { e { f { g { h { i } } } } } } } } }`;
    expect(checkDocument(parse(query), LIMITS)).toEqual({ limit: 'depth', actual: 9, max: 8 });
  });

  it('does not count introspection, so graphql-based tools can read the schema', () => {
    expect(checkDocumentText(getIntrospectionQuery(), LIMITS)).toBeNull();
    expect(
      checkDocumentText(
        getIntrospectionQuery({ descriptions: true, specifiedByUrl: true, inputValueDeprecation: true }),
        LIMITS,
      ),
    ).toBeNull();
  });

  it("leaves introspection's nesting of lists to graphql's MaxIntrospectionDepthRule", async () => {
    const schema = await buildAppSchema();
    const loop = '{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }';
    expect(limitOf(loop)).toBeNull();
    expect(validate(schema, parse(loop)).map((error) => error.message)).toEqual([
      'Maximum introspection depth exceeded',
    ]);
    expect(validate(schema, parse(getIntrospectionQuery()))).toEqual([]);
  });
});

describe('aliases', () => {
  const aliases = (count: number): string =>
    `{ ${Array.from({ length: count }, (_, i) => `a${i}: health`).join(' ')} }`;

  it('accepts QUERY_MAX_ALIASES aliases in a document and refuses one more', () => {
    expect(limitOf(aliases(LIMITS.maxAliases))).toBeNull();
    expect(limitOf(aliases(LIMITS.maxAliases + 1))).toBe('aliases');
  });

  it('counts aliases in every operation and fragment of the document', () => {
    const half = Array.from({ length: 8 }, (_, i) => `x${i}: health`).join(' ');
    expect(limitOf(`query A { ${half} ...F } fragment F on Query { ${half.replace(/x/g, 'y')} }`)).toBe('aliases');
  });
});

describe('directives', () => {
  it('accepts three directives on a field or fragment and refuses four', () => {
    const three = '@include(if: true) @skip(if: false) @include(if: true)';
    expect(limitOf(`{ health ${three} }`)).toBeNull();
    expect(limitOf(`{ health ${three} @skip(if: false) }`)).toBe('directives');
    expect(limitOf(`{ ...F ${three} @skip(if: false) } fragment F on Query { health }`)).toBe('directives');
    expect(limitOf(`{ ... on Query ${three} @skip(if: false) { health } }`)).toBe('directives');
  });
});

describe('same-named selections (what makes OverlappingFieldsCanBeMerged quadratic)', () => {
  it('accepts a response name ten times in one selection set and refuses eleven, through fragments too', () => {
    expect(limitOf(`{ ${'health '.repeat(10)}}`)).toBeNull();
    expect(limitOf(`{ ${'health '.repeat(11)}}`)).toBe('sameNameSelections');
    const four = 'health '.repeat(4);
    expect(limitOf(`{ ${four} ... on Query { ${four} } ...F } fragment F on Query { ${four} }`)).toBe(
      'sameNameSelections',
    );
    expect(limitOf(`{ ${four} ... on Query { ${four} } ...F } fragment F on Query { health health }`)).toBeNull();
    expect(limitOf(`{ me { ${'id '.repeat(11)}} }`)).toBe('sameNameSelections');
    expect(limitOf(`{ a: health ${'health '.repeat(10)}}`)).toBeNull();
  });

  it('refuses the thousand-field documents quickly, without graphql validating them', () => {
    const documents = [
      `{ ${'health '.repeat(1000)} }`,
      `{ ${Array.from({ length: 220 }, () => 'patient(id: "1") { id }').join(' ')} }`,
    ];
    for (const text of documents) {
      const started = process.hrtime.bigint();
      expect(checkDocumentText(text, LIMITS)?.limit).toBe('sameNameSelections');
      expect(Number(process.hrtime.bigint() - started) / 1e6).toBeLessThan(250);
    }
  });

  it('summarises each fragment once, so a fragment doubling itself forty times is refused at once', () => {
    const fragments = Array.from({ length: 40 }, (_, i) => `fragment F${i} on Query { ...F${i + 1} ...F${i + 1} }`);
    const text = `{ ...F0 } ${fragments.join(' ')} fragment F40 on Query { health }`;
    const started = process.hrtime.bigint();
    expect(limitOf(text)).toBe('sameNameSelections');
    expect(Number(process.hrtime.bigint() - started) / 1e6).toBeLessThan(250);
  });

  it('survives what validation refuses later: fragment cycles and unknown fragments', () => {
    expect(limitOf('{ ...A } fragment A on Query { health ...B } fragment B on Query { ...A }')).toBeNull();
    expect(limitOf('{ ...Missing health }')).toBeNull();
  });
});

describe('sign-in and card fields', () => {
  const login = (alias: string) => `${alias}: login(email: "a@example.test", password: "x") { accessToken }`;

  it('accepts one per operation and refuses a second, written twice or through a fragment', () => {
    expect(limitOf(`mutation { ${login('a')} }`)).toBeNull();
    expect(limitOf(`mutation { ${login('a')} ${login('b')} }`)).toBe('singleUseField');
    expect(limitOf(`mutation { ${login('a')} ...F } fragment F on Mutation { ${login('b')} }`)).toBe('singleUseField');
    expect(
      limitOf(
        'mutation { login(email: "a", password: "b") { accessToken } refreshSession(refreshToken: "r") { accessToken } }',
      ),
    ).toBe('singleUseField');
  });

  it('checks every operation of the document, whichever one runs', () => {
    expect(limitOf(`query A { health } mutation B { ${login('a')} ${login('b')} }`)).toBe('singleUseField');
    expect(limitOf(`mutation A { ${login('a')} } mutation B { ${login('b')} }`)).toBeNull();
  });
});

describe('cost', () => {
  let schema: GraphQLSchema;
  beforeAll(async () => {
    schema = await buildAppSchema();
  });

  it('counts each field once outside lists', () => {
    expect(costOf(schema, '{ health me { id email role } }')).toBe(5);
  });

  it("weighs a connection's nodes by its first argument, 20 by default, at most 100", () => {
    expect(costOf(schema, '{ patients { nodes { id } } }')).toBe(1 + 20 * 2);
    expect(costOf(schema, '{ patients(first: 50) { nodes { id } } }')).toBe(1 + 50 * 2);
    expect(costOf(schema, '{ patients(first: 100000) { nodes { id } } }')).toBe(1 + 100 * 2);
  });

  it('reads first from variables, then from the variable default', () => {
    const query = 'query Q($n: Int! = 5) { patients(first: $n) { nodes { id } } }';
    expect(costOf(schema, query, { n: 40 })).toBe(1 + 40 * 2);
    expect(costOf(schema, query)).toBe(1 + 5 * 2);
    expect(costOf(schema, query, { n: 'many' })).toBe(1 + 20 * 2);
  });

  it('multiplies nested lists and counts a list of scalars once', () => {
    expect(costOf(schema, '{ patients(first: 10) { nodes { encounters { id diagnosisCodes } } } }')).toBe(
      1 + 10 * (1 + 20 * 3),
    );
  });

  it('counts fields reached through fragments, with the page size of where they are spread', () => {
    const query = '{ patients(first: 10) { ...Page } } fragment Page on PatientPage { nodes { id } }';
    expect(costOf(schema, query)).toBe(1 + 10 * 2);
  });

  it('counts introspection roots once (their nesting is bounded by the document check)', () => {
    expect(costOf(schema, getIntrospectionQuery())).toBe(1);
  });

  it('puts the default budget of 5000 between 98 and 99 patients with ten fields and their encounters', () => {
    const fields = 'id mrn firstName lastName dateOfBirth sex ssn email phone createdAt';
    const query = `query Q($first: Int!) { patients(first: $first) { count nodes { ${fields} encounters { id } } } }`;
    expect(costOf(schema, query, { first: 98 })).toBe(LIMITS.maxCost);
    expect(costOf(schema, query, { first: 99 })).toBeGreaterThan(LIMITS.maxCost);
  });
});

describe('the persisted-query manifest', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hms-manifest-'));
  const file = (name: string, content: unknown): string => {
    const path = join(dir, name);
    writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
    return path;
  };

  it('loads documents keyed by their own sha256', () => {
    const query = '{ health }';
    const manifest = loadPersistedQueryManifest(file('good.json', { [sha256(query)]: query }), LIMITS);
    expect(manifest.get(sha256(query))).toBe(query);
  });

  it('refuses a key that is not the sha256 of its document', () => {
    const path = file('mismatch.json', { [sha256('{ me { id } }')]: '{ health }' });
    expect(() => loadPersistedQueryManifest(path, LIMITS)).toThrow(ConfigError);
  });

  it('refuses a document over the limits, naming its hash and not its text', () => {
    const query = `{ ${'health '.repeat(11)}}`;
    const path = file('over.json', { [sha256(query)]: query });
    let error: unknown;
    try {
      loadPersistedQueryManifest(path, LIMITS);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toContain(sha256(query));
    expect((error as ConfigError).message).not.toContain('health');
  });

  it('is required, and checked, before the server starts in PERSISTED_QUERIES=only', () => {
    const over = `{ ${'health '.repeat(11)}}`;
    const path = file('start.json', { [sha256(over)]: over });
    expect(() => createQueryLimits({ limits: LIMITS, persistedQueries: 'only' })).toThrow(
      /PERSISTED_QUERIES_MANIFEST: required/,
    );
    expect(() =>
      createQueryLimits({ limits: LIMITS, persistedQueries: 'only', persistedQueriesManifest: path }),
    ).toThrow(ConfigError);
    expect(createQueryLimits({ limits: LIMITS, persistedQueries: 'off' }).persistedQueries).toBe(false);
  });

  it('refuses a file that is not a JSON object', () => {
    expect(() => loadPersistedQueryManifest(file('bad.json', '{ health'), LIMITS)).toThrow(
      /PERSISTED_QUERIES_MANIFEST/,
    );
    expect(() => loadPersistedQueryManifest(file('list.json', ['{ health }']), LIMITS)).toThrow(
      /PERSISTED_QUERIES_MANIFEST/,
    );
  });
});

describe('configuration', () => {
  const url = 'postgresql://postgres@127.0.0.1:5432/hms_unused';

  it('has the documented defaults', () => {
    const { graphql } = loadConfig(testEnv(url));
    expect(graphql.limits).toEqual({ maxDepth: 8, maxAliases: 15, maxCost: 5000, maxTokens: 2000, maxBytes: 20480 });
    expect(graphql.limits).toEqual(DEFAULT_QUERY_LIMITS);
    expect(graphql.persistedQueries).toBe('apq');
  });

  it('reads every limit from the environment', () => {
    const { graphql } = loadConfig(
      testEnv(url, {
        QUERY_MAX_DEPTH: '5',
        QUERY_MAX_ALIASES: '3',
        QUERY_MAX_COST: '900',
        QUERY_MAX_TOKENS: '700',
        QUERY_MAX_BYTES: '4096',
      }),
    );
    expect(graphql.limits).toEqual({ maxDepth: 5, maxAliases: 3, maxCost: 900, maxTokens: 700, maxBytes: 4096 });
  });

  it('names each bad variable', () => {
    expect(() => loadConfig(testEnv(url, { QUERY_MAX_DEPTH: '0', PERSISTED_QUERIES: 'sometimes' }))).toThrow(
      /QUERY_MAX_DEPTH[\s\S]*PERSISTED_QUERIES/,
    );
  });

  it('requires a manifest for PERSISTED_QUERIES=only and refuses one for the other modes', () => {
    expect(() => loadConfig(testEnv(url, { PERSISTED_QUERIES: 'only' }))).toThrow(
      /PERSISTED_QUERIES_MANIFEST: required/,
    );
    expect(() => loadConfig(testEnv(url, { PERSISTED_QUERIES_MANIFEST: '/tmp/manifest.json' }))).toThrow(
      /PERSISTED_QUERIES_MANIFEST: only read/,
    );
    const only = loadConfig(
      testEnv(url, { PERSISTED_QUERIES: 'only', PERSISTED_QUERIES_MANIFEST: 'ops/manifest.json' }),
    );
    expect(only.graphql.persistedQueriesManifest).toBe(join(process.cwd(), 'ops/manifest.json'));
  });
});
