import type { Role } from '../config/roles';
import { PhiCategory, type PartialForm } from './phi.types';

/** How much of a category a role may see: all of it, a partial form, or nothing. */
export type Visibility = 'FULL' | 'PARTIAL' | 'NONE';

const { IDENTIFIER, CONTACT, DEMOGRAPHIC, CLINICAL, FINANCIAL } = PhiCategory;

function row(full: PhiCategory[], partial: PhiCategory[] = []): Record<PhiCategory, Visibility> {
  const out = {} as Record<PhiCategory, Visibility>;
  for (const category of Object.values(PhiCategory)) {
    out[category] = full.includes(category) ? 'FULL' : partial.includes(category) ? 'PARTIAL' : 'NONE';
  }
  return out;
}

/**
 * The one redaction table: role x PHI category. Whether a caller may reach a patient at all
 * (care team, self, consent, break-glass) is decided by the access rules before this applies.
 */
export const REDACTION_POLICY: Readonly<Record<Role, Record<PhiCategory, Visibility>>> = {
  ADMIN: row([], [DEMOGRAPHIC]),
  PHYSICIAN: row([IDENTIFIER, CONTACT, DEMOGRAPHIC, CLINICAL, FINANCIAL]),
  NURSE: row([IDENTIFIER, CONTACT, DEMOGRAPHIC, CLINICAL, FINANCIAL]),
  RECEPTIONIST: row([CONTACT, DEMOGRAPHIC], [IDENTIFIER]),
  BILLING: row([CONTACT, DEMOGRAPHIC, FINANCIAL], [IDENTIFIER]),
  AUDITOR: row([]),
  PRIVACY_OFFICER: row([]),
  INTEGRATOR: row([IDENTIFIER, CONTACT, DEMOGRAPHIC, CLINICAL]),
  PATIENT: row([IDENTIFIER, CONTACT, DEMOGRAPHIC, CLINICAL, FINANCIAL]),
};

/** How the caller relates to the patient whose data it is (decided by the access rules). */
export type Relation = 'SELF' | 'CARE_TEAM' | 'BREAK_GLASS' | 'CONSENTED' | 'STAFF';

/** What `role` may see of `category` by role alone; an anonymous caller sees nothing. */
export function visibilityOf(role: Role | undefined, category: PhiCategory): Visibility {
  return role ? REDACTION_POLICY[role][category] : 'NONE';
}

/**
 * What the caller may see of one patient's `category`: everything for the patient themself and
 * for whoever treats them (care team, break-glass); otherwise the role's row of the table. No
 * relation (the patient was not reached) means nothing.
 */
export function visibilityFor(
  role: Role | undefined,
  relation: Relation | undefined,
  category: PhiCategory,
): Visibility {
  if (!role || !relation) return 'NONE';
  if (relation === 'SELF' || relation === 'CARE_TEAM' || relation === 'BREAK_GLASS') return 'FULL';
  return REDACTION_POLICY[role][category];
}

/** Applies a field's partial form to a decrypted value (strings, ISO dates, or an address object). */
export function applyPartial(form: PartialForm, value: unknown): unknown {
  if (value === null || value === undefined) return value;
  switch (form) {
    case 'last4': {
      const text = String(value);
      return text.length <= 4 ? '*'.repeat(text.length) : `${'*'.repeat(text.length - 4)}${text.slice(-4)}`;
    }
    case 'initial':
      return `${String(value).charAt(0)}.`;
    case 'year':
      return String(value).slice(0, 4);
    case 'city-country': {
      const address = value as Record<string, unknown>;
      return { line1: null, city: address.city ?? null, postalCode: null, country: address.country ?? null };
    }
    case 'none':
      return null;
  }
}
