import { randomBytes } from 'node:crypto';

import sodium from 'libsodium-wrappers';

import { BlindIndexer, initCrypto } from '../../src/crypto';
import { expectCryptoError } from './crypto-fixtures';

function rootKey(): Uint8Array {
  return new Uint8Array(randomBytes(32));
}

// Independent restatement of the documented derivation, to pin the format of stored indexes.
function lengthPrefixed(parts: string[]): Buffer {
  return Buffer.concat(
    parts.flatMap((part) => {
      const bytes = Buffer.from(part, 'utf8');
      const length = Buffer.alloc(4);
      length.writeUInt32BE(bytes.length);
      return [length, bytes];
    }),
  );
}

beforeAll(async () => {
  await initCrypto();
});

describe('BlindIndexer', () => {
  it('is deterministic and returns 64 lowercase hex characters', () => {
    const indexer = new BlindIndexer(rootKey());
    const first = indexer.compute('patients', 'email', 'jane@example.com');
    expect(first).toMatch(/^[0-9a-f]{64}$/);
    expect(indexer.compute('patients', 'email', 'jane@example.com')).toBe(first);
    expect(new BlindIndexer(rootKey()).compute('patients', 'email', 'jane@example.com')).not.toBe(first);
  });

  it('gives different outputs for the same value in different columns or tables', () => {
    const indexer = new BlindIndexer(rootKey());
    const outputs = new Set([
      indexer.compute('patients', 'email', 'jane@example.com'),
      indexer.compute('patients', 'alt_email', 'jane@example.com'),
      indexer.compute('staff', 'email', 'jane@example.com'),
      indexer.compute('patients_email', 'x', 'jane@example.com'),
      indexer.compute('patients', 'email_x', 'jane@example.com'),
    ]);
    expect(outputs.size).toBe(5);
  });

  it('gives different outputs for different values', () => {
    const indexer = new BlindIndexer(rootKey());
    expect(indexer.compute('patients', 'ssn', '123456789')).not.toBe(indexer.compute('patients', 'ssn', '123456788'));
  });

  it('leaves normalisation to the caller: NFC and NFD spellings index differently', () => {
    const indexer = new BlindIndexer(rootKey());
    const nfc = 'Zoë'.normalize('NFC');
    expect(indexer.compute('patients', 'family_name', nfc)).not.toBe(
      indexer.compute('patients', 'family_name', nfc.normalize('NFD')),
    );
  });

  it('equals keyed BLAKE2b-256 under a subkey derived from the root key, table and column', () => {
    const root = rootKey();
    const subkey = sodium.crypto_generichash(
      32,
      lengthPrefixed(['hms/blind-index/subkey/v1', 'patients', 'email']),
      root,
    );
    const expected = sodium.to_hex(sodium.crypto_generichash(32, Buffer.from('jane@example.com'), subkey));
    expect(new BlindIndexer(root).compute('patients', 'email', 'jane@example.com')).toBe(expected);
  });

  it('keeps producing the same index for a fixed key (stored indexes must never change)', () => {
    const root = Uint8Array.from({ length: 32 }, (_, i) => i + 1);
    expect(new BlindIndexer(root).compute('patients', 'email', 'jane@example.com')).toBe(KNOWN_ANSWER);
  });

  it('copies the root key, and throws KEY_DESTROYED after destroy()', () => {
    const root = rootKey();
    const indexer = new BlindIndexer(root);
    const before = indexer.compute('patients', 'email', 'a');
    root.fill(0);
    expect(indexer.compute('patients', 'email', 'a')).toBe(before);
    indexer.destroy();
    expectCryptoError(() => indexer.compute('patients', 'email', 'a'), ['KEY_DESTROYED']);
  });

  it('rejects invalid table or column names, wiped root keys and ill-formed values', () => {
    const indexer = new BlindIndexer(rootKey());
    expectCryptoError(() => indexer.compute('patients.email', 'x', 'a'), ['INVALID_INPUT']);
    expectCryptoError(() => indexer.compute('patients', '', 'a'), ['INVALID_INPUT']);
    expectCryptoError(() => indexer.compute('patients', 'email', '\udc00'), ['INVALID_INPUT']);
    expectCryptoError(() => new BlindIndexer(new Uint8Array(32)), ['KEY_DESTROYED']);
    expectCryptoError(() => new BlindIndexer(new Uint8Array(16)), ['INVALID_INPUT']);
  });
});

// Cross-checked with Python's hashlib.blake2b(digest_size=32, key=...) over the same length-prefixed label.
const KNOWN_ANSWER = 'd95b4d8bdf477a518955034dd7604e57c74180019ad7de6d73a2f69b85be4e16';
