import {
  assertIdentifier,
  assertKeyId,
  assertOpaqueId,
  encodeConstantPrefix,
  encodeParts,
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
  const bodyLength = NONCE_BYTES + sealed.length;
  if (bodyLength <= SCRATCH_BYTES) {
    // One native encode of nonce || ciphertext, assembled in a scratch buffer (neither part is secret).
    SEAL_SCRATCH.set(nonce, 0);
    SEAL_SCRATCH.set(sealed, NONCE_BYTES);
    return `${FORMAT_TAG}.${dataKeyId}.${SEAL_SCRATCH.toString('base64url', 0, bodyLength)}`;
  }
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
  const associatedData = fieldAssociatedData(ctx, dataKeyId); // also validates dataKeyId as a lowercase UUID
  // Fast path: the header names exactly the (already validated) key id the caller passed. Otherwise fall back
  // to the full header check, which decides between BAD_ENVELOPE and KEY_MISMATCH as before.
  let sameKeyId = false;
  if (
    typeof envelope === 'string' &&
    envelope.length > HEADER_LENGTH &&
    envelope.startsWith(HEADER_START) &&
    envelope.charCodeAt(HEADER_LENGTH - 1) === 0x2e
  ) {
    sameKeyId = envelope.startsWith(dataKeyId, KEY_ID_OFFSET);
  }
  if (!sameKeyId && !hasValidHeader(envelope)) {
    throw new BadEnvelopeError(`malformed PHI envelope in ${ctx.table}.${ctx.column}`);
  }
  const bodyLength = decodedBodyLength(envelope.length - HEADER_LENGTH);
  // The body is ciphertext (not secret) and libsodium copies its inputs, so a shared scratch buffer is safe.
  const body = bodyLength <= SCRATCH_BYTES ? OPEN_SCRATCH : Buffer.allocUnsafe(bodyLength);
  if (bodyLength < MIN_BODY_BYTES || !decodeCanonicalBase64url(envelope, HEADER_LENGTH, body)) {
    throw new BadEnvelopeError(`malformed PHI envelope in ${ctx.table}.${ctx.column}`);
  }
  if (!sameKeyId) {
    const envelopeKey = envelope.slice(KEY_ID_OFFSET, HEADER_LENGTH - 1);
    throw new KeyMismatchError(
      `envelope in ${ctx.table}.${ctx.column} is sealed under data key ${envelopeKey}, not ${dataKeyId}`,
    );
  }
  let plaintext: Uint8Array;
  try {
    plaintext = sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
      null,
      body === OPEN_SCRATCH ? openScratchCiphertext(bodyLength) : body.subarray(NONCE_BYTES),
      associatedData,
      body === OPEN_SCRATCH ? OPEN_SCRATCH_NONCE : body.subarray(0, NONCE_BYTES),
      dataKey,
    );
  } catch {
    throw new DecryptFailedError(`cannot decrypt ${ctx.table}.${ctx.column} with data key ${dataKeyId}`);
  }
  return UTF8_DECODER.decode(plaintext);
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
  return text.slice(KEY_ID_OFFSET, KEY_ID_OFFSET + KEY_ID_LENGTH);
}

/** True if `value` is a string in the `phi1` envelope format (syntax only; says nothing about authenticity). */
export function isPhiEnvelope(value: unknown): value is string {
  return typeof value === 'string' && PHI_ENVELOPE_REGEX.test(value);
}

// ---- hot-path internals ----------------------------------------------------------------------------------

const HEADER_START = `${FORMAT_TAG}.`;
const KEY_ID_OFFSET = FORMAT_TAG.length + 1;
const MAX_ROW_ID_BYTES = 3 * 255; // assertOpaqueId caps row ids at 255 UTF-16 units, at most 3 UTF-8 bytes each
const SCRATCH_BYTES = 4096;
const SEAL_SCRATCH = Buffer.alloc(SCRATCH_BYTES);
const OPEN_SCRATCH = Buffer.alloc(SCRATCH_BYTES);
const OPEN_SCRATCH_NONCE = OPEN_SCRATCH.subarray(0, NONCE_BYTES);
let openScratchView = OPEN_SCRATCH.subarray(NONCE_BYTES, NONCE_BYTES);

