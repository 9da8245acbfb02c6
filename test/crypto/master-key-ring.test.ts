import { randomBytes, randomUUID } from 'node:crypto';

import { DataKeyContext, generateDataKey, initCrypto, MasterKeyRing, parseMasterKeys } from '../../src/crypto';
import { expectCryptoError } from './crypto-fixtures';

function masterKey(): Uint8Array {
  return new Uint8Array(randomBytes(32));
}

function context(): DataKeyContext {
  return { subjectId: `patient-${randomUUID()}`, dataKeyId: randomUUID() };
}

beforeAll(async () => {
  await initCrypto();
});

describe('MasterKeyRing', () => {
  const v1 = masterKey();
  const v2 = masterKey();

  it('unwraps what it wrapped, under the active version, as nonce(24) || ciphertext+tag', () => {
    const ring = new MasterKeyRing({ versions: new Map([[1, v1]]), active: 1 });
    const dataKey = generateDataKey();
    const ctx = context();
    const { masterVersion, wrapped } = ring.wrapDataKey(dataKey, ctx);
    expect(masterVersion).toBe(1);
    expect(wrapped.length).toBe(24 + 32 + 16);
    expect(ring.unwrapDataKey(wrapped, masterVersion, ctx)).toEqual(dataKey);
  });

  it('refuses to unwrap for another subject or another data key id', () => {
    const ring = new MasterKeyRing({ versions: new Map([[1, v1]]), active: 1 });
    const ctx = context();
    const { masterVersion, wrapped } = ring.wrapDataKey(generateDataKey(), ctx);
    expectCryptoError(
      () => ring.unwrapDataKey(wrapped, masterVersion, { ...ctx, subjectId: 'patient-other' }),
      ['DECRYPT_FAILED'],
    );
    expectCryptoError(
      () => ring.unwrapDataKey(wrapped, masterVersion, { ...ctx, dataKeyId: randomUUID() }),
      ['DECRYPT_FAILED'],
    );
  });

  it('still unwraps keys wrapped under version 1 after version 2 becomes active', () => {
    const before = new MasterKeyRing({ versions: new Map([[1, v1]]), active: 1 });
    const dataKey = generateDataKey();
    const ctx = context();
    const old = before.wrapDataKey(dataKey, ctx);

    const after = new MasterKeyRing({
      versions: new Map([
        [1, v1],
        [2, v2],
      ]),
      active: 2,
    });
    expect(after.activeVersion).toBe(2);
    expect(after.versions()).toEqual([1, 2]);
    expect(after.unwrapDataKey(old.wrapped, old.masterVersion, ctx)).toEqual(dataKey);

    const rewrapped = after.wrapDataKey(dataKey, ctx);
    expect(rewrapped.masterVersion).toBe(2);
    expect(after.unwrapDataKey(rewrapped.wrapped, 2, ctx)).toEqual(dataKey);
  });

  it('fails when a wrap is presented with another held version number', () => {
    const ring = new MasterKeyRing({
      versions: new Map([
        [1, v1],
        [2, v2],
      ]),
      active: 2,
    });
    const ctx = context();
    const { wrapped } = ring.wrapDataKey(generateDataKey(), ctx);
    expectCryptoError(() => ring.unwrapDataKey(wrapped, 1, ctx), ['DECRYPT_FAILED']);
  });

  it('fails with UNKNOWN_KEY_VERSION for a version it does not hold', () => {
    const ring = new MasterKeyRing({ versions: new Map([[1, v1]]), active: 1 });
    const ctx = context();
    const { wrapped } = ring.wrapDataKey(generateDataKey(), ctx);
    expect(ring.hasVersion(3)).toBe(false);
    expectCryptoError(() => ring.unwrapDataKey(wrapped, 3, ctx), ['UNKNOWN_KEY_VERSION']);
    expectCryptoError(() => ring.unwrapDataKey(wrapped, 0, ctx), ['UNKNOWN_KEY_VERSION']);
  });

  it('refuses an active version that is not in the ring', () => {
    expectCryptoError(() => new MasterKeyRing({ versions: new Map([[1, v1]]), active: 2 }), ['UNKNOWN_KEY_VERSION']);
  });

  it('refuses master keys that are not 32 bytes and versions that are not positive integers', () => {
    expectCryptoError(
      () => new MasterKeyRing({ versions: new Map([[1, v1.subarray(0, 31)]]), active: 1 }),
      ['INVALID_INPUT'],
    );
    expectCryptoError(() => new MasterKeyRing({ versions: new Map([[1.5, v1]]), active: 1.5 }), ['INVALID_INPUT']);
  });

  it('fails with DECRYPT_FAILED when the wrapped bytes are tampered or truncated', () => {
    const ring = new MasterKeyRing({ versions: new Map([[1, v1]]), active: 1 });
    const ctx = context();
    const { wrapped } = ring.wrapDataKey(generateDataKey(), ctx);
    for (let i = 0; i < wrapped.length; i++) {
      const tampered = Buffer.from(wrapped);
      tampered[i] ^= 0x01;
      expectCryptoError(() => ring.unwrapDataKey(tampered, 1, ctx), ['DECRYPT_FAILED']);
    }
    expectCryptoError(() => ring.unwrapDataKey(wrapped.subarray(0, 71), 1, ctx), ['DECRYPT_FAILED']);
  });

  it('keeps working after the caller wipes the keys it passed in, because it holds copies', () => {
    const callerCopy = new Uint8Array(v1);
    const ring = new MasterKeyRing({ versions: new Map([[1, callerCopy]]), active: 1 });
    callerCopy.fill(0);
    const ctx = context();
    const dataKey = generateDataKey();
    expect(ring.unwrapDataKey(ring.wrapDataKey(dataKey, ctx).wrapped, 1, ctx)).toEqual(dataKey);
  });

  it('throws KEY_DESTROYED after destroy()', () => {
    const ring = new MasterKeyRing({ versions: new Map([[1, v1]]), active: 1 });
    const ctx = context();
    const { wrapped } = ring.wrapDataKey(generateDataKey(), ctx);
    ring.destroy();
    expectCryptoError(() => ring.wrapDataKey(generateDataKey(), ctx), ['KEY_DESTROYED']);
    expectCryptoError(() => ring.unwrapDataKey(wrapped, 1, ctx), ['KEY_DESTROYED']);
  });

  it('refuses to wrap a wiped data key', () => {
    const ring = new MasterKeyRing({ versions: new Map([[1, v1]]), active: 1 });
    expectCryptoError(() => ring.wrapDataKey(new Uint8Array(32), context()), ['KEY_DESTROYED']);
  });
});

