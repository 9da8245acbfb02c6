import { LRUCache } from 'lru-cache';

import { assertKeyId } from './associated-data';
import { InvalidCryptoInputError } from './crypto-error';
import { assertUsableKey } from './key-material';
import { wipe } from './sodium';

/** Size and lifetime bounds of a DataKeyCache. */
export interface DataKeyCacheOptions {
  /** Maximum number of unwrapped keys held at once; the least recently used is evicted and wiped. */
  maxEntries: number;
  /** Milliseconds a key may stay cached after it was stored (not extended by reads); then it is wiped. */
  ttlMs: number;
}

/** Counters for benchmarks and metrics. */
export interface DataKeyCacheStats {
  hits: number;
  misses: number;
  evictions: number;
  expirations: number;
  size: number;
}

/**
 * LRU of unwrapped data keys by data key id, so hot rows skip the master-key unwrap. The cache owns the
 * bytes it stores and zeroes them on eviction, expiry, replacement, delete and clear(). Use a key returned by
 * `get` synchronously: once it leaves the cache it is all zeros, and the cipher functions then throw
 * KEY_DESTROYED instead of encrypting under a zero key.
 */
export class DataKeyCache {
  readonly #lru: LRUCache<string, Uint8Array>;
  readonly #loading = new Map<string, Promise<Uint8Array>>();
  #hits = 0;
  #misses = 0;
  #evictions = 0;
  #expirations = 0;

  /** Creates an empty cache; expired keys are purged (and wiped) by timer even if never read again. */
  constructor(options: DataKeyCacheOptions) {
    if (!Number.isInteger(options.maxEntries) || options.maxEntries < 1) {
      throw new InvalidCryptoInputError('maxEntries must be a positive integer');
    }
    if (!Number.isFinite(options.ttlMs) || options.ttlMs <= 0) {
      throw new InvalidCryptoInputError('ttlMs must be a positive number');
    }
    this.#lru = new LRUCache<string, Uint8Array>({
      max: options.maxEntries,
      ttl: options.ttlMs,
      ttlAutopurge: true,
      updateAgeOnGet: false,
      dispose: (key, _id, reason) => {
        if (reason === 'evict') this.#evictions++;
        else if (reason === 'expire') this.#expirations++;
        wipe(key);
      },
    });
  }

  /** Returns the cached key for `dataKeyId`, or undefined; counts a hit or a miss. */
  get(dataKeyId: string): Uint8Array | undefined {
    const key = this.#lru.get(dataKeyId);
    if (key === undefined) this.#misses++;
    else this.#hits++;
    return key;
  }

  /** Stores a key and takes ownership of its bytes (they will be wiped; do not store one array twice). */
  set(dataKeyId: string, key: Uint8Array): void {
    assertKeyId(dataKeyId, 'dataKeyId');
    assertUsableKey(key, `data key ${dataKeyId}`);
    this.#lru.set(dataKeyId, key);
  }

  /**
   * Returns the cached key or runs `load` (e.g. fetch + unwrap) and caches its result. Concurrent misses for
   * one id share a single load, so parallel resolvers neither unwrap twice nor wipe each other's key.
   */
  async getOrLoad(dataKeyId: string, load: () => Promise<Uint8Array> | Uint8Array): Promise<Uint8Array> {
    const cached = this.get(dataKeyId);
    if (cached !== undefined) return cached;
    let pending = this.#loading.get(dataKeyId);
    if (pending === undefined) {
      // `load` runs in a later microtask, after the entry below exists, so even a synchronous throw
      // settles through `finally` and never leaves a stale rejected promise in the map.
      pending = Promise.resolve()
        .then(load)
        .then((key) => {
          this.set(dataKeyId, key);
          return key;
        })
        .finally(() => this.#loading.delete(dataKeyId));
      this.#loading.set(dataKeyId, pending);
    }
    return pending;
  }

  /** Removes and wipes one key (e.g. after the subject's data key was revoked). */
  delete(dataKeyId: string): boolean {
    return this.#lru.delete(dataKeyId);
  }

  /** Removes and wipes every key; call at shutdown. */
  clear(): void {
    this.#lru.clear();
  }

  /** Number of keys currently cached. */
  get size(): number {
    return this.#lru.size;
  }

  /** Snapshot of hit, miss, eviction and expiry counters plus the current size. */
  stats(): DataKeyCacheStats {
    return {
      hits: this.#hits,
      misses: this.#misses,
      evictions: this.#evictions,
      expirations: this.#expirations,
      size: this.#lru.size,
    };
  }

  /** Zeroes the counters (between benchmark runs). */
  resetStats(): void {
    this.#hits = 0;
    this.#misses = 0;
    this.#evictions = 0;
    this.#expirations = 0;
  }
}
