import { createHash } from 'node:crypto';
import {
  RECOVERY_CODE_BITS,
  generateRecoveryCodes,
  hashRecoveryCode,
  matchRecoveryCode,
  normalizeRecoveryCode,
} from '../../src/auth/recovery-codes';

const FORMAT = /^[0-9abcdefghjkmnpqrstvwxyz]{5}(-[0-9abcdefghjkmnpqrstvwxyz]{5}){3}$/;

describe('generateRecoveryCodes', () => {
  it('returns ten codes by default in xxxxx-xxxxx-xxxxx-xxxxx form', () => {
    const codes = generateRecoveryCodes();
    expect(codes).toHaveLength(10);
    for (const code of codes) expect(code).toMatch(FORMAT);
  });

  it('never uses the ambiguous letters i, l, o or u', () => {
    expect(generateRecoveryCodes(100).join('')).not.toMatch(/[ilou]/);
  });

  it('carries at least 80 bits of entropy per code', () => {
    expect(RECOVERY_CODE_BITS).toBeGreaterThanOrEqual(80);
  });

  it('returns distinct codes within a batch and across batches', () => {
    const all = [...generateRecoveryCodes(100), ...generateRecoveryCodes(100)];
    expect(new Set(all).size).toBe(all.length);
  });

  it('honours the requested count and refuses nonsensical counts', () => {
    expect(generateRecoveryCodes(3)).toHaveLength(3);
    expect(() => generateRecoveryCodes(0)).toThrow(RangeError);
    expect(() => generateRecoveryCodes(2.5)).toThrow(RangeError);
    expect(() => generateRecoveryCodes(1000)).toThrow(RangeError);
  });
});

describe('normalizeRecoveryCode', () => {
  it('lower-cases and strips spaces and dashes', () => {
    expect(normalizeRecoveryCode('ABCDE-FGHJK-MNPQR-STVWX')).toBe('abcdefghjkmnpqrstvwx');
    expect(normalizeRecoveryCode('  abcde fghjk\tmnpqr – stvwx ')).toBe('abcdefghjkmnpqrstvwx');
    expect(normalizeRecoveryCode('abcdefghjkmnpqrstvwx')).toBe('abcdefghjkmnpqrstvwx');
  });

  it('folds the look-alikes o to 0 and i or l to 1', () => {
    expect(normalizeRecoveryCode('OIL01')).toBe('01101');
  });
});

describe('hashRecoveryCode', () => {
  it('is the SHA-256 hex digest of the normalised code', () => {
    const code = 'abcde-fghjk-mnpqr-stvwx';
    const expected = createHash('sha256').update('abcdefghjkmnpqrstvwx').digest('hex');
    expect(hashRecoveryCode(code)).toBe(expected);
    expect(hashRecoveryCode('ABCDE FGHJK MNPQR STVWX')).toBe(expected);
  });
});

describe('matchRecoveryCode', () => {
  const codes = generateRecoveryCodes(10);
  const stored = codes.map(hashRecoveryCode);

  it('returns the index of the matching stored hash', () => {
    codes.forEach((code, index) => expect(matchRecoveryCode(code, stored)).toBe(index));
  });

  it('matches input typed in upper case, with spaces, or without dashes', () => {
    const code = codes[4];
    expect(matchRecoveryCode(code.toUpperCase(), stored)).toBe(4);
    expect(matchRecoveryCode(code.replace(/-/g, ' '), stored)).toBe(4);
    expect(matchRecoveryCode(code.replace(/-/g, ''), stored)).toBe(4);
    expect(matchRecoveryCode(` ${code.toUpperCase().replace(/-/g, '')} `, stored)).toBe(4);
  });

  it('returns -1 when no stored hash matches', () => {
    expect(matchRecoveryCode(generateRecoveryCodes(1)[0], stored)).toBe(-1);
    expect(matchRecoveryCode(codes[0].slice(0, -1), stored)).toBe(-1);
    expect(matchRecoveryCode('', stored)).toBe(-1);
    expect(matchRecoveryCode('x'.repeat(10_000), stored)).toBe(-1);
    expect(matchRecoveryCode(codes[0], [])).toBe(-1);
  });

  it('skips malformed stored entries without throwing', () => {
    expect(matchRecoveryCode(codes[1], ['not-a-hash', '', stored[1]])).toBe(2);
  });
});
