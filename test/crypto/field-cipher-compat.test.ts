import { randomBytes, randomUUID } from 'node:crypto';

import { envelopeKeyId, FieldContext, initCrypto, openField, parseEnvelope, sealField } from '../../src/crypto';
import { encodeConstantPrefix, encodeParts } from '../../src/crypto/associated-data';
import { getSodium } from '../../src/crypto/sodium';
import { expectCryptoError, newDataKey, PATIENT_NAME } from './crypto-fixtures';

beforeAll(async () => {
  await initCrypto();
});

// Sealed by the implementation before the hot-path rewrite (AD built by encodeParts on every call).
const LEGACY_KEY = Uint8Array.from({ length: 32 }, (_, i) => i + 1);
const LEGACY_KEY_ID = '6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b';
const LEGACY_ENVELOPES: [FieldContext, string, string][] = [
  [
    { table: 'patients', column: 'full_name', rowId: 'b9c1e0d2-0000-4000-8000-000000000001' },
    'Jane Doe, born 1980-04-01',
    'phi1.6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b.tnsAdu9Uej_66A2M3yK0z4hsMpaeq0EcIKrfOpayABRm6Ne6jUs7MyTXXCPx_JYWi3AX265Q5Mw-Tr1JvgOQxRw',
  ],
  [
    { table: 'encounters', column: 'notes', rowId: 'café-1 😀' },
    'Zoë Ångström 李小龙 🩺 e\u0301',
    'phi1.6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b.8YSKB7s01scYKJkmS__6Lo8dfsu_6NNWqnwIXDjq1fZI7FAfwtvzDALlCdUhVVwYKveMiY0N2o-VyYr0KEtDeVPKl2rtKnavw1A',
  ],
  [
    { table: 'a', column: 'b_c', rowId: 'd' },
    '',
    'phi1.6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b.b_ynbi0TMlVlegmO7rk9IDOe94fvMuddSKno7fqlyFdZ71Bv9OlT6g',
  ],
];

// The field AD as specified: u32be-length-prefixed domain, format tag, table, column, row id and key id.
function specifiedAd(ctx: FieldContext, keyId: string): Buffer {
  return encodeParts(encodeConstantPrefix(['hms/phi-field', 'phi1']), [ctx.table, ctx.column, ctx.rowId, keyId]);
}

// The canonical-base64 rule as first written: decode with Node, re-encode, compare.
function referenceParses(text: string): boolean {
  const header = /^phi1\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\./;
  if (text.length <= 42 || !header.test(text)) return false;
  const encoded = text.slice(42);
  const body = Buffer.from(encoded, 'base64url');
  return body.length >= 40 && body.toString('base64url') === encoded;
}

function parses(text: string): boolean {
  try {
    parseEnvelope(text);
    return true;
  } catch {
    return false;
  }
}

