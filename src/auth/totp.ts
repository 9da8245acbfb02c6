import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** HMAC algorithms allowed by RFC 6238 section 1.2. */
export type TotpAlgorithm = 'sha1' | 'sha256' | 'sha512';

/** Code generation options; defaults (SHA-1, 6 digits) are what every authenticator app supports. */
export interface TotpOptions {
  algorithm?: TotpAlgorithm;
  digits?: number;
}

/** Verification options: accepted clock drift in steps, and the last step already accepted for this secret. */
export interface TotpVerifyOptions extends TotpOptions {
  window?: number;
  lastUsedStep?: number;
}

/** Verification outcome; on success the caller must persist `step` and pass it back as `lastUsedStep`. */
export type TotpVerifyResult = { ok: true; step: number } | { ok: false };

/** Time step length in seconds (RFC 6238 section 5.2 recommended default). */
export const TOTP_STEP_SECONDS = 30;

/** Default code length. */
export const TOTP_DEFAULT_DIGITS = 6;

const BASE32_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const MIN_DIGITS = 6;
const MAX_DIGITS = 8;
const MAX_WINDOW = 10;
// RFC 4226 section 4, requirement R6: the shared secret MUST be at least 128 bits.
const MIN_SECRET_BYTES = 16;
const SECRET_BYTES = 20;

/** Encodes bytes as RFC 4648 base32 (upper case, no padding), the format authenticator apps expect. */
export function base32Encode(data: Uint8Array): string {
  let output = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of data) {
    buffer = ((buffer << 8) | byte) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      output += BASE32_ALPHABET[(buffer >>> bits) & 0x1f];
    }
  }
  if (bits > 0) output += BASE32_ALPHABET[(buffer << (5 - bits)) & 0x1f];
  return output;
}

/**
 * Decodes RFC 4648 base32, tolerating lower case, whitespace and trailing padding as users type or paste it.
 * Throws on any other character or on a length no encoder can produce; the message never echoes the input.
 */
export function base32Decode(input: string): Buffer {
  const cleaned = input.replace(/\s+/g, '').replace(/=+$/, '').toUpperCase();
  // Unpadded lengths of 1, 3 or 6 (mod 8) leave a partial byte that no valid encoding produces.
  if ([1, 3, 6].includes(cleaned.length % 8)) throw new Error('Invalid base32 length');
  const bytes: number[] = [];
  let buffer = 0;
  let bits = 0;
  for (const char of cleaned) {
    const value = BASE32_ALPHABET.indexOf(char);
    if (value === -1) throw new Error('Invalid base32 character');
    buffer = ((buffer << 5) | value) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      bytes.push((buffer >>> bits) & 0xff);
    }
  }
  return Buffer.from(bytes);
}

/** Creates a new 160-bit TOTP secret (RFC 4226 recommended length) as unpadded base32. */
export function generateTotpSecret(): string {
  return base32Encode(randomBytes(SECRET_BYTES));
}

function resolveOptions(opts: TotpOptions): { algorithm: TotpAlgorithm; digits: number } {
  const algorithm = opts.algorithm ?? 'sha1';
  const digits = opts.digits ?? TOTP_DEFAULT_DIGITS;
  if (algorithm !== 'sha1' && algorithm !== 'sha256' && algorithm !== 'sha512') {
    throw new RangeError('Unsupported TOTP algorithm');
  }
  if (!Number.isInteger(digits) || digits < MIN_DIGITS || digits > MAX_DIGITS) {
    throw new RangeError(`TOTP digits must be an integer between ${MIN_DIGITS} and ${MAX_DIGITS}`);
  }
  return { algorithm, digits };
}

function decodeSecret(secretBase32: string): Buffer {
  const key = base32Decode(secretBase32);
  if (key.length < MIN_SECRET_BYTES) throw new RangeError(`TOTP secret must be at least ${MIN_SECRET_BYTES} bytes`);
  return key;
}

