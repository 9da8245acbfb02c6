// Default import on purpose: libsodium-wrappers attaches its functions to `exports` only after `ready`
// resolves, and `import * as` compiles to a namespace copy taken at require time that never sees them.
import sodium from 'libsodium-wrappers';

import { CryptoError, CryptoNotReadyError } from './crypto-error';

/** The libsodium-wrappers API, as returned by `getSodium()`. */
export type Sodium = typeof sodium;

let ready = false;
let pending: Promise<void> | undefined;

/** Loads libsodium once per process; await it at startup before calling any synchronous crypto function. */
export function initCrypto(): Promise<void> {
  pending ??= sodium.ready.then(
    () => {
      assertPrimitiveSizes();
      ready = true;
    },
    (error: unknown) => {
      pending = undefined; // allow a retry after a failed load
      throw error;
    },
  );
  return pending;
}

/** True once `initCrypto()` has resolved. */
export function isCryptoReady(): boolean {
  return ready;
}

/** Returns the initialised libsodium instance, or throws CRYPTO_NOT_READY so misuse fails loudly. */
export function getSodium(): Sodium {
  if (!ready) throw new CryptoNotReadyError();
  return sodium;
}

/**
 * Overwrites key bytes with zeros; usable before init because `memzero` is plain JavaScript in the wrapper.
 * Best effort only: libsodium-wrappers copies arguments into its WASM heap and frees them without zeroing.
 */
export function wipe(bytes: Uint8Array): void {
  sodium.memzero(bytes);
}

// The envelope formats hard-code these sizes; refuse to run on a build where they differ.
function assertPrimitiveSizes(): void {
  const ok =
    sodium.crypto_aead_xchacha20poly1305_ietf_KEYBYTES === 32 &&
    sodium.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES === 24 &&
    sodium.crypto_aead_xchacha20poly1305_ietf_ABYTES === 16 &&
    sodium.crypto_generichash_KEYBYTES_MAX >= 32;
  if (!ok) throw new CryptoError('CRYPTO_NOT_READY', 'libsodium build has unexpected XChaCha20-Poly1305 sizes');
}
