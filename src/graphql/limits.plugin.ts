import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { ApolloServerPlugin, PersistedQueryOptions } from '@apollo/server';
import type { NextFunction, Request, Response } from 'express';
import { GraphQLError, parse, type DocumentNode, type ParseOptions } from 'graphql';
import { LRUCache } from 'lru-cache';

import { ConfigError } from '../config/config';
import type { Logger } from '../logging/logger';
import type { GraphQLContext } from './context';
import { AppError, queryTooComplex } from './errors';
import { checkCost, checkDocument, checkSource, type LimitViolation, type QueryLimits } from './limits';

/** `apq`: Apollo's automatic persisted queries; `only`: the manifest's operations and nothing else; `off`: neither. */
export type PersistedQueriesMode = 'apq' | 'only' | 'off';

export interface QueryLimitsOptions {
  limits: QueryLimits;
  persistedQueries: PersistedQueriesMode;
  /** JSON file `{ "<sha256 of the document>": "<document>" }`, read at start; required for `only`. */
  persistedQueriesManifest?: string;
}

/** The allow-list of `PERSISTED_QUERIES=only`: sha256 (hex) of each document, to the document. */
export type PersistedQueryManifest = ReadonlyMap<string, string>;

type ApolloCache = NonNullable<PersistedQueryOptions['cache']>;

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/** QUERY_TOO_COMPLEX, answered with 400 (the formatter drops `http` before the client sees it). */
function tooComplex(): AppError {
  const error = queryTooComplex();
  error.extensions.http = { status: 400 };
  return error;
}

function notAllowListed(): AppError {
  return new AppError('Only registered operations are accepted', 'FORBIDDEN', { http: { status: 403 } });
}

function logRefusal(log: Logger, violation: LimitViolation): void {
  const { limit, actual, max } = violation;
  log.warn({ limit, actual, max }, 'GraphQL request refused by an abuse limit');
}

/**
 * The text and document checks depend on the text and the limits only, and clients send the same few documents
 * again and again: the guard keeps its verdict on a document it has parsed (issue 11: the guard parsed every
 * request's document in full, besides Apollo's own cached parse), and the plugin its verdict on each document
 * object Apollo hands it (Apollo's document cache gives the same object for the same text). The cost check
 * depends on the variables and runs on every request.
 */
const VERDICTS_KEPT = 1_000;
/** Longer texts are checked every time rather than kept as keys (1,000 of them stay under 10 MB). */
const LONGEST_KEPT_TEXT = 10_000;
const NO_VIOLATION = Symbol('no violation');
type Verdict = LimitViolation | typeof NO_VIOLATION;

/** Text limits, then the parsed document's limits; a text that does not parse is left to Apollo's parse error. */
export function checkDocumentText(source: string, limits: QueryLimits): LimitViolation | null {
  const textViolation = checkSource(source, limits);
  if (textViolation) return textViolation;
  try {
    return checkDocument(parse(source, { noLocation: true, maxTokens: limits.maxTokens }), limits);
  } catch (error) {
    if (error instanceof GraphQLError) return null;
    throw error;
  }
}

/**
 * Reads and checks the manifest of `PERSISTED_QUERIES=only`: every key must be the sha256 of its document
 * and every document must pass the document limits. Problems name hashes, never documents.
 */
export function loadPersistedQueryManifest(path: string, limits: QueryLimits): PersistedQueryManifest {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    throw new ConfigError(['PERSISTED_QUERIES_MANIFEST: cannot be read as JSON']);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError(['PERSISTED_QUERIES_MANIFEST: must be a JSON object of sha256 to document']);
  }
  const manifest = new Map<string, string>();
  const problems: string[] = [];
  for (const [hash, document] of Object.entries(parsed)) {
    if (typeof document !== 'string' || !/^[0-9a-f]{64}$/.test(hash) || sha256(document) !== hash) {
      problems.push(`PERSISTED_QUERIES_MANIFEST: entry ${hash.slice(0, 64)} is not a document under its own sha256`);
      continue;
    }
    const violation = checkDocumentText(document, limits);
    if (violation) problems.push(`PERSISTED_QUERIES_MANIFEST: document ${hash} breaks the ${violation.limit} limit`);
    manifest.set(hash, document);
  }
  if (manifest.size === 0 && problems.length === 0) problems.push('PERSISTED_QUERIES_MANIFEST: holds no document');
  if (problems.length > 0) throw new ConfigError(problems);
  return manifest;
}

/**
 * The manifest as Apollo's persisted-query cache: lookups only, so no client can register a document.
 * Apollo prefixes its keys (`apq:`); the hash is what follows the last colon.
 */
function manifestCache(manifest: PersistedQueryManifest): ApolloCache {
  return {
    get: async (key) => manifest.get(key.slice(key.lastIndexOf(':') + 1)),
    set: async () => undefined,
    delete: async () => false,
  };
}

/**
 * Checks every operation after Apollo has parsed, validated and chosen it, and before anything executes:
 * the allow-list, the document limits again (for persisted documents and in-process `executeOperation`)
 * and the cost, which needs the schema and the variables. Apollo stores an automatic persisted query only
 * after this hook passes, so no over-limit document can be registered.
 */
