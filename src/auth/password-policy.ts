import { dictionary } from '@zxcvbn-ts/language-common';

/** Minimum password length in Unicode code points; counted that way so emoji and accented letters count once. */
export const MIN_PASSWORD_LENGTH = 12;

/** Maximum password length in Unicode code points; also the hashing limit, since hashing megabytes is a DoS vector. */
export const MAX_PASSWORD_LENGTH = 256;

/** Stable machine-readable codes for policy violations, safe to return to clients and to log. */
export type PasswordPolicyCode = 'TOO_SHORT' | 'TOO_LONG' | 'COMMON' | 'CONTAINS_EMAIL';

/** The first rule a candidate password breaks; carries limits so clients can render their own message. */
export type PasswordPolicyViolation =
  | { code: 'TOO_SHORT'; minLength: number }
  | { code: 'TOO_LONG'; maxLength: number }
  | { code: 'COMMON' }
  | { code: 'CONTAINS_EMAIL' };

/** Human-readable message per violation code; never includes the password itself. */
export const PASSWORD_POLICY_MESSAGES: Readonly<Record<PasswordPolicyCode, string>> = {
  TOO_SHORT: `Password must be at least ${MIN_PASSWORD_LENGTH} characters long.`,
  TOO_LONG: `Password must be at most ${MAX_PASSWORD_LENGTH} characters long.`,
  COMMON: 'Password is too common or too easy to guess. Choose a longer passphrase.',
  CONTAINS_EMAIL: 'Password must not contain your email address or its user name.',
};

/** Shortest email local part that is treated as guessable content inside a password. */
const MIN_EMAIL_LOCAL_PART_LENGTH = 4;

// Digits, punctuation, symbols and spaces people append to a common word ("Password123!").
const TRAILING_DECORATION = /[\p{Nd}\p{P}\p{S}\s]+$/u;

let commonPasswords: Set<string> | undefined;

/** Builds the ~49k-entry lookup set on first use only, so importing this module stays cheap. */
function getCommonPasswords(): Set<string> {
  commonPasswords ??= new Set(dictionary['passwords-common'].map((entry) => entry.toLowerCase()));
  return commonPasswords;
}

/**
 * Counts Unicode code points, stopping once `limit` is exceeded so a huge input is not walked in full.
 * Returns at most `limit + 1`.
 */
export function countCodePoints(value: string, limit: number = Number.MAX_SAFE_INTEGER): number {
  let count = 0;
  for (let i = 0; i < value.length && count <= limit; i++) {
    const unit = value.charCodeAt(i);
    // A high surrogate followed by a low surrogate encodes a single code point.
    if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < value.length) {
      const next = value.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) i++;
    }
    count++;
  }
  return count;
}

/** Folds compatibility forms (e.g. full-width letters) and case so look-alike variants compare equal. */
function fold(value: string): string {
  return value.normalize('NFKC').toLowerCase();
}

function isCommon(folded: string): boolean {
  const common = getCommonPasswords();
  if (common.has(folded)) return true;
  const base = folded.replace(TRAILING_DECORATION, '');
  return base.length > 0 && base !== folded && common.has(base);
}

function containsEmail(folded: string, email: string): boolean {
  const foldedEmail = fold(email.trim());
  if (foldedEmail.length === 0) return false;
  if (folded === foldedEmail) return true;
  const at = foldedEmail.lastIndexOf('@');
  const localPart = at === -1 ? foldedEmail : foldedEmail.slice(0, at);
  return countCodePoints(localPart) >= MIN_EMAIL_LOCAL_PART_LENGTH && folded.includes(localPart);
}

/**
 * Checks a new password against the account policy and returns the first violation, or null when acceptable.
 * Length is checked first so the dictionary and email checks never run on oversized input.
 */
export function checkPasswordPolicy(password: string, email: string): PasswordPolicyViolation | null {
  const length = countCodePoints(password, MAX_PASSWORD_LENGTH);
  if (length < MIN_PASSWORD_LENGTH) return { code: 'TOO_SHORT', minLength: MIN_PASSWORD_LENGTH };
  if (length > MAX_PASSWORD_LENGTH) return { code: 'TOO_LONG', maxLength: MAX_PASSWORD_LENGTH };
  const folded = fold(password);
  if (isCommon(folded)) return { code: 'COMMON' };
  if (containsEmail(folded, email)) return { code: 'CONTAINS_EMAIL' };
  return null;
}