describe('generateDataKey', () => {
  it('returns 32 fresh random bytes in an unshared buffer', () => {
    const a = generateDataKey();
    const b = generateDataKey();
    expect(a.length).toBe(32);
    expect(a.buffer.byteLength).toBe(32);
    expect(a).not.toEqual(b);
  });
});

describe('parseMasterKeys', () => {
  const k1 = Buffer.from(randomBytes(32)).toString('base64');
  const k2 = Buffer.from(randomBytes(32)).toString('base64');

  it('parses versioned base64 keys, tolerating spaces around entries', () => {
    const keys = parseMasterKeys(`1:${k1}, 2:${k2}`);
    expect([...keys.keys()]).toEqual([1, 2]);
    expect(Buffer.from(keys.get(1)!).toString('base64')).toBe(k1);
    expect(Buffer.from(keys.get(2)!).toString('base64')).toBe(k2);
  });

  it.each([
    ['a key shorter than 32 bytes', `1:${k1},2:${Buffer.from(randomBytes(16)).toString('base64')}`, '#2'],
    ['a key longer than 32 bytes', `1:${Buffer.from(randomBytes(33)).toString('base64')}`, '#1'],
    ['a missing colon', `1:${k1},2${k2}`, '#2'],
    ['a non-numeric version', `one:${k1}`, '#1'],
    ['version zero', `0:${k1}`, '#1'],
    ['a leading-zero version', `01:${k1}`, '#1'],
    ['a duplicate version', `1:${k1},1:${k2}`, '#2'],
    ['an empty entry', `1:${k1},`, '#2'],
    ['base64url instead of base64', `1:${k1.replace(/.{42}/, 'A'.repeat(41) + '-')}`, '#1'],
    ['missing padding', `1:${k1.slice(0, -1)}`, '#1'],
    ['a non-canonical final character', `1:${k1.slice(0, 42)}B=`, '#1'],
  ])('rejects %s, naming the entry but never the key text', (_label, text, entry) => {
    const error = expectCryptoError(() => parseMasterKeys(text), ['INVALID_INPUT']);
    expect(error.message).toContain(entry);
    for (const entryText of text.split(',')) {
      const keyText = entryText.split(':')[1] ?? entryText;
      for (let i = 0; i + 8 <= keyText.length; i++) expect(error.message).not.toContain(keyText.slice(i, i + 8));
    }
  });

  it('rejects an empty list', () => {
    expectCryptoError(() => parseMasterKeys('  '), ['INVALID_INPUT']);
  });
});
