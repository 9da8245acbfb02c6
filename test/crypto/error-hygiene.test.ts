import { randomUUID } from 'node:crypto';

import {
  BlindIndexer,
  CryptoError,
  FieldContext,
  generateDataKey,
  initCrypto,
  MasterKeyRing,
  openField,
  parseEnvelope,
  sealField,
} from '../../src/crypto';
import { withBody } from './crypto-fixtures';

const SECRET_PLAINTEXT = 'Xylophone-Quasar-Mrn-0048213-Diagnosis-Zz';
const SECRET_ROW_ID = 'mrn-77821-Quillfeather';

function collectError(fn: () => unknown): CryptoError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(CryptoError);
    return error as CryptoError;
  }
  throw new Error('expected the call to throw');
}

beforeAll(async () => {
  await initCrypto();
});

describe('error messages', () => {
  it('never contain the plaintext, the row id, the envelope body or key bytes', () => {
    const ctx: FieldContext = { table: 'patients', column: 'diagnosis', rowId: SECRET_ROW_ID };
    const key = generateDataKey();
    const keyId = randomUUID();
    const envelope = sealField(key, keyId, ctx, SECRET_PLAINTEXT);
    const body = parseEnvelope(envelope).body;
    const tampered = Buffer.from(body);
    tampered[30] ^= 0xff;
    const ring = new MasterKeyRing({ versions: new Map([[1, generateDataKey()]]), active: 1 });
    const wrapped = ring.wrapDataKey(key, { subjectId: SECRET_ROW_ID, dataKeyId: keyId }).wrapped;

    const errors = [
      collectError(() => openField(key, keyId, { ...ctx, rowId: 'other-row' }, envelope)),
      collectError(() => openField(generateDataKey(), keyId, ctx, envelope)),
      collectError(() => openField(key, keyId, ctx, withBody(envelope, tampered))),
      collectError(() => openField(key, randomUUID(), ctx, envelope)),
      collectError(() => openField(key, keyId, ctx, SECRET_PLAINTEXT)),
      collectError(() => openField(key, keyId, { ...ctx, rowId: '' }, envelope)),
      collectError(() => sealField(key, keyId, { ...ctx, table: 'bad table' }, SECRET_PLAINTEXT)),
      collectError(() => sealField(key, keyId, ctx, `${SECRET_PLAINTEXT}\ud800`)),
      collectError(() => sealField(key, 'not-a-uuid', ctx, SECRET_PLAINTEXT)),
      collectError(() => parseEnvelope(SECRET_PLAINTEXT)),
      collectError(() => ring.unwrapDataKey(wrapped, 1, { subjectId: 'someone-else', dataKeyId: keyId })),
      collectError(() => new BlindIndexer(generateDataKey()).compute('patients', 'email', `${SECRET_PLAINTEXT}\ud800`)),
    ];

    const forbidden = [
      SECRET_PLAINTEXT,
      SECRET_ROW_ID,
      envelope.slice(envelope.lastIndexOf('.') + 1, envelope.lastIndexOf('.') + 21),
      Buffer.from(key).toString('hex').slice(0, 16),
      Buffer.from(key).toString('base64').slice(0, 12),
      wrapped.toString('base64').slice(0, 12),
    ];
    for (const error of errors) {
      const rendered = `${String(error)}\n${error.stack ?? ''}\n${JSON.stringify(error)}`;
      for (const secret of forbidden) expect(rendered).not.toContain(secret);
      expect(error.cause).toBeUndefined();
    }
  });
});
