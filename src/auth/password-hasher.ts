import { randomBytes } from 'node:crypto';
import * as argon2 from 'argon2';
import { MAX_PASSWORD_LENGTH, countCodePoints } from './password-policy';

/** Argon2id cost parameters: memory in KiB, iterations, and lanes. */
export interface PasswordHasherParams {
  memoryKiB: number;
  timeCost: number;
  parallelism: number;
}

/** OWASP Password Storage Cheat Sheet floor for argon2id (m=19 MiB, t=2, p=1); anything weaker is refused. */
export const OWASP_MIN_ARGON2ID_PARAMS: Readonly<PasswordHasherParams> = Object.freeze({
  memoryKiB: 19456,
  timeCost: 2,
  parallelism: 1,
});

/** Thrown when a password exceeds the hashing length limit; carries no part of the password. */
export class PasswordTooLongError extends Error {
  constructor() {
    super(`Password exceeds the maximum length of ${MAX_PASSWORD_LENGTH} characters`);
    this.name = 'PasswordTooLongError';
  }
}

interface ParsedArgon2Hash {
  type: string;
  version: number;
  memoryKiB: number;
  timeCost: number;
  parallelism: number;
}

// Argon2 version 1.3 (0x13), the current and only non-deprecated version.
const ARGON2_VERSION = 19;

const PHC_B64 = /^[A-Za-z0-9+/]+$/;

/**
 * Parses a PHC string such as `$argon2id$v=19$m=65536,t=3,p=4$<salt>$<hash>`. Parameter order is not fixed
 * (node-argon2 emits `m,p,t`), so the list is split into keys; each of m, t and p must appear exactly once.
 */
function parseArgon2Hash(storedHash: string): ParsedArgon2Hash | null {
  const fields = storedHash.split('$');
  if (fields.length !== 6 || fields[0] !== '') return null;
  const [, type, versionField, paramsField, salt, hash] = fields;
  if (type !== 'argon2id' && type !== 'argon2i' && type !== 'argon2d') return null;
  const version = /^v=(\d{1,3})$/.exec(versionField);
  if (!version || !PHC_B64.test(salt) || !PHC_B64.test(hash)) return null;
  const params = new Map<string, number>();
  for (const pair of paramsField.split(',')) {
    const match = /^([a-z]+)=(\d{1,10})$/.exec(pair);
    if (!match || params.has(match[1])) return null;
    params.set(match[1], Number(match[2]));
  }
  const memoryKiB = params.get('m');
  const timeCost = params.get('t');
  const parallelism = params.get('p');
  if (memoryKiB === undefined || timeCost === undefined || parallelism === undefined) return null;
  return { type, version: Number(version[1]), memoryKiB, timeCost, parallelism };
}

function isWithinLengthLimit(password: string): boolean {
  return countCodePoints(password, MAX_PASSWORD_LENGTH) <= MAX_PASSWORD_LENGTH;
}

/** Hashes and verifies passwords with argon2id at configurable cost, and flags stored hashes that need upgrading. */
export class PasswordHasher {
  private readonly params: Readonly<PasswordHasherParams>;
  private dummyHash: Promise<string> | undefined;

  /** Validates the cost parameters against the OWASP minimum so a misconfiguration fails at startup. */
  constructor(params: PasswordHasherParams) {
    const min = OWASP_MIN_ARGON2ID_PARAMS;
    for (const key of ['memoryKiB', 'timeCost', 'parallelism'] as const) {
      const value = params[key];
      if (!Number.isSafeInteger(value) || value < min[key]) {
        throw new RangeError(`argon2id ${key} must be an integer >= ${min[key]} (OWASP minimum), got ${value}`);
      }
    }
    this.params = Object.freeze({ ...params });
  }

  /** Returns an argon2id PHC string with a fresh random salt; refuses over-long passwords before any hashing work. */
  async hash(password: string): Promise<string> {
    if (typeof password !== 'string') throw new TypeError('Password must be a string');
    if (!isWithinLengthLimit(password)) throw new PasswordTooLongError();
    return argon2.hash(password, {
      type: argon2.argon2id,
      memoryCost: this.params.memoryKiB,
      timeCost: this.params.timeCost,
      parallelism: this.params.parallelism,
    });
  }

  /** True when the password matches the stored hash; false (never throws) on mismatch, malformed hash or bad input. */
  async verify(storedHash: string, password: string): Promise<boolean> {
    if (typeof storedHash !== 'string' || typeof password !== 'string') return false;
    // Such a password could never have been hashed, so it cannot match; skip the costly work.
    if (!isWithinLengthLimit(password)) return false;
    if (!parseArgon2Hash(storedHash)) return false;
    try {
      return await argon2.verify(storedHash, password);
    } catch {
      return false;
    }
  }

  /**
   * True when the stored hash is not argon2id v1.3 or any of its m/t/p is below the configured value,
   * so the caller should re-hash after a successful login. Unparseable hashes also return true.
   */
  needsRehash(storedHash: string): boolean {
    const parsed = typeof storedHash === 'string' ? parseArgon2Hash(storedHash) : null;
    if (!parsed) return true;
    return (
      parsed.type !== 'argon2id' ||
      parsed.version !== ARGON2_VERSION ||
      parsed.memoryKiB < this.params.memoryKiB ||
      parsed.timeCost < this.params.timeCost ||
      parsed.parallelism < this.params.parallelism
    );
  }

  /**
   * Performs a full verify against a throwaway hash and always resolves false. Call it when the user does
   * not exist so that the response takes as long as a wrong password, which closes an account-enumeration
   * timing side channel.
   */
  async verifyAgainstDummy(password: string): Promise<false> {
    const dummyHash = await this.getDummyHash();
    await this.verify(dummyHash, typeof password === 'string' ? password : '');
    return false;
  }

  // Computed once per hasher, with the same parameters as real hashes so its verify cost is identical.
  // Only the very first call pays the extra hashing cost; the promise is shared by concurrent callers.
  private getDummyHash(): Promise<string> {
    if (!this.dummyHash) {
      this.dummyHash = this.hash(randomBytes(32).toString('base64')).catch((error: unknown) => {
        this.dummyHash = undefined;
        throw error;
      });
    }
    return this.dummyHash;
  }
}
