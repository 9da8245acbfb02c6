import { randomUUID } from 'node:crypto';
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { unwrapResolverError } from '@apollo/server/errors';

import type { Logger } from '../logging/logger';

/** The stable codes a client may see in `extensions.code`. */
export type ErrorCode =
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'BAD_USER_INPUT'
  | 'RATE_LIMITED'
  | 'QUERY_TOO_COMPLEX'
  | 'INTERNAL_SERVER_ERROR'
  // Billing (README, "Billing and card data").
  | 'PAYMENT_DECLINED'
  | 'PAYMENT_FAILED'
  | 'PAYMENT_PROCESSOR_UNAVAILABLE'
  | 'IDEMPOTENCY_KEY_REUSED';

/** An error we raise on purpose; its message and code are safe to show to the caller. */
export class AppError extends GraphQLError {
  constructor(
    message: string,
    readonly code: ErrorCode,
    extra: Record<string, unknown> = {},
  ) {
    super(message, { extensions: { code, ...extra } });
    this.name = 'AppError';
  }
}

export const unauthenticated = (): AppError => new AppError('Authentication required', 'UNAUTHENTICATED');
export const forbidden = (): AppError => new AppError('Not allowed', 'FORBIDDEN');
/** Someone else's record answers exactly like a record that does not exist. */
export const notFound = (what: string): AppError => new AppError(`${what} not found`, 'NOT_FOUND');
/** Bad input, naming the failing field (never echoing its value). */
export const badUserInput = (message: string, field?: string): AppError =>
  new AppError(message, 'BAD_USER_INPUT', field ? { field } : {});
export const rateLimited = (retryAfterSeconds: number): AppError =>
  new AppError('Too many requests', 'RATE_LIMITED', { retryAfterSeconds });
export const queryTooComplex = (): AppError =>
  new AppError('The request is too large or too complex', 'QUERY_TOO_COMPLEX');

// Errors Apollo raises itself before execution; their messages describe the document, not our data.
const APOLLO_REQUEST_CODES = new Set([
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'BAD_USER_INPUT',
  'BAD_REQUEST',
  'PERSISTED_QUERY_NOT_FOUND',
  'PERSISTED_QUERY_NOT_SUPPORTED',
  'OPERATION_RESOLUTION_FAILURE',
]);

/**
 * Apollo's `formatError`: our own errors pass with their code; request errors Apollo raises pass
 * without the offending value; everything else is logged in full under an error id and reaches
 * the client only as INTERNAL_SERVER_ERROR with that id.
 */
export function createErrorFormatter(logger: Logger, options: { production?: boolean } = {}) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const original = unwrapResolverError(error);
    if (original instanceof AppError) {
      // `http` tells Apollo which status to answer with; it is not part of the client's contract.
      const { http: _http, ...extensions } = original.extensions;
      return { message: original.message, path: formatted.path, locations: formatted.locations, extensions };
    }
    const code = formatted.extensions?.code;
    if (
      typeof code === 'string' &&
      APOLLO_REQUEST_CODES.has(code) &&
      !(original instanceof Error && !(original instanceof GraphQLError))
    ) {
      // graphql's syntax errors quote the offending token (`Unexpected Name "xyz"`): a document is never echoed.
      const message =
        code === 'BAD_USER_INPUT'
          ? 'Invalid value for a variable or argument'
          : code === 'GRAPHQL_PARSE_FAILED'
            ? 'Syntax error in the GraphQL document'
            : // Validation messages quote literal values from the document (a number typed where a string is
              // expected, an SSN say); in production they become one fixed text, locations kept.
              code === 'GRAPHQL_VALIDATION_FAILED' && options.production
              ? 'The document is not valid against the schema'
              : formatted.message;
      return { message, locations: formatted.locations, extensions: { code } };
    }
    const errorId = randomUUID();
    logger.error({ err: original, errorId, path: formatted.path }, 'unexpected error while resolving a request');
    return {
      message: 'Internal server error',
      path: formatted.path,
      extensions: { code: 'INTERNAL_SERVER_ERROR', errorId },
    };
  };
}
