import { encodeConstantPrefix, encodeParts } from '../../src/crypto/associated-data';

describe('associated data encoding', () => {
  it('writes each part as a big-endian 32-bit UTF-8 byte length followed by the bytes', () => {
    const encoded = encodeParts(encodeConstantPrefix(['ab']), ['', 'é', '🩺x']);
    expect(encoded.toString('hex')).toBe(
      ['00000002', '6162', '00000000', '00000002', 'c3a9', '00000005', 'f09fa9ba78'].join(''),
    );
  });

  it('keeps tuples apart that plain concatenation or a separator would merge', () => {
    const samples = [
      ['a', 'bc'],
      ['ab', 'c'],
      ['a.b', 'c'],
      ['a', 'b.c'],
      ['a\u0000', 'b'],
      ['a', '\u0000b'],
    ];
    const encodings = new Set(samples.map((parts) => encodeParts(Buffer.alloc(0), parts).toString('hex')));
    expect(encodings.size).toBe(samples.length);
  });
});
