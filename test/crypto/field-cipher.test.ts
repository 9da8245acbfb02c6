import { randomUUID } from 'node:crypto';

import { envelopeKeyId, initCrypto, openField, parseEnvelope, sealField } from '../../src/crypto';
import { expectCryptoError, newDataKey, PATIENT_NAME, withBody } from './crypto-fixtures';

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

beforeAll(async () => {
  await initCrypto();
});

describe('sealField / openField round trip', () => {
  const { id, key } = newDataKey();

  it.each([
    ['ASCII text', 'Jane Doe'],
    ['Unicode text with accents, CJK, emoji and combining marks', 'Zoë Ångström 李小龙 🩺 e\u0301'],
    ['the empty string', ''],
    ['10 KB of text', 'Progress note. '.repeat(700).slice(0, 10240)],
  ])('returns the original value for %s', (_label, plaintext) => {
    const envelope = sealField(key, id, PATIENT_NAME, plaintext);
    expect(openField(key, id, PATIENT_NAME, envelope)).toBe(plaintext);
  });

  it('produces phi1.<data key id>.<unpadded base64url of nonce, ciphertext and tag>', () => {
    const envelope = sealField(key, id, PATIENT_NAME, 'abc');
    const parsed = parseEnvelope(envelope);
    expect(envelope.startsWith(`phi1.${id}.`)).toBe(true);
    expect(envelope).not.toContain('=');
    expect(parsed).toMatchObject({ formatVersion: 1, dataKeyId: id });
    expect(parsed.body.length).toBe(24 + 3 + 16);
    expect(envelopeKeyId(envelope)).toBe(id);
  });

  it('gives different envelopes and nonces for two seals of the same value', () => {
    const first = sealField(key, id, PATIENT_NAME, 'same value');
    const second = sealField(key, id, PATIENT_NAME, 'same value');
    expect(first).not.toBe(second);
    expect(parseEnvelope(first).body.subarray(0, 24)).not.toEqual(parseEnvelope(second).body.subarray(0, 24));
  });

  it('refuses plaintext with a lone surrogate, which UTF-8 could not round-trip', () => {
    expectCryptoError(() => sealField(key, id, PATIENT_NAME, 'broken \ud800 text'), ['INVALID_INPUT']);
  });
});

describe('openField rejects anything but the untouched envelope in its own context', () => {
  const { id, key } = newDataKey();
  let envelope: string;
  const headerLength = 'phi1.'.length + 36 + 1;

  beforeAll(() => {
    envelope = sealField(key, id, PATIENT_NAME, 'Jane Doe, born 1980-04-01');
  });

  it('fails when any single character of the envelope text is replaced', () => {
    for (let i = 0; i < envelope.length; i++) {
      const original = envelope[i];
      const replacements =
        i >= headerLength
          ? [B64URL[(B64URL.indexOf(original) + 1) % 64], B64URL[(B64URL.indexOf(original) + 37) % 64], '=', '+']
          : [original === 'a' ? 'b' : 'a', original.toUpperCase() === original ? '0' : original.toUpperCase()];
      for (const replacement of replacements) {
        if (replacement === original) continue;
        const tampered = envelope.slice(0, i) + replacement + envelope.slice(i + 1);
        expectCryptoError(
          () => openField(key, id, PATIENT_NAME, tampered),
          ['BAD_ENVELOPE', 'DECRYPT_FAILED', 'KEY_MISMATCH'],
        );
      }
    }
  });

  it('fails with DECRYPT_FAILED when any bit of the decoded body is flipped', () => {
    const body = parseEnvelope(envelope).body;
    for (let byte = 0; byte < body.length; byte++) {
      for (let bit = 0; bit < 8; bit++) {
        const tampered = Buffer.from(body);
        tampered[byte] ^= 1 << bit;
        expectCryptoError(() => openField(key, id, PATIENT_NAME, withBody(envelope, tampered)), ['DECRYPT_FAILED']);
      }
    }
  });

  it('fails when the body is truncated or extended', () => {
    const body = parseEnvelope(envelope).body;
    for (let length = 0; length < body.length; length++) {
      expectCryptoError(
        () => openField(key, id, PATIENT_NAME, withBody(envelope, body.subarray(0, length))),
        ['BAD_ENVELOPE', 'DECRYPT_FAILED'],
      );
    }
    const extended = Buffer.concat([body, Buffer.from([0])]);
    expectCryptoError(() => openField(key, id, PATIENT_NAME, withBody(envelope, extended)), ['DECRYPT_FAILED']);
  });

  it('fails with BAD_ENVELOPE when the prefix is changed, dropped or padded', () => {
    for (const tampered of [
      envelope.replace(/^phi1/, 'phi2'),
      envelope.replace(/^phi1/, 'PHI1'),
      envelope.slice('phi1.'.length),
      ` ${envelope}`,
      `${envelope}\n`,
      `${envelope}==`,
    ]) {
      expectCryptoError(() => openField(key, id, PATIENT_NAME, tampered), ['BAD_ENVELOPE']);
    }
  });

  it('fails when the key id in the envelope is changed, even if the caller looks the key up by that id', () => {
    const otherId = randomUUID();
    const tampered = envelope.replace(id, otherId);
    expectCryptoError(() => openField(key, id, PATIENT_NAME, tampered), ['KEY_MISMATCH']);
    // Associated data binds the key id, so a forged id fails even when the same key bytes are supplied for it.
    expectCryptoError(() => openField(key, envelopeKeyId(tampered), PATIENT_NAME, tampered), ['DECRYPT_FAILED']);
  });

  it.each([
    ['another row', { ...PATIENT_NAME, rowId: 'b9c1e0d2-0000-4000-8000-000000000002' }],
    ['another column', { ...PATIENT_NAME, column: 'maiden_name' }],
    ['another table', { ...PATIENT_NAME, table: 'staff' }],
  ])('fails with DECRYPT_FAILED when the envelope is copied to %s', (_label, ctx) => {
    expectCryptoError(() => openField(key, id, ctx, envelope), ['DECRYPT_FAILED']);
  });

  it('fails with DECRYPT_FAILED under a different key presented with the right key id', () => {
    expectCryptoError(() => openField(newDataKey().key, id, PATIENT_NAME, envelope), ['DECRYPT_FAILED']);
  });

  it('fails with KEY_MISMATCH when the caller passes a key with another id', () => {
    const other = newDataKey();
    expectCryptoError(() => openField(other.key, other.id, PATIENT_NAME, envelope), ['KEY_MISMATCH']);
  });

  it('fails with BAD_ENVELOPE for plaintext or non-string values stored in the column', () => {
    for (const stored of ['Jane Doe', '', '123-45-6789', null, undefined, 42]) {
      expectCryptoError(() => openField(key, id, PATIENT_NAME, stored as string), ['BAD_ENVELOPE']);
    }
  });
});

