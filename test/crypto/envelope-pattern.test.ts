import { randomBytes, randomUUID } from 'node:crypto';

import {
  initCrypto,
  isPhiEnvelope,
  parseEnvelope,
  PHI_ENVELOPE_REGEX,
  PHI_ENVELOPE_SQL_PATTERN,
  sealField,
} from '../../src/crypto';
import { newDataKey, PATIENT_NAME } from './crypto-fixtures';

const PLAINTEXT_SAMPLES = [
  '',
  'John',
  'Jane Doe',
  '123-45-6789',
  'john.doe@example.com',
  '1980-04-01',
  '+1 (555) 010-9999',
  'phi1',
  'phi1.',
  `phi1.${randomUUID()}`,
  `phi1.${randomUUID()}.`,
  `phi1.${randomUUID()}.John`,
];

function parses(text: string): boolean {
  try {
    parseEnvelope(text);
    return true;
  } catch {
    return false;
  }
}

// The SQL pattern is written in the syntax PostgreSQL AREs share with ECMAScript, so translating it for a
// JavaScript engine is a plain `new RegExp` (the semantics were also checked once against PostgreSQL 15).
const sqlPatternAsJs = new RegExp(PHI_ENVELOPE_SQL_PATTERN);

describe('PHI envelope patterns', () => {
  let envelopes: string[];

  beforeAll(async () => {
    await initCrypto();
    const { id, key } = newDataKey();
    // Plaintext lengths 0..40 exercise every base64 tail length (body = 40 + n bytes).
    envelopes = Array.from({ length: 41 }, (_, n) => sealField(key, id, PATIENT_NAME, 'x'.repeat(n)));
  });

  it.each([
    ['the JavaScript regex', PHI_ENVELOPE_REGEX],
    ['the SQL pattern translated to JavaScript', sqlPatternAsJs],
  ])('%s accepts real envelopes of every length', (_label, pattern) => {
    for (const envelope of envelopes) expect(pattern.test(envelope)).toBe(true);
  });

  it.each([
    ['the JavaScript regex', PHI_ENVELOPE_REGEX],
    ['the SQL pattern translated to JavaScript', sqlPatternAsJs],
  ])('%s refuses plaintext samples', (_label, pattern) => {
    for (const sample of PLAINTEXT_SAMPLES) expect(pattern.test(sample)).toBe(false);
  });

  it.each([
    ['the JavaScript regex', PHI_ENVELOPE_REGEX],
    ['the SQL pattern translated to JavaScript', sqlPatternAsJs],
  ])('%s refuses near-misses: padding, other alphabets, upper-case ids, newlines, short bodies', (_label, pattern) => {
    const envelope = envelopes[1]; // 41-byte body: 55 characters ending in a 3-character tail
    const id = envelope.slice(5, 41);
    const body = envelope.slice(42);
    for (const variant of [
      `${envelope}=`,
      `${envelope}\n`,
      `\n${envelope}`,
      envelope.replace(id, id.toUpperCase()),
      envelope.replace('phi1', 'phi2'),
      `phi1.${id}.${body.slice(0, -1)}+`,
      `phi1.${id}.${body.slice(0, 52)}`, // 39 bytes: shorter than nonce + tag
      `phi1.${id}.${body.slice(0, -1)}B`, // non-canonical final character
      `phi1.${id}.${body}AA`, // 57 characters: length 4k+1 is never base64
    ]) {
      expect(pattern.test(variant)).toBe(false);
    }
  });

  it('is safe to paste into a SQL string literal (no quotes or backslashes)', () => {
    expect(PHI_ENVELOPE_SQL_PATTERN).not.toMatch(/['\\]/);
    expect(PHI_ENVELOPE_SQL_PATTERN.startsWith('^')).toBe(true);
    expect(PHI_ENVELOPE_SQL_PATTERN.endsWith('$')).toBe(true);
  });

  it('agrees with parseEnvelope on random bodies and single-character mutations', () => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/=.';
    const id = randomUUID();
    for (let length = 30; length < 70; length++) {
      const valid = `phi1.${id}.${randomBytes(length).toString('base64url')}`;
      const candidates = [valid];
      for (let i = 0; i < valid.length; i += 3) {
        const char = alphabet[(i * 7 + length) % alphabet.length];
        candidates.push(valid.slice(0, i) + char + valid.slice(i + 1), valid.slice(0, i) + valid.slice(i + 1));
      }
      for (const candidate of candidates) {
        expect(isPhiEnvelope(candidate)).toBe(parses(candidate));
      }
    }
  });
});
