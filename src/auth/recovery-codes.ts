import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

// Crockford base32 in lower case: no i, l, o or u, so no two symbols look alike; 32 symbols give 5 bits each.
const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
const GROUPS = 4;
const GROUP_LENGTH = 5;
const CODE_LENGTH = GROUPS * GROUP_LENGTH;
const MAX_COUNT = 100;
const SHA256_HEX = /^[0-9a-f]{64}$/i;

/** Bits of entropy in one recovery code (20 symbols x 5 bits). */
export const RECOVERY_CODE_BITS = CODE_LENGTH * 5;

/** Generates `count` distinct one-time recovery codes like `7k2mq-x9d4r-...`, each with 100 random bits. */
export function generateRecoveryCodes(count = 10): string[] {
  if (!Number.isInteger(count) || count < 1 || count > MAX_COUNT) {
    throw new RangeError(`Recovery code count must be an integer between 1 and ${MAX_COUNT}`);
  }
  const codes = new Set<string>();
  while (codes.size < count) {
    const bytes = randomBytes(CODE_LENGTH);
    // 256 is a multiple of 32, so taking the low 5 bits of each byte is unbiased.
    const symbols = Array.from(bytes, (byte) => ALPHABET[byte & 0x1f]).join('');
    const groups: string[] = [];
    for (let i = 0; i < CODE_LENGTH; i += GROUP_LENGTH) groups.push(symbols.slice(i, i + GROUP_LENGTH));
    codes.add(groups.join('-'));
  }
  return [...codes];
}

/**
 * Canonicalises user input to the bare 20-symbol form: lower case, no whitespace or dashes, and the
 * Crockford look-alikes o -> 0 and i/l -> 1 folded, so a code read off paper still matches.
 */
export function normalizeRecoveryCode(input: string): string {
  return input
    .toLowerCase()
    .replace(/[\s\p{Pd}]+/gu, '')
    .replace(/o/g, '0')
    .replace(/[il]/g, '1');
}

/**
 * SHA-256 hex of the normalised code, for storage. A fast unsalted hash is enough here: each code carries
 * >= 80 random bits, so brute-forcing a leaked hash is infeasible at any hash speed. Passwords need argon2
 * because they are low-entropy human choices that an attacker can guess cheaply without a slow hash.
 */
export function hashRecoveryCode(code: string): string {
  return createHash('sha256').update(normalizeRecoveryCode(code), 'utf8').digest('hex');
}

/**
 * Returns the index of the stored hash matching `input`, or -1. The caller must delete that hash after use.
 * Every stored hash is compared in constant time and the loop never exits early.
 */
export function matchRecoveryCode(input: string, storedHashes: string[]): number {
  if (typeof input !== 'string' || input.length > CODE_LENGTH * 4) return -1;
  const normalized = normalizeRecoveryCode(input);
  if (normalized.length !== CODE_LENGTH) return -1;
  const candidate = createHash('sha256').update(normalized, 'utf8').digest();
  let matchIndex = -1;
  storedHashes.forEach((stored, index) => {
    if (typeof stored !== 'string' || !SHA256_HEX.test(stored)) return;
    if (timingSafeEqual(candidate, Buffer.from(stored, 'hex')) && matchIndex === -1) matchIndex = index;
  });
  return matchIndex;
}
