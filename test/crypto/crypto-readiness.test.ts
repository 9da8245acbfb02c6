import { randomUUID } from 'node:crypto';

import {
  BlindIndexer,
  generateDataKey,
  initCrypto,
  isCryptoReady,
  MasterKeyRing,
  openField,
  sealField,
} from '../../src/crypto';
import { expectCryptoError, PATIENT_NAME } from './crypto-fixtures';

// Jest gives each test file a fresh module registry, so libsodium starts uninitialised here.
describe('before initCrypto()', () => {
  it('throws CRYPTO_NOT_READY from every synchronous operation that needs libsodium', () => {
    expect(isCryptoReady()).toBe(false);
    const key = generateDataKey();
    const id = randomUUID();
    const ring = new MasterKeyRing({ versions: new Map([[1, generateDataKey()]]), active: 1 });
    expectCryptoError(() => sealField(key, id, PATIENT_NAME, 'x'), ['CRYPTO_NOT_READY']);
    expectCryptoError(() => openField(key, id, PATIENT_NAME, 'x'), ['CRYPTO_NOT_READY']);
    expectCryptoError(() => ring.wrapDataKey(key, { subjectId: 's', dataKeyId: id }), ['CRYPTO_NOT_READY']);
    const indexer = new BlindIndexer(generateDataKey());
    expectCryptoError(() => indexer.compute('patients', 'email', 'a'), ['CRYPTO_NOT_READY']);
  });
});

describe('initCrypto()', () => {
  it('returns the same promise on repeated calls and enables the library', async () => {
    const first = initCrypto();
    expect(initCrypto()).toBe(first);
    await first;
    expect(isCryptoReady()).toBe(true);
    const key = generateDataKey();
    const id = randomUUID();
    expect(openField(key, id, PATIENT_NAME, sealField(key, id, PATIENT_NAME, 'ok'))).toBe('ok');
  });
});
