const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Whether a value can be one of our row ids (a UUID). Anything else is answered as "not found"
 * without a query, so a malformed id never reaches PostgreSQL as an invalid-uuid error.
 */
export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID.test(value);
}
