import {
  base32Decode,
  base32Encode,
  generateTotpSecret,
  totpCode,
  totpUri,
  verifyTotp,
  type TotpAlgorithm,
} from '../../src/auth/totp';

const ascii = (value: string): string => base32Encode(Buffer.from(value, 'ascii'));

// RFC 6238 Appendix B seeds: the SHA-1 seed repeated to the HMAC output size.
const RFC6238_SEEDS: Record<TotpAlgorithm, string> = {
  sha1: ascii('12345678901234567890'),
  sha256: ascii('12345678901234567890123456789012'),
  sha512: ascii('1234567890123456789012345678901234567890123456789012345678901234'),
};

const RFC6238_VECTORS: Array<[number, string, TotpAlgorithm]> = [
  [59, '94287082', 'sha1'],
  [59, '46119246', 'sha256'],
  [59, '90693936', 'sha512'],
  [1111111109, '07081804', 'sha1'],
  [1111111109, '68084774', 'sha256'],
  [1111111109, '25091201', 'sha512'],
  [1111111111, '14050471', 'sha1'],
  [1111111111, '67062674', 'sha256'],
  [1111111111, '99943326', 'sha512'],
  [1234567890, '89005924', 'sha1'],
  [1234567890, '91819424', 'sha256'],
  [1234567890, '93441116', 'sha512'],
  [2000000000, '69279037', 'sha1'],
  [2000000000, '90698825', 'sha256'],
  [2000000000, '38618901', 'sha512'],
  [20000000000, '65353130', 'sha1'],
  [20000000000, '77737706', 'sha256'],
  [20000000000, '47863826', 'sha512'],
];

const STEP_MS = 30_000;
const SECRET = RFC6238_SEEDS.sha1;
const NOW = 1_700_000_000_000;
const NOW_STEP = Math.floor(NOW / STEP_MS);

describe('base32', () => {
  it.each([
    ['', ''],
    ['f', 'MY'],
    ['fo', 'MZXQ'],
    ['foo', 'MZXW6'],
    ['foob', 'MZXW6YQ'],
    ['fooba', 'MZXW6YTB'],
    ['foobar', 'MZXW6YTBOI'],
  ])('encodes %j as the RFC 4648 vector %j without padding', (plain, encoded) => {
    expect(base32Encode(Buffer.from(plain, 'ascii'))).toBe(encoded);
    expect(base32Decode(encoded).toString('ascii')).toBe(plain);
  });

  it('decodes lower case, spaces and padding', () => {
    expect(base32Decode('mzxw 6ytb oi======').toString('ascii')).toBe('foobar');
    expect(base32Decode('MY======').toString('ascii')).toBe('f');
  });

  it('round-trips random bytes of every length up to 64', () => {
    for (let length = 0; length <= 64; length++) {
      const bytes = Buffer.from(Array.from({ length }, (_, i) => (i * 37 + length) & 0xff));
      expect(base32Decode(base32Encode(bytes))).toEqual(bytes);
    }
  });

  it('throws on characters outside the alphabet without echoing the input', () => {
    for (const bad of ['MZXW1YTB', 'MZXW8YTB', 'MZ=XW6YT', 'MZXW6YT!']) {
      expect(() => base32Decode(bad)).toThrow('Invalid base32 character');
    }
  });

  it('throws on lengths that no encoder can produce', () => {
    expect(() => base32Decode('M')).toThrow('Invalid base32 length');
    expect(() => base32Decode('MZX')).toThrow('Invalid base32 length');
  });
});

describe('generateTotpSecret', () => {
  it('returns 20 random bytes as 32 unpadded base32 characters', () => {
    const secret = generateTotpSecret();
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(base32Decode(secret)).toHaveLength(20);
    expect(generateTotpSecret()).not.toBe(secret);
  });
});

describe('totpCode', () => {
  it.each(RFC6238_VECTORS)('matches the RFC 6238 vector at T=%d s (%s, %s)', (seconds, expected, algorithm) => {
    expect(totpCode(RFC6238_SEEDS[algorithm], seconds * 1000, { algorithm, digits: 8 })).toBe(expected);
  });

  it('matches the RFC 4226 HOTP vectors for counters 0 to 9 with six digits', () => {
    const expected = '755224 287082 359152 969429 338314 254676 287922 162583 399871 520489'.split(' ');
    expect(expected.map((_, counter) => totpCode(SECRET, counter * STEP_MS))).toEqual(expected);
  });

  it('produces exactly six digits by default, keeping leading zeros', () => {
    for (let step = 0; step < 200; step++) expect(totpCode(SECRET, step * STEP_MS)).toMatch(/^\d{6}$/);
    expect(totpCode(SECRET, 1111111109 * 1000, { digits: 8 })).toBe('07081804');
  });

  it('gives the same code throughout one 30-second step', () => {
    expect(totpCode(SECRET, NOW_STEP * STEP_MS)).toBe(totpCode(SECRET, NOW_STEP * STEP_MS + STEP_MS - 1));
  });

  it('refuses unsupported digit counts, secrets under 128 bits and invalid times', () => {
    expect(() => totpCode(SECRET, NOW, { digits: 5 })).toThrow(RangeError);
    expect(() => totpCode(SECRET, NOW, { digits: 9 })).toThrow(RangeError);
    expect(() => totpCode(ascii('short secret'), NOW)).toThrow(RangeError);
    expect(() => totpCode(SECRET, -1)).toThrow(RangeError);
    expect(() => totpCode(SECRET, Number.NaN)).toThrow(RangeError);
  });
});