describe('input validation', () => {
  const { id, key } = newDataKey();

  it('refuses keys that are not 32 bytes', () => {
    expectCryptoError(() => sealField(key.subarray(0, 16), id, PATIENT_NAME, 'x'), ['INVALID_INPUT']);
    expectCryptoError(() => sealField(new Uint8Array(33), id, PATIENT_NAME, 'x'), ['INVALID_INPUT']);
  });

  it('refuses an all-zero (wiped) key with KEY_DESTROYED rather than encrypting under it', () => {
    expectCryptoError(() => sealField(new Uint8Array(32), id, PATIENT_NAME, 'x'), ['KEY_DESTROYED']);
  });

  it('refuses key ids that are not lowercase UUIDs', () => {
    for (const badId of ['key-1', id.toUpperCase(), `${id}.`, '']) {
      expectCryptoError(() => sealField(key, badId, PATIENT_NAME, 'x'), ['INVALID_INPUT']);
    }
  });

  it('refuses table and column names that are not SQL identifiers, and empty row ids', () => {
    for (const ctx of [
      { ...PATIENT_NAME, table: 'patients.x' },
      { ...PATIENT_NAME, table: '' },
      { ...PATIENT_NAME, column: 'full name' },
      { ...PATIENT_NAME, column: 'a'.repeat(64) },
      { ...PATIENT_NAME, rowId: '' },
      { ...PATIENT_NAME, rowId: 'r'.repeat(256) },
    ]) {
      expectCryptoError(() => sealField(key, id, ctx, 'x'), ['INVALID_INPUT']);
    }
  });

  it('binds non-ASCII row ids exactly, without Unicode normalisation', () => {
    const envelope = sealField(key, id, { ...PATIENT_NAME, rowId: 'café-1' }, 'x');
    expect(openField(key, id, { ...PATIENT_NAME, rowId: 'café-1' }, envelope)).toBe('x');
    const decomposed = { ...PATIENT_NAME, rowId: 'cafe\u0301-1' };
    expectCryptoError(() => openField(key, id, decomposed, envelope), ['DECRYPT_FAILED']);
  });

  it('keeps contexts distinct that a naive separator encoding would merge', () => {
    const envelope = sealField(key, id, { table: 'a', column: 'b_c', rowId: 'd' }, 'x');
    const shifted = { table: 'a_b', column: 'c', rowId: 'd' };
    expectCryptoError(() => openField(key, id, shifted, envelope), ['DECRYPT_FAILED']);
  });
});

describe('parseEnvelope and envelopeKeyId', () => {
  it('throw BAD_ENVELOPE for text that is not an envelope', () => {
    for (const text of ['John', 'phi1.', `phi1.${randomUUID()}.`, `phi1.${randomUUID()}.${'A'.repeat(52)}`]) {
      expectCryptoError(() => parseEnvelope(text), ['BAD_ENVELOPE']);
    }
    expectCryptoError(() => envelopeKeyId('John'), ['BAD_ENVELOPE']);
  });
});