describe('compatibility of the optimised field cipher with existing ciphertexts', () => {
  it.each(LEGACY_ENVELOPES)('opens an envelope sealed by the previous implementation (%j)', (ctx, text, envelope) => {
    expect(envelopeKeyId(envelope)).toBe(LEGACY_KEY_ID);
    expect(openField(LEGACY_KEY, LEGACY_KEY_ID, ctx, envelope)).toBe(text);
    expectCryptoError(
      () => openField(LEGACY_KEY, LEGACY_KEY_ID, { ...ctx, rowId: `${ctx.rowId}x` }, envelope),
      ['DECRYPT_FAILED'],
    );
  });

  it('seals under exactly the specified associated data bytes', () => {
    const { id, key } = newDataKey();
    const sodium = getSodium();
    for (const ctx of [PATIENT_NAME, { ...PATIENT_NAME, rowId: 'r' }, { ...PATIENT_NAME, rowId: 'ü'.repeat(255) }]) {
      const { body } = parseEnvelope(sealField(key, id, ctx, 'value'));
      const opened = sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
        null,
        body.subarray(24),
        specifiedAd(ctx, id),
        body.subarray(0, 24),
        key,
      );
      expect(Buffer.from(opened).toString('utf8')).toBe('value');
    }
  });

  it('binds each row id exactly while the per-column AD buffer is reused for ids of varying length', () => {
    const { id, key } = newDataKey();
    const rowIds = ['a', 'abc', 'ab', 'x'.repeat(255), 'é', '李', 'a'.repeat(36), 'b'.repeat(36), '🩺'];
    const sealed = rowIds.map((rowId) => sealField(key, id, { ...PATIENT_NAME, rowId }, rowId));
    rowIds.forEach((rowId, i) => {
      expect(openField(key, id, { ...PATIENT_NAME, rowId }, sealed[i])).toBe(rowId);
      const other = rowIds[(i + 1) % rowIds.length];
      expectCryptoError(() => openField(key, id, { ...PATIENT_NAME, rowId: other }, sealed[i]), ['DECRYPT_FAILED']);
      expectCryptoError(() => openField(key, id, { ...PATIENT_NAME, column: 'other' }, sealed[i]), ['DECRYPT_FAILED']);
    });
  });

  it('round-trips a leading byte-order mark and values larger than the internal scratch buffers', () => {
    const { id, key } = newDataKey();
    for (const plaintext of ['\ufeffJane', '\ufeff', 'é'.repeat(3000), 'x'.repeat(5000)]) {
      const envelope = sealField(key, id, PATIENT_NAME, plaintext);
      expect(openField(key, id, PATIENT_NAME, envelope)).toBe(plaintext);
      const body = parseEnvelope(envelope).body;
      body[body.length - 1] ^= 1;
      const tampered = envelope.slice(0, 42) + body.toString('base64url');
      expectCryptoError(() => openField(key, id, PATIENT_NAME, tampered), ['DECRYPT_FAILED']);
    }
  });

  it('accepts exactly the bodies that decode-and-re-encode accepts', () => {
    const id = randomUUID();
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/= .\né';
    for (let n = 0; n < 3000; n++) {
      let body = randomBytes(38 + (n % 12)).toString('base64url');
      const edits = n % 4;
      for (let e = 0; e < edits; e++) {
        const at = randomBytes(1)[0] % (body.length + 1);
        const ch = alphabet[randomBytes(1)[0] % alphabet.length];
        const keep = randomBytes(1)[0] & 1 ? at + 1 : at; // replace or insert
        body = body.slice(0, at) + ch + body.slice(keep);
      }
      const text = `phi1.${id}.${body}`;
      expect([text, parses(text)]).toEqual([text, referenceParses(text)]);
    }
  });

  it('keeps error precedence: input validation, then the envelope, then the key id, then authentication', () => {
    const { id, key } = newDataKey();
    const envelope = sealField(key, id, PATIENT_NAME, 'x');
    const otherId = randomUUID();
    const badBody = `${envelope.slice(0, -1)}+`;
    expectCryptoError(() => openField(new Uint8Array(32), id, PATIENT_NAME, 'not an envelope'), ['KEY_DESTROYED']);
    expectCryptoError(() => openField(new Uint8Array(32), id, PATIENT_NAME, envelope), ['KEY_DESTROYED']);
    expectCryptoError(() => openField(key, id, undefined as unknown as FieldContext, envelope), ['INVALID_INPUT']);
    expectCryptoError(() => openField(key, id, { ...PATIENT_NAME, rowId: '' }, 'junk'), ['INVALID_INPUT']);
    expectCryptoError(() => openField(key, otherId, PATIENT_NAME, badBody), ['BAD_ENVELOPE']);
    expectCryptoError(() => openField(key, otherId, PATIENT_NAME, envelope), ['KEY_MISMATCH']);
    expectCryptoError(() => openField(key, id, PATIENT_NAME, envelope.replace(id, id.toUpperCase())), ['BAD_ENVELOPE']);
    expectCryptoError(() => openField(key, id, PATIENT_NAME, envelope.slice(0, 42)), ['BAD_ENVELOPE']);
  });

  it('still validates every key id after a valid one was seen', () => {
    const { id, key } = newDataKey();
    for (let round = 0; round < 3; round++) {
      expect(openField(key, id, PATIENT_NAME, sealField(key, id, PATIENT_NAME, 'ok'))).toBe('ok');
      for (const badId of [id.toUpperCase(), `${id}x`, id.slice(1), `${id.slice(0, 35)}g`, 42 as unknown as string]) {
        expectCryptoError(() => sealField(key, badId, PATIENT_NAME, 'x'), ['INVALID_INPUT']);
        expectCryptoError(() => openField(key, badId, PATIENT_NAME, 'x'), ['INVALID_INPUT']);
      }
    }
  });
});
