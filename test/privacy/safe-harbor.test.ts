import {
  ageAt,
  ageGroup,
  birthYear,
  diagnosisCodes,
  pseudonym,
  RESTRICTED_ZIP3,
  zip3,
} from '../../src/privacy/safe-harbor';
import { canonicalJson } from '../../src/privacy/erasure-certificate';

describe('Safe Harbor generalisation', () => {
  it('keeps the first three ZIP digits of a populous US area and suppresses the HHS small-area prefixes', () => {
    expect(zip3('94107', 'US')).toBe('941');
    expect(zip3('94107-1234', 'us')).toBe('941');
    for (const prefix of [
      '036',
      '059',
      '063',
      '102',
      '203',
      '556',
      '692',
      '790',
      '821',
      '823',
      '830',
      '831',
      '878',
      '879',
      '884',
      '890',
      '893',
    ]) {
      expect(RESTRICTED_ZIP3.has(prefix)).toBe(true);
      expect(zip3(`${prefix}42`, 'US')).toBe('000');
    }
  });

  it('suppresses postal codes it cannot judge: non-US, malformed or missing', () => {
    expect(zip3('10115', 'DE')).toBe('000');
    expect(zip3('SW1A 1AA', 'GB')).toBe('000');
    expect(zip3('9410', 'US')).toBe('000');
    expect(zip3(null, 'US')).toBe('000');
  });

  it('computes age by the calendar and groups every age above 89 as 90+', () => {
    const at = new Date('2026-06-15T12:00:00Z');
    expect(ageAt('1936-06-16', at)).toBe(89);
    expect(ageAt('1936-06-15', at)).toBe(90);
    expect(ageGroup(89)).toBe('85-89');
    expect(ageGroup(90)).toBe('90+');
    expect(ageGroup(104)).toBe('90+');
    expect(ageGroup(0)).toBe('0-4');
    expect(ageGroup(42)).toBe('40-44');
  });

  it('keeps the birth year only up to age 89', () => {
    expect(birthYear('1961-04-12', 65)).toBe(1961);
    expect(birthYear('1931-04-12', 95)).toBeNull();
  });

  it('issues pseudonyms that are random, not derived from anything', () => {
    const codes = new Set(Array.from({ length: 1000 }, () => pseudonym()));
    expect(codes.size).toBe(1000);
  });

  it('passes only well-formed ICD-10 codes', () => {
    expect(diagnosisCodes(['E11.65', 'J41.0', 'Jane Doe', 42, 'U07.1'])).toEqual(['E11.65', 'J41.0']);
    expect(diagnosisCodes('E11.65')).toEqual([]);
  });
});

describe('canonical JSON of erasure statements', () => {
  it('sorts keys at every level and keeps array order, so signer and verifier encode alike', () => {
    expect(canonicalJson({ b: 1, a: [{ d: 'x', c: null }, 'y'] })).toBe('{"a":[{"c":null,"d":"x"},"y"],"b":1}');
    expect(canonicalJson({ a: 'é"\n' })).toBe('{"a":"é\\"\\n"}');
  });
});
