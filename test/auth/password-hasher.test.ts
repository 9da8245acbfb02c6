import * as argon2 from 'argon2';
import { OWASP_MIN_ARGON2ID_PARAMS, PasswordHasher, PasswordTooLongError } from '../../src/auth/password-hasher';

// Wrap the real argon2 functions in spies so tests can tell whether any hashing work was done.
jest.mock('argon2', () => {
  const actual = jest.requireActual<typeof import('argon2')>('argon2');
  return { ...actual, hash: jest.fn(actual.hash), verify: jest.fn(actual.verify) };
});

jest.setTimeout(30_000);

const hashSpy = jest.mocked(argon2.hash);
const verifySpy = jest.mocked(argon2.verify);

const MIN = { memoryKiB: 19456, timeCost: 2, parallelism: 1 };
const ARGON2_AT_OWASP_MIN = { memoryCost: 19456, timeCost: 2, parallelism: 1 };
const PASSWORD = 'violet kettle harbor quantum';

describe('PasswordHasher', () => {
  const hasher = new PasswordHasher(MIN);
  let stored: string;

  beforeAll(async () => {
    stored = await hasher.hash(PASSWORD);
  });

  it('produces an argon2id PHC string with the configured parameters', () => {
    const [, type, version, params] = stored.split('$');
    expect([type, version]).toEqual(['argon2id', 'v=19']);
    expect(params.split(',').sort()).toEqual(['m=19456', 'p=1', 't=2']);
  });

  it('salts every hash so the same password hashes differently', async () => {
    expect(await hasher.hash(PASSWORD)).not.toBe(stored);
  });

  it('verifies the original password', async () => {
    await expect(hasher.verify(stored, PASSWORD)).resolves.toBe(true);
  });

  it('rejects a wrong password', async () => {
    await expect(hasher.verify(stored, 'violet kettle harbor quantun')).resolves.toBe(false);
    await expect(hasher.verify(stored, '')).resolves.toBe(false);
  });

  it('returns false instead of throwing on a malformed or foreign hash', async () => {
    const truncated = '$argon2id$v=19$m=19456,t=2,p=1$';
    const malformed = ['', 'not a hash', truncated, stored.slice(0, -5) + '!!!!!', '$2b$10$abc'];
    for (const bad of malformed) {
      await expect(hasher.verify(bad, PASSWORD)).resolves.toBe(false);
    }
  });

  it('refuses parameters below the OWASP minimum', () => {
    expect(OWASP_MIN_ARGON2ID_PARAMS).toEqual(MIN);
    expect(() => new PasswordHasher({ ...MIN, memoryKiB: 19455 })).toThrow(/memoryKiB.*19456/);
    expect(() => new PasswordHasher({ ...MIN, timeCost: 1 })).toThrow(/timeCost.*2/);
    expect(() => new PasswordHasher({ ...MIN, parallelism: 0 })).toThrow(/parallelism.*1/);
    expect(() => new PasswordHasher({ ...MIN, memoryKiB: Number.NaN })).toThrow(RangeError);
    expect(() => new PasswordHasher({ ...MIN, timeCost: 2.5 })).toThrow(RangeError);
  });

  it('flags a hash made with lower parameters for rehashing', async () => {
    const legacy = await argon2.hash(PASSWORD, { ...ARGON2_AT_OWASP_MIN, type: argon2.argon2id });
    const stronger = new PasswordHasher({ memoryKiB: 19456, timeCost: 3, parallelism: 1 });
    expect(stronger.needsRehash(legacy)).toBe(true);
    expect(new PasswordHasher({ ...MIN, memoryKiB: 32768 }).needsRehash(legacy)).toBe(true);
    expect(new PasswordHasher({ ...MIN, parallelism: 2 }).needsRehash(legacy)).toBe(true);
    await expect(stronger.verify(legacy, PASSWORD)).resolves.toBe(true);
  });

  it('does not flag a hash made with the current parameters', async () => {
    expect(hasher.needsRehash(stored)).toBe(false);
    const stronger = new PasswordHasher({ memoryKiB: 19456, timeCost: 3, parallelism: 1 });
    expect(stronger.needsRehash(await stronger.hash(PASSWORD))).toBe(false);
  });

  it('reads m, t and p from the PHC string in any order', () => {
    const [, type, version, , salt, hash] = stored.split('$');
    const reordered = ['', type, version, 't=2,p=1,m=19456', salt, hash].join('$');
    expect(hasher.needsRehash(reordered)).toBe(false);
    expect(new PasswordHasher({ ...MIN, timeCost: 3 }).needsRehash(reordered)).toBe(true);
    expect(hasher.needsRehash(['', type, version, 'm=19456,t=2,p=1,t=9', salt, hash].join('$'))).toBe(true);
    expect(hasher.needsRehash(['', type, version, 'm=19456,t=2', salt, hash].join('$'))).toBe(true);
  });

  it('flags non-argon2id and unparseable hashes for rehashing', async () => {
    const argon2i = await argon2.hash(PASSWORD, { ...ARGON2_AT_OWASP_MIN, type: argon2.argon2i });
    expect(hasher.needsRehash(argon2i)).toBe(true);
    expect(hasher.needsRehash('$2b$10$abcdefghijklmnopqrstuv')).toBe(true);
    expect(hasher.needsRehash('')).toBe(true);
  });

  it('always resolves false from the dummy verification, whatever the password', async () => {
    await expect(hasher.verifyAgainstDummy(PASSWORD)).resolves.toBe(false);
    await expect(hasher.verifyAgainstDummy('')).resolves.toBe(false);
  });

  it('spends argon2 work on the dummy verification, like a real one', async () => {
    await hasher.verifyAgainstDummy('warm-up');
    verifySpy.mockClear();
    hashSpy.mockClear();
    await hasher.verifyAgainstDummy('anything at all');
    expect(hashSpy).not.toHaveBeenCalled();
    expect(verifySpy).toHaveBeenCalledTimes(1);
    const dummy = verifySpy.mock.calls[0][0];
    expect(dummy.startsWith('$argon2id$v=19$')).toBe(true);
    expect(hasher.needsRehash(dummy)).toBe(false);
  });

  it('refuses a 10,000-character password before hashing it', async () => {
    hashSpy.mockClear();
    verifySpy.mockClear();
    const huge = 'a'.repeat(10_000);
    const error = await hasher.hash(huge).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(PasswordTooLongError);
    expect((error as Error).message).not.toContain('aaaa');
    await expect(hasher.verify(stored, huge)).resolves.toBe(false);
    await expect(hasher.verifyAgainstDummy(huge)).resolves.toBe(false);
    expect(hashSpy).not.toHaveBeenCalledWith(huge, expect.anything());
    expect(verifySpy).not.toHaveBeenCalledWith(expect.anything(), huge);
  });

  it('accepts a password of exactly 256 characters', async () => {
    const longest = 'ab'.repeat(128);
    await expect(hasher.verify(await hasher.hash(longest), longest)).resolves.toBe(true);
  });
});