/** The ciphertext-and-tag part of OPEN_SCRATCH for a body of `bodyLength` bytes (view reused while equal). */
function openScratchCiphertext(bodyLength: number): Buffer {
  if (openScratchView.length !== bodyLength - NONCE_BYTES) {
    openScratchView = OPEN_SCRATCH.subarray(NONCE_BYTES, bodyLength);
  }
  return openScratchView;
}

// Same bytes-to-text result as Buffer#toString('utf8') (both end in V8's UTF-8 decoder, invalid sequences
// become U+FFFD), without wrapping libsodium's output in a Buffer first. ignoreBOM keeps a leading U+FEFF,
// which toString also keeps; the default would strip it. Non-streaming decode() keeps no state between calls.
const UTF8_DECODER = new TextDecoder('utf-8', { ignoreBOM: true });

// The last dataKeyId that passed validation; callers hold few data keys, so this usually skips the check.
let lastValidKeyId = '';

/**
 * Per (table, column): a buffer already holding FIELD_AD_PREFIX || len(table) || table || len(column) || column,
 * with room after it for the row id and key id parts. Only validated identifiers are ever inserted, so a hit
 * means both names already passed assertIdentifier. Bounded: beyond the limit, buffers are built per call.
 */
interface AdTemplate {
  buffer: Buffer;
  prefixLength: number;
  view: Buffer; // buffer.subarray(0, length of the last AD written), reused while that length repeats
}
const MAX_AD_TEMPLATES = 1024;
const adTemplates = new Map<string, Map<string, AdTemplate>>();
let adTemplateCount = 0;

function adTemplate(table: unknown, column: unknown): AdTemplate {
  const cached = adTemplates.get(table as string)?.get(column as string);
  if (cached !== undefined) return cached;
  assertIdentifier(table, 'table');
  assertIdentifier(column, 'column');
  const prefix = encodeParts(FIELD_AD_PREFIX, [table, column]);
  const buffer = Buffer.alloc(prefix.length + 4 + MAX_ROW_ID_BYTES + 4 + KEY_ID_LENGTH);
  prefix.copy(buffer, 0);
  const template = { buffer, prefixLength: prefix.length, view: buffer.subarray(0, 0) };
  if (adTemplateCount < MAX_AD_TEMPLATES) {
    let columns = adTemplates.get(table);
    if (columns === undefined) adTemplates.set(table, (columns = new Map()));
    columns.set(column, template);
    adTemplateCount++;
  }
  return template;
}

/**
 * The field AD: encodeParts(FIELD_AD_PREFIX, [table, column, rowId, dataKeyId]), byte for byte, written into the
 * cached per-column buffer. The returned view is only valid until the next call; libsodium copies it at once.
 */
function fieldAssociatedData(ctx: FieldContext, dataKeyId: string): Buffer {
  const template = adTemplate(ctx?.table, ctx?.column);
  const { buffer, prefixLength } = template;
  const rowId: unknown = ctx.rowId;
  if (typeof rowId !== 'string' || rowId.length === 0 || rowId.length > 255 || !isWellFormedText(rowId)) {
    assertOpaqueId(rowId, `rowId for ${ctx.table}.${ctx.column}`); // throws with the usual message
  }
  if (dataKeyId !== lastValidKeyId) {
    if (!isKeyIdAt(dataKeyId, 0) || dataKeyId.length !== KEY_ID_LENGTH) assertKeyId(dataKeyId, 'dataKeyId');
    lastValidKeyId = dataKeyId;
  }
  let offset = prefixLength;
  const rowIdBytes = buffer.write(rowId as string, offset + 4, 'utf8');
  buffer.writeUInt32BE(rowIdBytes, offset);
  offset += 4 + rowIdBytes;
  buffer.writeUInt32BE(KEY_ID_LENGTH, offset);
  buffer.write(dataKeyId, offset + 4, 'latin1'); // a validated UUID is ASCII: latin1 and UTF-8 bytes are identical
  const length = offset + 4 + KEY_ID_LENGTH;
  if (template.view.length !== length) template.view = buffer.subarray(0, length);
  return template.view;
}

