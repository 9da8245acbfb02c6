import { assertIdentifier, encodeConstantPrefix, encodeParts, isWellFormedText } from './associated-data';
import { InvalidCryptoInputError, KeyDestroyedError } from './crypto-error';
import { assertUsableKey, copyKey, KEY_BYTES } from './key-material';
import { getSodium, wipe } from './sodium';

/** Length in bytes of a blind index value before hex encoding (64 hex characters stored). */
export const BLIND_INDEX_BYTES = 32;

const SUBKEY_DOMAIN = encodeConstantPrefix(['hms/blind-index/subkey/v1']);

/**
 * Keyed blind indexes for exact-match lookups over encrypted columns: `compute` returns
 * hex(BLAKE2b-256 keyed with a per-column subkey, over the normalised value), stored beside the envelope.
 *
 * What it leaks: anyone who can read the index column (DBA, backup, SQL injection) learns which rows of that
 * column hold equal values and how often each value occurs; matched against a known distribution, that
 * frequency histogram identifies the common values. So low-cardinality columns (sex, blood type, status,
 * birth year...) must never get a blind index. Indexes of different columns are unlinkable, and guesses can
 * only be tested with the root key, which therefore needs the same protection as a master key.
 *
 * Subkeys are `BLAKE2b-256(key = root key, message = length-prefixed('hms/blind-index/subkey/v1', table, column))`
 * rather than crypto_kdf_derive_from_key: the KDF wants a numeric subkey id and an 8-byte context, which would
 * need a registry mapping column names to numbers, while keyed BLAKE2b (a PRF) takes the names directly and
 * the length prefixes keep every (table, column) label distinct.
 */
export class BlindIndexer {
  readonly #rootKey: Uint8Array;
  readonly #subkeys = new Map<string, Uint8Array>();
  #destroyed = false;

  /** Copies a 32-byte root index key, which must be independent of the master keys. */
  constructor(rootKey: Uint8Array) {
    assertUsableKey(rootKey, 'blind index root key');
    this.#rootKey = copyKey(rootKey);
  }

  /**
   * Returns the 64-character lowercase hex blind index of an already-normalised value in table.column.
   * Deterministic by design; hex because it is case-proof and easy to constrain in SQL (`~ '^[0-9a-f]{64}$'`).
   */
  compute(table: string, column: string, normalizedValue: string): string {
    const sodium = getSodium();
    const subkey = this.#subkey(table, column);
    if (typeof normalizedValue !== 'string' || !isWellFormedText(normalizedValue)) {
      throw new InvalidCryptoInputError(`blind index value for ${table}.${column} must be a well-formed string`);
    }
    const digest = sodium.crypto_generichash(BLIND_INDEX_BYTES, Buffer.from(normalizedValue, 'utf8'), subkey);
    return Buffer.from(digest.buffer, digest.byteOffset, digest.byteLength).toString('hex');
  }

  /** Wipes the root key and every cached subkey (shutdown); later calls throw KEY_DESTROYED. */
  destroy(): void {
    wipe(this.#rootKey);
    for (const subkey of this.#subkeys.values()) wipe(subkey);
    this.#subkeys.clear();
    this.#destroyed = true;
  }

  #subkey(table: string, column: string): Uint8Array {
    if (this.#destroyed) throw new KeyDestroyedError('blind indexer has been destroyed');
    // Both parts are validated identifiers, so '.' cannot occur inside them and the cache key is unambiguous.
    assertIdentifier(table, 'table');
    assertIdentifier(column, 'column');
    const cacheKey = `${table}.${column}`;
    let subkey = this.#subkeys.get(cacheKey);
    if (subkey === undefined) {
      const label = encodeParts(SUBKEY_DOMAIN, [table, column]);
      subkey = getSodium().crypto_generichash(KEY_BYTES, label, this.#rootKey);
      this.#subkeys.set(cacheKey, subkey);
    }
    return subkey;
  }
}
