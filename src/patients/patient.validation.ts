import { badUserInput } from '../graphql/errors';

const SSN = /^(?!000|666|9\d\d)\d{3}-?(?!00)\d{2}-?(?!0000)\d{4}$/;
// Deliberately plain: one @, no spaces, a dot in the domain. Deliverability is the mail server's job.
const EMAIL = /^[^\s@]{1,64}@[^\s@]+\.[^\s@]{2,}$/;
const E164 = /^\+[1-9]\d{6,14}$/;
// ICD-10(-CM): letter, two alphanumerics, optional dot and up to four more characters (e.g. E11.65, S72.001A).
const ICD10 = /^[A-TV-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$/;
const MRN = /^[A-Z0-9-]{4,20}$/i;
const COUNTRY = /^[A-Z]{2}$/;

/** Limits on free text, in characters. */
export const TEXT_LIMITS = { name: 100, line: 200, reason: 500, notes: 10_000, memberId: 40 } as const;

/** Trims and checks a required text field's length. */
export function text(value: string, field: string, max: number): string {
  const trimmed = value.trim();
  if (trimmed.length === 0) throw badUserInput(`${field} must not be empty`, field);
  if (trimmed.length > max) throw badUserInput(`${field} must be at most ${max} characters`, field);
  return trimmed;
}

/** US Social Security number: 9 digits, with or without dashes, excluding never-issued ranges. */
export function ssn(value: string, field = 'ssn'): string {
  const trimmed = value.trim();
  if (!SSN.test(trimmed)) throw badUserInput('ssn must be a valid US Social Security number (AAA-GG-SSSS)', field);
  const digits = trimmed.replace(/-/g, '');
  return `${digits.slice(0, 3)}-${digits.slice(3, 5)}-${digits.slice(5)}`;
}

/** Email shape; stored lower-cased. */
export function email(value: string, field = 'email'): string {
  const trimmed = value.trim().toLowerCase();
  if (trimmed.length > 254 || !EMAIL.test(trimmed)) throw badUserInput('email must be a valid email address', field);
  return trimmed;
}

/** Phone in E.164 form (+ and up to 15 digits); spaces, dashes and brackets are removed first. */
export function phone(value: string, field = 'phone'): string {
  const compact = value.replace(/[\s\-().]/g, '');
  if (!E164.test(compact)) throw badUserInput('phone must be in E.164 form, e.g. +14155550123', field);
  return compact;
}

/** A calendar date (already shape-checked by the Date scalar) that is not in the future. */
export function pastDate(value: string, field: string, now = new Date()): string {
  if (value > now.toISOString().slice(0, 10)) throw badUserInput(`${field} must not be in the future`, field);
  if (value < '1880-01-01') throw badUserInput(`${field} is implausibly old`, field);
  return value;
}

/** ICD-10 diagnosis codes, upper-cased, de-duplicated, at most 50. */
export function icd10Codes(values: string[], field = 'diagnosisCodes'): string[] {
  if (values.length > 50) throw badUserInput('at most 50 diagnosis codes', field);
  const codes = values.map((v) => v.trim().toUpperCase());
  codes.forEach((code, i) => {
    if (!ICD10.test(code)) throw badUserInput('diagnosis codes must be ICD-10 codes such as E11.65', `${field}.${i}`);
  });
  return [...new Set(codes)];
}

/** Medical record number: 4-20 letters, digits or dashes; stored upper-cased. */
export function mrn(value: string, field = 'mrn'): string {
  const trimmed = value.trim();
  if (!MRN.test(trimmed)) throw badUserInput('mrn must be 4-20 letters, digits or dashes', field);
  return trimmed.toUpperCase();
}

/** ISO 3166-1 alpha-2 country code. */
export function country(value: string, field: string): string {
  const upper = value.trim().toUpperCase();
  if (!COUNTRY.test(upper)) throw badUserInput('country must be an ISO 3166-1 alpha-2 code', field);
  return upper;
}
