import { z } from 'zod';

import { isRole, type Role } from '../config/roles';
import { isUuid } from '../db/ids';
import { badUserInput } from '../graphql/errors';
import { PASSWORD_POLICY_MESSAGES, checkPasswordPolicy } from './password-policy';

const MAX_EMAIL_LENGTH = 254;
const emailSchema = z.email();
const displayNameSchema = z
  .string()
  .trim()
  .min(1)
  .max(120)
  .regex(/^[^\p{Cc}\p{Cf}]+$/u);

/** The one form of an email that is sealed and indexed: trimmed and lower-cased. */
export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

/** What a new account needs; `patientId` only (and always) for PATIENT accounts. */
export interface NewAccount {
  email: string;
  password: string;
  role: Role;
  displayName: string;
  patientId?: string | null;
}

/**
 * Checks a new account's fields and returns them normalised; throws BAD_USER_INPUT naming the
 * first failing field, never echoing its value. Whether the patient exists is checked later.
 */
export function validateNewAccount(input: NewAccount): NewAccount {
  const email = typeof input.email === 'string' ? normalizeEmail(input.email) : '';
  if (email.length > MAX_EMAIL_LENGTH || !emailSchema.safeParse(email).success) {
    throw badUserInput('Email address is not valid', 'email');
  }
  const displayName = displayNameSchema.safeParse(input.displayName);
  if (!displayName.success) throw badUserInput('Display name must be 1 to 120 printable characters', 'displayName');
  if (!isRole(input.role)) throw badUserInput('Unknown role', 'role');

  const patientId = input.patientId ?? null;
  if (input.role === 'PATIENT' && !isUuid(patientId)) {
    throw badUserInput('A PATIENT account must name the patient record it belongs to', 'patientId');
  }
  if (input.role !== 'PATIENT' && patientId !== null) {
    throw badUserInput('Only PATIENT accounts are linked to a patient record', 'patientId');
  }
  assertPasswordPolicy(input.password, email);
  return { email, password: input.password, role: input.role, displayName: displayName.data, patientId };
}

/** Throws BAD_USER_INPUT on `password` with the policy's message when the password breaks the policy. */
export function assertPasswordPolicy(password: string, email: string): void {
  const violation =
    typeof password === 'string' ? checkPasswordPolicy(password, email) : { code: 'TOO_SHORT' as const };
  if (violation) throw badUserInput(PASSWORD_POLICY_MESSAGES[violation.code], 'password');
}
