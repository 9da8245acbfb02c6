import { InvalidCryptoInputError, KeyDestroyedError } from './crypto-error';

/** Length in bytes of every symmetric key handled here (master, data, blind-index root). */
export const KEY_BYTES = 32;

/**
 * Throws unless `key` is a 32-byte Uint8Array that has not been wiped. An all-zero key means a cache
 * eviction or `destroy()` zeroed it while a caller still held it; using it would encrypt under a public key.
 */
export function assertUsableKey(key: Uint8Array, label: string): void {
  if (!(key instanceof Uint8Array) || key.length !== KEY_BYTES) {
    throw new InvalidCryptoInputError(`${label} must be a ${KEY_BYTES}-byte Uint8Array`);
  }
  if (isAllZero(key)) throw new KeyDestroyedError(`${label} is all zeros (wiped or never set)`);
}

/** Copies key bytes into a dedicated Uint8Array, so the owner can wipe its own copy independently. */
export function copyKey(key: Uint8Array): Uint8Array {
  return new Uint8Array(key);
}

function isAllZero(bytes: Uint8Array): boolean {
  // Accumulate over every byte instead of returning early, so timing does not reveal where key bytes are zero.
  let acc = 0;
  for (let i = 0; i < bytes.length; i++) acc |= bytes[i];
  return acc === 0;
}
