import { assertKeyId, assertOpaqueId, encodeConstantPrefix, encodeParts } from './associated-data';
import { DecryptFailedError, InvalidCryptoInputError, KeyDestroyedError, UnknownKeyVersionError } from './crypto-error';
import { assertUsableKey, copyKey, KEY_BYTES } from './key-material';
import { NONCE_BYTES, randomKeyBytes, randomNonce } from './nonce';
import { getSodium, wipe } from './sodium';

/** Master keys by version plus the version used for new wraps. */
export interface MasterKeyRingInit {
  versions: ReadonlyMap<number, Uint8Array>;
  active: number;
}

/** What a wrapped data key is bound to: unwrapping under any other subject or key id fails. */
export interface DataKeyContext {
  subjectId: string;
  dataKeyId: string;
}

/** A data key encrypted under a master key: `wrapped` is nonce(24) || ciphertext+tag(48). */
export interface WrappedDataKey {
  masterVersion: number;
  wrapped: Buffer;
}

const WRAP_DOMAIN = encodeConstantPrefix(['hms/data-key/v1']);
const TAG_BYTES = 16;
const WRAPPED_BYTES = NONCE_BYTES + KEY_BYTES + TAG_BYTES;
const MAX_VERSION = 0x7fffffff;
const VERSION_TEXT = /^[1-9][0-9]{0,9}$/;
// Standard base64 of exactly 32 bytes: 43 characters, the last carrying 2 zero padding bits, then one '='.
const KEY_BASE64 = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

/** Returns a fresh random 32-byte data key in its own buffer (wipe it, or hand it to DataKeyCache). */
export function generateDataKey(): Uint8Array {
  return randomKeyBytes(KEY_BYTES);
}

/**
 * Parses `1:<base64 32 bytes>,2:<base64 32 bytes>` into versioned keys. Errors name the 1-based entry index,
 * never its text. The caller owns the returned arrays and should wipe them once a MasterKeyRing has copied them.
 */
export function parseMasterKeys(text: string): Map<number, Uint8Array> {
  if (typeof text !== 'string' || text.trim() === '') {
    throw new InvalidCryptoInputError('master key list is empty');
  }
  const keys = new Map<number, Uint8Array>();
  try {
    parseEntries(text.split(','), keys);
  } catch (error) {
    for (const key of keys.values()) wipe(key);
    throw error;
  }
  return keys;
}

function parseEntries(entries: readonly string[], keys: Map<number, Uint8Array>): void {
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i].trim();
    const colon = entry.indexOf(':');
    const versionText = colon < 0 ? '' : entry.slice(0, colon);
    const keyText = colon < 0 ? '' : entry.slice(colon + 1);
    const entryName = `master key entry #${i + 1}`;
    if (!VERSION_TEXT.test(versionText) || Number(versionText) > MAX_VERSION) {
      throw new InvalidCryptoInputError(`${entryName}: expected <version>:<base64 key>, version 1..${MAX_VERSION}`);
    }
    if (!KEY_BASE64.test(keyText)) {
      throw new InvalidCryptoInputError(`${entryName}: key must be exactly ${KEY_BYTES} bytes of padded base64`);
    }
    const version = Number(versionText);
    if (keys.has(version)) throw new InvalidCryptoInputError(`${entryName}: duplicate version ${version}`);
    // Buffer.from(string) may slice Node's shared allocation pool: copy out, then wipe the pooled bytes.
    const decoded = Buffer.from(keyText, 'base64');
    keys.set(version, copyKey(decoded));
    decoded.fill(0);
  }
}

/**
 * Versioned master keys that wrap per-subject data keys with XChaCha20-Poly1305. New wraps use the active
 * version; older versions stay available so keys wrapped before a rotation still unwrap.
 */
export class MasterKeyRing {
  readonly #keys = new Map<number, Uint8Array>();
  readonly #active: number;
  #destroyed = false;

  /** Copies the given keys; the caller may wipe its own copies afterwards. */
  constructor(init: MasterKeyRingInit) {
    try {
      for (const [version, key] of init.versions) {
        if (!Number.isInteger(version) || version < 1 || version > MAX_VERSION) {
          throw new InvalidCryptoInputError(
            `master key version ${String(version)} is not an integer in 1..${MAX_VERSION}`,
          );
        }
        assertUsableKey(key, `master key version ${version}`);
        this.#keys.set(version, copyKey(key));
      }
      if (!this.#keys.has(init.active)) {
        throw new UnknownKeyVersionError(`active master key version ${String(init.active)} is not in the key ring`);
      }
    } catch (error) {
      this.#wipeAll(); // do not leave copies of already-accepted keys behind
      throw error;
    }
    this.#active = init.active;
  }

