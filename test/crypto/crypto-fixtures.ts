import { randomUUID } from 'node:crypto';

import { CryptoError, CryptoErrorCode, FieldContext, generateDataKey } from '../../src/crypto';

/** A fresh data key with its id, as a caller would hold after unwrapping. */
export function newDataKey(): { id: string; key: Uint8Array } {
  return { id: randomUUID(), key: generateDataKey() };
}

/** A typical field location. */
export const PATIENT_NAME: FieldContext = {
  table: 'patients',
  column: 'full_name',
  rowId: 'b9c1e0d2-0000-4000-8000-000000000001',
};

/** Runs `fn`, asserting it throws a CryptoError (never returns), and gives the error back for further checks. */
export function expectCryptoError(fn: () => unknown, codes?: readonly CryptoErrorCode[]): CryptoError {
  let returned: unknown;
  try {
    returned = fn();
  } catch (error) {
    expect(error).toBeInstanceOf(CryptoError);
    const cryptoError = error as CryptoError;
    if (codes !== undefined) expect(codes).toContain(cryptoError.code);
    return cryptoError;
  }
  throw new Error(`expected a CryptoError but the call returned ${typeof returned}`);
}

/** Re-assembles an envelope around a modified body. */
export function withBody(envelope: string, body: Uint8Array): string {
  const header = envelope.slice(0, envelope.lastIndexOf('.') + 1);
  return header + Buffer.from(body).toString('base64url');
}
