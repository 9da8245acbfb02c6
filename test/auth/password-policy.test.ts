import {
  MAX_PASSWORD_LENGTH,
  MIN_PASSWORD_LENGTH,
  PASSWORD_POLICY_MESSAGES,
  checkPasswordPolicy,
  countCodePoints,
} from '../../src/auth/password-policy';

const EMAIL = 'jane.doe@example.org';
const code = (password: string, email = EMAIL): string | null => checkPasswordPolicy(password, email)?.code ?? null;

describe('checkPasswordPolicy', () => {
  it('accepts a long random passphrase', () => {
    expect(checkPasswordPolicy('violet kettle harbor quantum 42', EMAIL)).toBeNull();
    expect(checkPasswordPolicy('Tq8#vL2m!pZr9wXe', EMAIL)).toBeNull();
  });

  it('refuses passwords shorter than 12 characters as TOO_SHORT with the limit', () => {
    expect(checkPasswordPolicy('', EMAIL)).toEqual({ code: 'TOO_SHORT', minLength: MIN_PASSWORD_LENGTH });
    expect(code('Xk9#mQ2$vL7')).toBe('TOO_SHORT');
    expect(code('Xk9#mQ2$vL7!')).toBeNull();
  });

  it('counts length in Unicode code points, not UTF-16 units', () => {
    const emoji = '🔐🩺💊🧬🏥🔬'; // 6 code points, 12 UTF-16 units
    expect(emoji.length).toBe(12);
    expect(code(emoji)).toBe('TOO_SHORT');
    expect(code(emoji + emoji)).toBeNull();
  });

  it('refuses passwords longer than 256 characters as TOO_LONG', () => {
    expect(code('a1b2c3d4'.repeat(32))).toBeNull();
    expect(checkPasswordPolicy('a1b2c3d4'.repeat(32) + 'x', EMAIL)).toEqual({
      code: 'TOO_LONG',
      maxLength: MAX_PASSWORD_LENGTH,
    });
    expect(code('x'.repeat(1_000_000))).toBe('TOO_LONG');
  });

  it('refuses entries of the common-password list regardless of case', () => {
    expect(code('password1234')).toBe('COMMON');
    expect(code('qwertyuiop12')).toBe('COMMON');
    expect(code('PASSWORD1234')).toBe('COMMON');
  });

  it('refuses a common word decorated with trailing digits or punctuation', () => {
    expect(code('Password123!')).toBe('COMMON');
    expect(code('Football2024!!')).toBe('COMMON');
    expect(code('iloveyou.....')).toBe('COMMON');
  });

  it('reports short common passwords as TOO_SHORT', () => {
    expect(code('password')).toBe('TOO_SHORT');
    expect(code('qwerty123')).toBe('TOO_SHORT');
  });

  it('does not treat a common word followed by more letters as common', () => {
    expect(code('passwordgiraffeorbit')).toBeNull();
  });

  it('refuses the email address itself, case-insensitively', () => {
    expect(code('Jane.Doe@Example.org')).toBe('CONTAINS_EMAIL');
  });

  it('refuses a password containing the email local part', () => {
    expect(code('my-JANE.DOE-secret-99')).toBe('CONTAINS_EMAIL');
    expect(code('xx-jsmith-orbit-lamp', 'JSmith@hospital.example')).toBe('CONTAINS_EMAIL');
  });

  it('ignores email local parts shorter than four characters', () => {
    expect(code('bob-violet-kettle-harbor', 'bob@example.org')).toBeNull();
    expect(code('anna-violet-kettle-harbor', 'anna@example.org')).toBe('CONTAINS_EMAIL');
  });

  it('never includes the password in a message', () => {
    const password = 'Password123!';
    const violation = checkPasswordPolicy(password, EMAIL);
    expect(violation).not.toBeNull();
    expect(PASSWORD_POLICY_MESSAGES[violation!.code]).not.toContain(password);
    for (const message of Object.values(PASSWORD_POLICY_MESSAGES)) expect(message.length).toBeGreaterThan(0);
  });
});

describe('countCodePoints', () => {
  it('counts surrogate pairs once and stops just past the limit', () => {
    expect(countCodePoints('a🔐b')).toBe(3);
    expect(countCodePoints('x'.repeat(1000), 10)).toBe(11);
  });
});
