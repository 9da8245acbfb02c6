import pino, { type DestinationStream, type Logger } from 'pino';

export type { Logger } from 'pino';

/**
 * Keys whose values never reach a log line, at any of the first three levels of nesting.
 * Credentials and tokens, card data, and every field name the PHI mark uses, as a second line
 * of defence: the first is that log calls carry ids, never records.
 */
const SENSITIVE_KEYS = [
  'authorization',
  'cookie',
  'password',
  'newPassword',
  'currentPassword',
  'token',
  'accessToken',
  'refreshToken',
  'paymentToken',
  'secret',
  'totpSecret',
  'totpCode',
  'recoveryCode',
  'number',
  'cvc',
  'query',
  'variables',
  'ssn',
  'email',
  'phone',
  'firstName',
  'lastName',
  'dateOfBirth',
  'address',
  'notes',
  'reason',
  'mrn',
  'insuranceMemberId',
  'diagnosisCodes',
];

function redactPaths(extraKeys: readonly string[]): string[] {
  const keys = [...new Set([...SENSITIVE_KEYS, ...extraKeys])];
  return keys.flatMap((key) => [key, `*.${key}`, `*.*.${key}`, `req.headers.${key}`]);
}

/**
 * Structured JSON logger. `extraSensitiveKeys` lets the PHI registry add its field names.
 * Messages carry request id and actor id only; never names, bodies, query strings or tokens.
 */
export function createLogger(
  options: { level: string; extraSensitiveKeys?: readonly string[] },
  destination?: DestinationStream,
): Logger {
  return pino(
    {
      level: options.level,
      base: { service: 'hms-api' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: redactPaths(options.extraSensitiveKeys ?? []), censor: '[REDACTED]' },
      serializers: { err: pino.stdSerializers.err },
    },
    destination,
  );
}
