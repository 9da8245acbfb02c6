import {
  assertIdentifier,
  assertKeyId,
  assertOpaqueId,
  encodeConstantPrefix,
  encodeParts,
  isKeyId,
  isWellFormedText,
} from './associated-data';
import { BadEnvelopeError, DecryptFailedError, InvalidCryptoInputError, KeyMismatchError } from './crypto-error';
import { assertUsableKey } from './key-material';
import { NONCE_BYTES, randomNonce } from './nonce';
import { getSodium } from './sodium';

/** Where a sealed value lives; the envelope only opens at exactly this table, column and row. */
export interface FieldContext {
  table: string;
  column: string;
  rowId: string;
}

/** A syntactically valid envelope, split into its parts. `body` is nonce(24) || ciphertext || tag(16). */
export interface ParsedEnvelope {
  formatVersion: 1;
  dataKeyId: string;
  body: Buffer;
}

const FORMAT_TAG = 'phi1';
const TAG_BYTES = 16;
const MIN_BODY_BYTES = NONCE_BYTES + TAG_BYTES;
const KEY_ID_LENGTH = 36;
const HEADER_LENGTH = FORMAT_TAG.length + 1 + KEY_ID_LENGTH + 1; // 'phi1.' + uuid + '.'
const FIELD_AD_PREFIX = encodeConstantPrefix(['hms/phi-field', FORMAT_TAG]);

// One pattern source, written in the syntax shared by PostgreSQL AREs and ECMAScript (no backslashes, so
// it also survives either setting of standard_conforming_strings). The body is unpadded base64url of at
// least 40 bytes; the 2- and 3-character tails only allow final characters whose unused low bits are zero,
// so each byte string has exactly one accepted spelling.
const B64 = '[A-Za-z0-9_-]';
const TAIL = `(?:${B64}[AQgw]|${B64}{2}[AEIMQUYcgkosw048])`;
const BODY = `(?:${B64}{4}){13}(?:${TAIL}|(?:${B64}{4})+${TAIL}?)`;
const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';

/**
 * PostgreSQL POSIX regex matching only `phi1.<uuid>.<base64url body>`, for `CHECK (col ~ '<pattern>')`
 * so the database itself refuses plaintext in PHI columns.
 */
export const PHI_ENVELOPE_SQL_PATTERN = `^${FORMAT_TAG}[.]${UUID}[.]${BODY}$`;

/** JavaScript twin of PHI_ENVELOPE_SQL_PATTERN (no `g` flag, so `test()` keeps no state between calls). */
export const PHI_ENVELOPE_REGEX = new RegExp(PHI_ENVELOPE_SQL_PATTERN);

/**
 * Encrypts one field value with XChaCha20-Poly1305 under a data key and returns `phi1.<dataKeyId>.<body>`.
 * The associated data binds table, column, row id and key id, so the envelope cannot be replayed elsewhere.
 */
export function sealField(dataKey: Uint8Array, dataKeyId: string, ctx: FieldContext, plaintext: string): string {
  const sodium = getSodium();
  assertUsableKey(dataKey, 'data key');
  const associatedData = fieldAssociatedData(ctx, dataKeyId);
  if (typeof plaintext !== 'string' || !isWellFormedText(plaintext)) {
    throw new InvalidCryptoInputError(`plaintext for ${ctx.table}.${ctx.column} must be a well-formed string`);
  }
  const nonce = randomNonce();
  const sealed = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(
    Buffer.from(plaintext, 'utf8'),
    associatedData,
    null,
    nonce,
    dataKey,
  );
  // 24 bytes is a whole number of base64 quanta, so encoding nonce and ciphertext separately gives the
  // same text as encoding their concatenation, without copying them into one buffer first.
  return `${FORMAT_TAG}.${dataKeyId}.${nonce.toString('base64url')}${asBuffer(sealed).toString('base64url')}`;
}

/**
 * Decrypts an envelope sealed by `sealField` for exactly this context and data key. Throws BAD_ENVELOPE,
 * KEY_MISMATCH or DECRYPT_FAILED; never returns unauthenticated bytes.
 */
