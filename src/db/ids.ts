import { randomFillSync } from 'node:crypto';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Whether a value can be one of our row ids (a UUID). Anything else is answered as "not found"
 * without a query, so a malformed id never reaches PostgreSQL as an invalid-uuid error.
 */
export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID.test(value);
}

// Random bits for time-ordered ids, drawn from the CSPRNG 4 KiB at a time rather than 10 bytes per id.
const pool = Buffer.alloc(4096);
let poolOffset = pool.length;

/**
 * A time-ordered UUID (version 7, RFC 9562): the first 48 bits are the Unix time in milliseconds, the other 74
 * are random. For rows written in great numbers and never updated, such as audit events: a new id lands at the
 * right-hand end of the primary key's B-tree instead of on a random page of it, which keeps inserts into a large
 * table cheap (issue 11: about 40% less insert time into a table of 1.5 million rows than random version-4 ids).
 * The time it reveals is stored beside it anyway; the random part is from the CSPRNG, so ids remain unguessable.
 */
export function timeOrderedUuid(now: number = Date.now()): string {
  if (poolOffset + 10 > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const bytes = Buffer.allocUnsafe(16);
  bytes.writeUIntBE(now, 0, 6);
  pool.copy(bytes, 6, poolOffset, poolOffset + 10);
  poolOffset += 10;
  bytes[6] = (bytes[6] & 0x0f) | 0x70; // version 7
  bytes[8] = (bytes[8] & 0x3f) | 0x80; // variant 10xx
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
