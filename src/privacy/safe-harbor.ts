import { randomBytes } from 'node:crypto';

/**
 * HIPAA Safe Harbor de-identification (45 CFR 164.514(b)(2)): the generalisations a research record may
 * keep. Everything not produced by these functions (names, contact details, identifiers, full dates, free
 * text) is simply never copied into a research record.
 */

/**
 * Three-digit ZIP prefixes whose area holds 20,000 people or fewer (2000 Census, as listed in HHS's
 * de-identification guidance): their prefix is replaced by "000".
 */
export const RESTRICTED_ZIP3: ReadonlySet<string> = new Set([
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
]);

/** The suppressed geographic unit: unknown, non-US, or a prefix of a small area. */
export const SUPPRESSED_ZIP3 = '000';

// Same shape as patient.validation's check; a code is a classification, not an identifier of the patient.
const ICD10 = /^[A-TV-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$/;

/** Ages above this are aggregated into one category (164.514(b)(2)(i)(C)). */
export const MAX_REPORTED_AGE = 89;

/**
 * The first three digits of a US ZIP code, or "000" when the area they cover is too small, the code is not a
 * US ZIP code, or the address is unknown. Other countries' postal units have no Safe Harbor list and are
 * suppressed whole.
 */
export function zip3(postalCode: string | null | undefined, country: string | null | undefined): string {
  if (!postalCode || (country ?? 'US').toUpperCase() !== 'US') return SUPPRESSED_ZIP3;
  const match = /^\s*(\d{3})\d{2}(?:-?\d{4})?\s*$/.exec(postalCode);
  if (!match || RESTRICTED_ZIP3.has(match[1])) return SUPPRESSED_ZIP3;
  return match[1];
}

/** Age in whole years at `at` of someone born on `dateOfBirth` (YYYY-MM-DD), by the UTC calendar. */
export function ageAt(dateOfBirth: string, at: Date): number {
  const [year, month, day] = dateOfBirth.split('-').map(Number);
  let age = at.getUTCFullYear() - year;
  const beforeBirthday = at.getUTCMonth() + 1 < month || (at.getUTCMonth() + 1 === month && at.getUTCDate() < day);
  if (beforeBirthday) age -= 1;
  return Math.max(0, age);
}

/** Five-year age band ("40-44"), or "90+" for every age above 89. */
export function ageGroup(age: number): string {
  if (age > MAX_REPORTED_AGE) return `${MAX_REPORTED_AGE + 1}+`;
  const low = Math.floor(age / 5) * 5;
  return `${low}-${low + 4}`;
}

/** The year of birth, or null when the age is above 89 (the year would reveal the age). */
export function birthYear(dateOfBirth: string, age: number): number | null {
  return age > MAX_REPORTED_AGE ? null : Number(dateOfBirth.slice(0, 4));
}

/** The year of a date: the only date element Safe Harbor keeps. */
export function yearOf(date: Date): number {
  return date.getUTCFullYear();
}

/**
 * A random code for one patient in one export: not derived from any identifier (164.514(c) forbids a code
 * derived from information about the individual), so two exports cannot be linked through it either.
 */
export function pseudonym(): string {
  return randomBytes(12).toString('base64url');
}

/** ICD-10 codes as stored (validated at write time); anything else is dropped rather than passed through. */
export function diagnosisCodes(codes: unknown): string[] {
  if (!Array.isArray(codes)) return [];
  return codes.filter((code): code is string => typeof code === 'string' && ICD10.test(code));
}