export function openField(dataKey: Uint8Array, dataKeyId: string, ctx: FieldContext, envelope: string): string {
  const sodium = getSodium();
  assertUsableKey(dataKey, 'data key');
  const associatedData = fieldAssociatedData(ctx, dataKeyId);
  const parsed = tryParseEnvelope(envelope);
  if (parsed === undefined) throw new BadEnvelopeError(`malformed PHI envelope in ${ctx.table}.${ctx.column}`);
  if (parsed.dataKeyId !== dataKeyId) {
    throw new KeyMismatchError(
      `envelope in ${ctx.table}.${ctx.column} is sealed under data key ${parsed.dataKeyId}, not ${dataKeyId}`,
    );
  }
  let plaintext: Uint8Array;
  try {
    plaintext = sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
      null,
      parsed.body.subarray(NONCE_BYTES),
      associatedData,
      parsed.body.subarray(0, NONCE_BYTES),
      dataKey,
    );
  } catch {
    throw new DecryptFailedError(`cannot decrypt ${ctx.table}.${ctx.column} with data key ${dataKeyId}`);
  }
  return asBuffer(plaintext).toString('utf8');
}

/** Splits a stored envelope into format version, data key id and binary body; throws BAD_ENVELOPE if malformed. */
export function parseEnvelope(text: string): ParsedEnvelope {
  const parsed = tryParseEnvelope(text);
  if (parsed === undefined) throw new BadEnvelopeError('malformed PHI envelope');
  return parsed;
}

/** Returns the data key id named by an envelope, so the caller can fetch that key before `openField`. */
export function envelopeKeyId(text: string): string {
  if (!hasValidHeader(text)) throw new BadEnvelopeError('malformed PHI envelope');
  return text.slice(FORMAT_TAG.length + 1, FORMAT_TAG.length + 1 + KEY_ID_LENGTH);
}

/** True if `value` is a string in the `phi1` envelope format (syntax only; says nothing about authenticity). */
export function isPhiEnvelope(value: unknown): value is string {
  return typeof value === 'string' && PHI_ENVELOPE_REGEX.test(value);
}

function fieldAssociatedData(ctx: FieldContext, dataKeyId: string): Buffer {
  assertIdentifier(ctx?.table, 'table');
  assertIdentifier(ctx.column, 'column');
  assertOpaqueId(ctx.rowId, `rowId for ${ctx.table}.${ctx.column}`);
  assertKeyId(dataKeyId, 'dataKeyId');
  return encodeParts(FIELD_AD_PREFIX, [ctx.table, ctx.column, ctx.rowId, dataKeyId]);
}

function hasValidHeader(text: unknown): text is string {
  return (
    typeof text === 'string' &&
    text.length > HEADER_LENGTH &&
    text.startsWith(FORMAT_TAG) &&
    text.charCodeAt(FORMAT_TAG.length) === 0x2e &&
    text.charCodeAt(HEADER_LENGTH - 1) === 0x2e &&
    isKeyId(text.slice(FORMAT_TAG.length + 1, HEADER_LENGTH - 1))
  );
}

function tryParseEnvelope(text: unknown): ParsedEnvelope | undefined {
  if (!hasValidHeader(text)) return undefined;
  const encoded = text.slice(HEADER_LENGTH);
  const body = Buffer.from(encoded, 'base64url');
  // Node's decoder skips characters outside the alphabet and ignores non-zero trailing bits. Re-encoding and
  // comparing rejects both, so only the one canonical spelling of a body is accepted (measured cheaper than
  // running PHI_ENVELOPE_REGEX over the body).
  if (body.length < MIN_BODY_BYTES || body.toString('base64url') !== encoded) return undefined;
  return { formatVersion: 1, dataKeyId: text.slice(FORMAT_TAG.length + 1, HEADER_LENGTH - 1), body };
}

// Views libsodium's output as a Buffer over the same memory, for Node's fast encoders, without copying.
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