export function queryLimitsPlugin(
  limits: QueryLimits,
  allowList?: PersistedQueryManifest,
): ApolloServerPlugin<GraphQLContext> {
  const checked = new WeakMap<DocumentNode, { source: string; verdict: Verdict }>();
  const documentViolation = (source: string, document: DocumentNode): LimitViolation | null => {
    const known = checked.get(document);
    if (known?.source === source) return known.verdict === NO_VIOLATION ? null : known.verdict;
    const violation = checkSource(source, limits) ?? checkDocument(document, limits);
    checked.set(document, { source, verdict: violation ?? NO_VIOLATION });
    return violation;
  };
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ source, document, operation, queryHash, request, schema, contextValue }) {
          if (allowList && !allowList.has(queryHash)) throw notAllowListed();
          const violation =
            documentViolation(source, document) ??
            (operation ? checkCost(schema, document, operation, request.variables, limits) : null);
          if (!violation) return;
          logRefusal(contextValue.log, violation);
          throw tooComplex();
        },
      };
    },
  };
}

/** The document text and persisted-query hash of a request, read the way Apollo reads them. */
function graphqlRequestOf(req: Request): { query: unknown; hash: unknown } | null {
  let fields: Record<string, unknown>;
  if (req.method === 'POST') {
    if (!req.body || typeof req.body !== 'object' || Array.isArray(req.body)) return null;
    fields = req.body as Record<string, unknown>;
  } else if (req.method === 'GET') {
    fields = { ...(req.query as Record<string, unknown>) };
    if (typeof fields.extensions === 'string') {
      try {
        fields.extensions = JSON.parse(fields.extensions);
      } catch {
        return null;
      }
    }
  } else {
    return null;
  }
  const extensions = fields.extensions as { persistedQuery?: { sha256Hash?: unknown } } | undefined;
  return { query: fields.query, hash: extensions?.persistedQuery?.sha256Hash };
}

function refuse(res: Response, error: AppError): void {
  const { http, ...extensions } = error.extensions as { http: { status: number } };
  res.status(http.status).json({ errors: [{ message: error.message, extensions }] });
}

/**
 * Express middleware in front of Apollo that refuses an over-limit document before Apollo parses it.
 * Apollo's plugin hooks cannot refuse a request between parsing and validation (a throw there becomes a
 * 500), and graphql's OverlappingFieldsCanBeMerged is quadratic in same-named fields (16.15 aborts at a
 * budget that still takes about a second), so this is where a document of a thousand of them must stop.
 * Requests it cannot read (batches, other content types) pass on to Apollo, which refuses them; a hash-only request passes on too, its document having passed these checks when it
 * was registered. The plugin above repeats the checks and is the authoritative one.
 */
export function queryLimitsGuard(limits: QueryLimits, allowList?: PersistedQueryManifest) {
  const verdicts = new LRUCache<string, Verdict>({ max: VERDICTS_KEPT });
  const textViolation = (query: string): LimitViolation | null => {
    const known = verdicts.get(query);
    if (known !== undefined) return known === NO_VIOLATION ? null : known;
    const violation = checkDocumentText(query, limits);
    if (query.length <= LONGEST_KEPT_TEXT) verdicts.set(query, violation ?? NO_VIOLATION);
    return violation;
  };
  return (req: Request, res: Response, next: NextFunction): void => {
    const request = graphqlRequestOf(req);
    if (!request) return next();
    const { query, hash } = request;
    if (allowList) {
      const known = typeof query === 'string' ? sha256(query) : hash;
      // Manifest documents were checked against the limits at start.
      return typeof known === 'string' && allowList.has(known) ? next() : refuse(res, notAllowListed());
    }
    if (typeof query !== 'string') return next();

    const violation = textViolation(query);
    if (!violation) return next();
    logRefusal(req.log, violation);
    refuse(res, tooComplex());
  };
}

/**
 * Everything the server needs for the abuse limits: the express guard, the Apollo plugin, the parser's
 * token cap (a second bound on parsing) and the persisted-query setting.
 */
export function createQueryLimits(options: QueryLimitsOptions): {
  guard: ReturnType<typeof queryLimitsGuard>;
  plugin: ApolloServerPlugin<GraphQLContext>;
  parseOptions: ParseOptions;
  persistedQueries: PersistedQueryOptions | false | undefined;
} {
  const { limits } = options;
  let allowList: PersistedQueryManifest | undefined;
  if (options.persistedQueries === 'only') {
    const path = options.persistedQueriesManifest;
    if (!path) throw new ConfigError(['PERSISTED_QUERIES_MANIFEST: required with PERSISTED_QUERIES=only']);
    allowList = loadPersistedQueryManifest(path, limits);
  }
  const persistedQueries =
    options.persistedQueries === 'off' ? false : allowList ? { cache: manifestCache(allowList) } : undefined;
  return {
    guard: queryLimitsGuard(limits, allowList),
    plugin: queryLimitsPlugin(limits, allowList),
    parseOptions: { maxTokens: limits.maxTokens },
    persistedQueries,
  };
}
