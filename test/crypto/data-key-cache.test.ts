import { randomUUID } from 'node:crypto';

import { DataKeyCache, generateDataKey, initCrypto, sealField } from '../../src/crypto';
import { expectCryptoError, PATIENT_NAME } from './crypto-fixtures';

function isWiped(bytes: Uint8Array): boolean {
  return bytes.every((byte) => byte === 0);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

beforeAll(async () => {
  await initCrypto();
});

describe('DataKeyCache', () => {
  it('counts hits and misses', () => {
    const cache = new DataKeyCache({ maxEntries: 10, ttlMs: 60_000 });
    const id = randomUUID();
    expect(cache.get(id)).toBeUndefined();
    const key = generateDataKey();
    cache.set(id, key);
    expect(cache.get(id)).toBe(key);
    expect(cache.get(id)).toBe(key);
    expect(cache.stats()).toEqual({ hits: 2, misses: 1, evictions: 0, expirations: 0, size: 1 });
    cache.resetStats();
    expect(cache.stats()).toMatchObject({ hits: 0, misses: 0 });
  });

  it('evicts the least recently used key and wipes its bytes', () => {
    const cache = new DataKeyCache({ maxEntries: 2, ttlMs: 60_000 });
    const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
    const [keyA, keyB, keyC] = [generateDataKey(), generateDataKey(), generateDataKey()];
    cache.set(a, keyA);
    cache.set(b, keyB);
    cache.get(a);
    cache.set(c, keyC);
    expect(cache.get(b)).toBeUndefined();
    expect(isWiped(keyB)).toBe(true);
    expect(isWiped(keyA)).toBe(false);
    expect(isWiped(keyC)).toBe(false);
    expect(cache.stats()).toMatchObject({ evictions: 1, size: 2 });
  });

  it('wipes a key on delete, and every key on clear()', () => {
    const cache = new DataKeyCache({ maxEntries: 10, ttlMs: 60_000 });
    const keys = Array.from({ length: 4 }, () => ({ id: randomUUID(), key: generateDataKey() }));
    for (const { id, key } of keys) cache.set(id, key);
    expect(cache.delete(keys[0].id)).toBe(true);
    expect(isWiped(keys[0].key)).toBe(true);
    expect(isWiped(keys[1].key)).toBe(false);
    cache.clear();
    expect(cache.size).toBe(0);
    for (const { key } of keys) expect(isWiped(key)).toBe(true);
  });

  it('wipes the previous key when an id is stored again with new bytes', () => {
    const cache = new DataKeyCache({ maxEntries: 10, ttlMs: 60_000 });
    const id = randomUUID();
    const first = generateDataKey();
    cache.set(id, first);
    cache.set(id, first); // same array again: must not wipe it
    expect(isWiped(first)).toBe(false);
    cache.set(id, generateDataKey());
    expect(isWiped(first)).toBe(true);
  });

  it('expires keys after the TTL and wipes them even if they are never read again', async () => {
    const cache = new DataKeyCache({ maxEntries: 10, ttlMs: 20 });
    const key = generateDataKey();
    cache.set(randomUUID(), key);
    await sleep(80);
    expect(isWiped(key)).toBe(true);
    expect(cache.stats()).toMatchObject({ expirations: 1, size: 0 });
  });

  it('makes a held key unusable after eviction instead of encrypting under zeros', () => {
    const cache = new DataKeyCache({ maxEntries: 1, ttlMs: 60_000 });
    const id = randomUUID();
    cache.set(id, generateDataKey());
    const held = cache.get(id)!;
    cache.set(randomUUID(), generateDataKey());
    expectCryptoError(() => sealField(held, id, PATIENT_NAME, 'x'), ['KEY_DESTROYED']);
  });

  it('shares one load between concurrent misses for the same id', async () => {
    const cache = new DataKeyCache({ maxEntries: 10, ttlMs: 60_000 });
    const id = randomUUID();
    let loads = 0;
    const load = async (): Promise<Uint8Array> => {
      loads++;
      await sleep(5);
      return generateDataKey();
    };
    const [first, second] = await Promise.all([cache.getOrLoad(id, load), cache.getOrLoad(id, load)]);
    expect(loads).toBe(1);
    expect(second).toBe(first);
    expect(await cache.getOrLoad(id, load)).toBe(first);
    expect(loads).toBe(1);
  });

  it('does not cache a failed load, even one that throws synchronously, and retries next time', async () => {
    const cache = new DataKeyCache({ maxEntries: 10, ttlMs: 60_000 });
    const id = randomUUID();
    await expect(
      cache.getOrLoad(id, () => {
        throw new Error('key store unavailable');
      }),
    ).rejects.toThrow('key store unavailable');
    const key = generateDataKey();
    expect(await cache.getOrLoad(id, () => key)).toBe(key);
  });

  it('rejects malformed ids, keys and options', () => {
    const cache = new DataKeyCache({ maxEntries: 10, ttlMs: 60_000 });
    expectCryptoError(() => cache.set('key-1', generateDataKey()), ['INVALID_INPUT']);
    expectCryptoError(() => cache.set(randomUUID(), new Uint8Array(16)), ['INVALID_INPUT']);
    expectCryptoError(() => new DataKeyCache({ maxEntries: 0, ttlMs: 1000 }), ['INVALID_INPUT']);
    expectCryptoError(() => new DataKeyCache({ maxEntries: 10, ttlMs: 0 }), ['INVALID_INPUT']);
  });
});