/** True if `text` holds a canonical lowercase UUID at `offset` (the CANONICAL_UUID pattern, without a regex). */
function isKeyIdAt(text: unknown, offset: number): boolean {
  if (typeof text !== 'string' || text.length < offset + KEY_ID_LENGTH) return false;
  for (let i = 0; i < KEY_ID_LENGTH; i++) {
    const c = text.charCodeAt(offset + i);
    if (i === 8 || i === 13 || i === 18 || i === 23) {
      if (c !== 0x2d) return false;
    } else if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) {
      return false;
    }
  }
  return true;
}

function hasValidHeader(text: unknown): text is string {
  return (
    typeof text === 'string' &&
    text.length > HEADER_LENGTH &&
    text.startsWith(HEADER_START) &&
    text.charCodeAt(HEADER_LENGTH - 1) === 0x2e &&
    isKeyIdAt(text, KEY_ID_OFFSET)
  );
}

function tryParseEnvelope(text: unknown): ParsedEnvelope | undefined {
  if (!hasValidHeader(text)) return undefined;
  const bodyLength = decodedBodyLength(text.length - HEADER_LENGTH);
  if (bodyLength < MIN_BODY_BYTES) return undefined;
  const body = Buffer.allocUnsafe(bodyLength);
  if (!decodeCanonicalBase64url(text, HEADER_LENGTH, body)) return undefined;
  return { formatVersion: 1, dataKeyId: text.slice(KEY_ID_OFFSET, HEADER_LENGTH - 1), body };
}

// base64url alphabet value per char code, -1 outside it.
const B64URL_VALUES = new Int8Array(128).fill(-1);
for (let i = 0; i < 64; i++) {
  B64URL_VALUES['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.charCodeAt(i)] = i;
}

/** Bytes encoded by `chars` unpadded base64 characters; -1 for a length no encoding produces (4k + 1). */
function decodedBodyLength(chars: number): number {
  const rest = chars & 3;
  return rest === 1 ? -1 : (chars >> 2) * 3 + (rest === 0 ? 0 : rest - 1);
}

/**
 * Decodes unpadded base64url from `text[start..]` into `out` (sized by decodedBodyLength), accepting only the
 * canonical spelling: every character in the alphabet, no padding, and zero unused bits in the final
 * character. This is exactly what re-encoding the decoded bytes and comparing would accept.
 */
function decodeCanonicalBase64url(text: string, start: number, out: Uint8Array): boolean {
  const end = text.length;
  const fullEnd = end - ((end - start) & 3);
  let o = 0;
  let i = start;
  for (; i < fullEnd; i += 4) {
    const c0 = text.charCodeAt(i);
    const c1 = text.charCodeAt(i + 1);
    const c2 = text.charCodeAt(i + 2);
    const c3 = text.charCodeAt(i + 3);
    if ((c0 | c1 | c2 | c3) > 127) return false;
    const v0 = B64URL_VALUES[c0];
    const v1 = B64URL_VALUES[c1];
    const v2 = B64URL_VALUES[c2];
    const v3 = B64URL_VALUES[c3];
    if ((v0 | v1 | v2 | v3) < 0) return false;
    out[o++] = (v0 << 2) | (v1 >> 4);
    out[o++] = ((v1 & 15) << 4) | (v2 >> 2);
    out[o++] = ((v2 & 3) << 6) | v3;
  }
  const rest = end - fullEnd;
  if (rest === 0) return true;
  if (rest === 1) return false;
  const c0 = text.charCodeAt(i);
  const c1 = text.charCodeAt(i + 1);
  const c2 = rest === 3 ? text.charCodeAt(i + 2) : 0x41; // 'A' (value 0) stands in for the absent character
  if ((c0 | c1 | c2) > 127) return false;
  const v0 = B64URL_VALUES[c0];
  const v1 = B64URL_VALUES[c1];
  const v2 = B64URL_VALUES[c2];
  if ((v0 | v1 | v2) < 0) return false;
  out[o++] = (v0 << 2) | (v1 >> 4);
  if (rest === 2) return (v1 & 15) === 0;
  out[o] = ((v1 & 15) << 4) | (v2 >> 2);
  return (v2 & 3) === 0;
}

// Views libsodium's output as a Buffer over the same memory, for Node's fast encoders, without copying.
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