describe('verifyTotp', () => {
  const codeAt = (offsetSteps: number): string => totpCode(SECRET, NOW + offsetSteps * STEP_MS);

  it('accepts the current code and returns its step', () => {
    expect(verifyTotp(SECRET, codeAt(0), NOW)).toEqual({ ok: true, step: NOW_STEP });
  });

  it('accepts codes one step early or late with the default window', () => {
    expect(verifyTotp(SECRET, codeAt(-1), NOW)).toEqual({ ok: true, step: NOW_STEP - 1 });
    expect(verifyTotp(SECRET, codeAt(1), NOW)).toEqual({ ok: true, step: NOW_STEP + 1 });
  });

  it('refuses codes two steps away with the default window', () => {
    expect(verifyTotp(SECRET, codeAt(-2), NOW)).toEqual({ ok: false });
    expect(verifyTotp(SECRET, codeAt(2), NOW)).toEqual({ ok: false });
  });

  it('honours a wider or zero window', () => {
    expect(verifyTotp(SECRET, codeAt(2), NOW, { window: 2 })).toEqual({ ok: true, step: NOW_STEP + 2 });
    expect(verifyTotp(SECRET, codeAt(1), NOW, { window: 0 })).toEqual({ ok: false });
  });

  it('refuses a replayed code whose step is not after lastUsedStep', () => {
    const first = verifyTotp(SECRET, codeAt(0), NOW);
    expect(first.ok).toBe(true);
    const lastUsedStep = first.ok ? first.step : -1;
    expect(verifyTotp(SECRET, codeAt(0), NOW, { lastUsedStep })).toEqual({ ok: false });
    expect(verifyTotp(SECRET, codeAt(-1), NOW, { lastUsedStep })).toEqual({ ok: false });
  });

  it('still accepts a later step after lastUsedStep', () => {
    expect(verifyTotp(SECRET, codeAt(1), NOW, { lastUsedStep: NOW_STEP })).toEqual({ ok: true, step: NOW_STEP + 1 });
  });

  it('refuses wrong-length, non-digit and padded codes', () => {
    const code = codeAt(0);
    for (const bad of [code.slice(0, 5), `${code}0`, `0${code}`, ` ${code}`, `${code.slice(0, 3)} ${code.slice(3)}`]) {
      expect(verifyTotp(SECRET, bad, NOW)).toEqual({ ok: false });
    }
    expect(verifyTotp(SECRET, 'abcdef', NOW)).toEqual({ ok: false });
    expect(verifyTotp(SECRET, '12345e', NOW)).toEqual({ ok: false });
    expect(verifyTotp(SECRET, '١٢٣٤٥٦', NOW)).toEqual({ ok: false });
    expect(verifyTotp(SECRET, '', NOW)).toEqual({ ok: false });
  });

  it('refuses a code from a different secret', () => {
    expect(verifyTotp(generateTotpSecret(), codeAt(0), NOW)).toEqual({ ok: false });
  });

  it('verifies eight-digit SHA-256 codes when configured', () => {
    const code = totpCode(RFC6238_SEEDS.sha256, 59_000, { algorithm: 'sha256', digits: 8 });
    expect(verifyTotp(RFC6238_SEEDS.sha256, code, 59_000, { algorithm: 'sha256', digits: 8 })).toEqual({
      ok: true,
      step: 1,
    });
    expect(verifyTotp(RFC6238_SEEDS.sha256, code, 59_000, { digits: 8 })).toEqual({ ok: false });
  });

  it('refuses invalid window values', () => {
    expect(() => verifyTotp(SECRET, codeAt(0), NOW, { window: -1 })).toThrow(RangeError);
    expect(() => verifyTotp(SECRET, codeAt(0), NOW, { window: 1.5 })).toThrow(RangeError);
  });
});

describe('totpUri', () => {
  it('builds an otpauth URI with the issuer prefix and percent-encoded parts', () => {
    const secret = 'gezd gnbv gy3t qojq gezd gnbv gy3t qojq';
    const uri = totpUri({ issuer: 'St Mary Hospital', account: 'jane.doe+ops@example.org', secret });
    expect(uri).toBe(
      'otpauth://totp/St%20Mary%20Hospital:jane.doe%2Bops%40example.org' +
        '?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=St%20Mary%20Hospital&algorithm=SHA1&digits=6&period=30',
    );
  });

  it('parses back to the original issuer, account and secret', () => {
    const secret = generateTotpSecret();
    const url = new URL(totpUri({ issuer: 'HMS & Co', account: 'dr.who@example.org', secret, digits: 8 }));
    expect(url.protocol).toBe('otpauth:');
    expect(url.host).toBe('totp');
    expect(decodeURIComponent(url.pathname)).toBe('/HMS & Co:dr.who@example.org');
    expect(url.searchParams.get('secret')).toBe(secret);
    expect(url.searchParams.get('issuer')).toBe('HMS & Co');
    expect(url.searchParams.get('digits')).toBe('8');
  });

  it('refuses a colon in the issuer or account and an invalid secret', () => {
    const secret = generateTotpSecret();
    expect(() => totpUri({ issuer: 'A:B', account: 'x@example.org', secret })).toThrow(RangeError);
    expect(() => totpUri({ issuer: 'HMS', account: 'x:y', secret })).toThrow(RangeError);
    expect(() => totpUri({ issuer: 'HMS', account: 'x@example.org', secret: 'not base32!' })).toThrow();
  });
});