function timeStep(atMs: number): number {
  if (!Number.isFinite(atMs) || atMs < 0) throw new RangeError('Time must be a non-negative finite number of ms');
  return Math.floor(atMs / (TOTP_STEP_SECONDS * 1000));
}

/** RFC 4226 HOTP value for one counter, zero-padded to `digits`. */
function hotp(key: Buffer, counter: number, algorithm: TotpAlgorithm, digits: number): string {
  const message = Buffer.alloc(8);
  message.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac(algorithm, key).update(message).digest();
  // Dynamic truncation (RFC 4226 section 5.3): low nibble of the last byte picks a 4-byte window; drop the sign bit.
  const offset = mac[mac.length - 1] & 0x0f;
  const binary = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 10 ** digits).padStart(digits, '0');
}

/** Computes the TOTP code for the 30-second step containing `atMs` (Unix epoch milliseconds). */
export function totpCode(secretBase32: string, atMs: number, opts: TotpOptions = {}): string {
  const { algorithm, digits } = resolveOptions(opts);
  return hotp(decodeSecret(secretBase32), timeStep(atMs), algorithm, digits);
}

/**
 * Checks a user-supplied code against steps within ±window of `atMs`, in constant time per candidate.
 * Steps at or before `lastUsedStep` are refused so an observed code cannot be replayed (RFC 6238 section 5.2).
 */
export function verifyTotp(
  secretBase32: string,
  code: string,
  atMs: number,
  opts: TotpVerifyOptions = {},
): TotpVerifyResult {
  const { algorithm, digits } = resolveOptions(opts);
  const window = opts.window ?? 1;
  if (!Number.isInteger(window) || window < 0 || window > MAX_WINDOW) {
    throw new RangeError(`TOTP window must be an integer between 0 and ${MAX_WINDOW}`);
  }
  const { lastUsedStep } = opts;
  if (lastUsedStep !== undefined && !Number.isSafeInteger(lastUsedStep)) {
    throw new RangeError('lastUsedStep must be an integer');
  }
  const key = decodeSecret(secretBase32);
  const current = timeStep(atMs);
  if (typeof code !== 'string' || code.length !== digits || !/^[0-9]+$/.test(code)) return { ok: false };

  const submitted = Buffer.from(code, 'ascii');
  let matchedStep: number | undefined;
  // Every candidate is computed and compared, so timing does not reveal which step (if any) matched.
  for (let step = current - window; step <= current + window; step++) {
    if (step < 0 || (lastUsedStep !== undefined && step <= lastUsedStep)) continue;
    const expected = Buffer.from(hotp(key, step, algorithm, digits), 'ascii');
    if (timingSafeEqual(expected, submitted) && matchedStep === undefined) matchedStep = step;
  }
  return matchedStep === undefined ? { ok: false } : { ok: true, step: matchedStep };
}

/** Parameters of an authenticator enrollment URI. */
export interface TotpUriParams extends TotpOptions {
  issuer: string;
  account: string;
  secret: string;
}

/**
 * Builds an `otpauth://totp/Issuer:account?...` provisioning URI (Key Uri Format) for a QR code.
 * Spaces become %20 rather than '+', which several authenticator apps would display literally.
 */
export function totpUri({ issuer, account, secret, ...opts }: TotpUriParams): string {
  const { algorithm, digits } = resolveOptions(opts);
  if (!issuer || !account) throw new RangeError('TOTP issuer and account are required');
  // The colon separates issuer from account in the label, so neither part may contain one.
  if (issuer.includes(':') || account.includes(':')) {
    throw new RangeError('TOTP issuer and account must not contain ":"');
  }
  const canonicalSecret = base32Encode(decodeSecret(secret));
  const label = `${encodeURIComponent(issuer)}:${encodeURIComponent(account)}`;
  const query = [
    `secret=${canonicalSecret}`,
    `issuer=${encodeURIComponent(issuer)}`,
    `algorithm=${algorithm.toUpperCase()}`,
    `digits=${digits}`,
    `period=${TOTP_STEP_SECONDS}`,
  ].join('&');
  return `otpauth://totp/${label}?${query}`;
}