  /** Version used by `wrapDataKey`. */
  get activeVersion(): number {
    return this.#active;
  }

  /** True if the ring can unwrap keys wrapped under `version`. */
  hasVersion(version: number): boolean {
    return this.#keys.has(version);
  }

  /** All held versions, ascending. */
  versions(): number[] {
    return [...this.#keys.keys()].sort((a, b) => a - b);
  }

  /**
   * Adds a master key version to a live ring (a rotation picked up without a restart), copying the key; the active
   * version does not change. False when the version is already held with the same key; a different key under a held
   * version is refused, since data keys wrapped under that version would stop unwrapping.
   */
  addVersion(version: number, key: Uint8Array): boolean {
    if (this.#destroyed) throw new KeyDestroyedError('master key ring has been destroyed');
    if (!Number.isInteger(version) || version < 1 || version > MAX_VERSION) {
      throw new InvalidCryptoInputError(`master key version ${String(version)} is not an integer in 1..${MAX_VERSION}`);
    }
    assertUsableKey(key, `master key version ${version}`);
    const held = this.#keys.get(version);
    if (held !== undefined) {
      if (getSodium().memcmp(held, key)) return false;
      throw new InvalidCryptoInputError(`master key version ${version} is already in the ring with a different key`);
    }
    this.#keys.set(version, copyKey(key));
    return true;
  }

  /** Encrypts a data key under the active master key, bound to its subject, key id and master version. */
  wrapDataKey(dataKey: Uint8Array, ctx: DataKeyContext): WrappedDataKey {
    const sodium = getSodium();
    assertUsableKey(dataKey, 'data key');
    const masterKey = this.#keyFor(this.#active);
    const nonce = randomNonce();
    const ciphertext = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(
      dataKey,
      wrapAssociatedData(ctx, this.#active),
      null,
      nonce,
      masterKey,
    );
    return { masterVersion: this.#active, wrapped: Buffer.concat([nonce, ciphertext], WRAPPED_BYTES) };
  }

  /** Decrypts a wrapped data key with the master version it was wrapped under; fails unless `ctx` matches. */
  unwrapDataKey(wrapped: Uint8Array, masterVersion: number, ctx: DataKeyContext): Uint8Array {
    const sodium = getSodium();
    const associatedData = wrapAssociatedData(ctx, masterVersion);
    const masterKey = this.#keyFor(masterVersion);
    if (!(wrapped instanceof Uint8Array) || wrapped.length !== WRAPPED_BYTES) {
      throw new DecryptFailedError(`wrapped data key ${ctx.dataKeyId} has the wrong length`);
    }
    try {
      return sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
        null,
        wrapped.subarray(NONCE_BYTES),
        associatedData,
        wrapped.subarray(0, NONCE_BYTES),
        masterKey,
      );
    } catch {
      throw new DecryptFailedError(
        `data key ${ctx.dataKeyId} could not be unwrapped with master key version ${masterVersion}`,
      );
    }
  }

  /** Wipes every master key (shutdown); any later wrap or unwrap throws KEY_DESTROYED. */
  destroy(): void {
    this.#wipeAll();
  }

  #keyFor(version: number): Uint8Array {
    if (this.#destroyed) throw new KeyDestroyedError('master key ring has been destroyed');
    const key = this.#keys.get(version);
    if (key === undefined) {
      throw new UnknownKeyVersionError(`master key version ${String(version)} is not in the key ring`);
    }
    return key;
  }

  #wipeAll(): void {
    for (const key of this.#keys.values()) wipe(key);
    this.#destroyed = true;
  }
}

function wrapAssociatedData(ctx: DataKeyContext, masterVersion: number): Buffer {
  assertOpaqueId(ctx?.subjectId, 'subjectId');
  assertKeyId(ctx.dataKeyId, 'dataKeyId');
  if (!Number.isInteger(masterVersion) || masterVersion < 1 || masterVersion > MAX_VERSION) {
    throw new UnknownKeyVersionError(`master key version ${String(masterVersion)} is not in the key ring`);
  }
  return encodeParts(WRAP_DOMAIN, [ctx.subjectId, ctx.dataKeyId, String(masterVersion)]);
}
