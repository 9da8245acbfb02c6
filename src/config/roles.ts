/** Every role of the contract; a PATIENT user is linked to exactly one patient record. */
export const ROLES = [
  'ADMIN',
  'PHYSICIAN',
  'NURSE',
  'RECEPTIONIST',
  'BILLING',
  'AUDITOR',
  'PRIVACY_OFFICER',
  'INTEGRATOR',
  'PATIENT',
] as const;

export type Role = (typeof ROLES)[number];

/** Type guard for values read from tokens or the database. */
export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}
