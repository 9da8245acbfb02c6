/** What kind of personal health information a field holds; the redaction policy is keyed by it. */
export enum PhiCategory {
  IDENTIFIER = 'IDENTIFIER',
  CONTACT = 'CONTACT',
  DEMOGRAPHIC = 'DEMOGRAPHIC',
  CLINICAL = 'CLINICAL',
  FINANCIAL = 'FINANCIAL',
}

/** How a PHI value is turned into the plaintext that is encrypted. */
export type PhiKind = 'string' | 'date' | 'json';

/** Normalisations applied before a blind index is computed; exact-match search uses the same one. */
export type BlindIndexNormalizer = 'ssn' | 'email' | 'phone' | 'mrn' | 'name' | 'date';

/** How a value is shown to a role the policy grants only PARTIAL access to the field's category. */
export type PartialForm = 'last4' | 'initial' | 'year' | 'city-country' | 'none';

/** Everything the mark records about one PHI property. */
export interface PhiFieldMeta {
  entity: string;
  property: string;
  column: string;
  /** Absent for sealed fields that are secret or personal but not PHI (account email, TOTP secret). */
  category?: PhiCategory;
  /** Why a sealed, non-PHI field is encrypted (printed by `phi:check`). */
  sealedReason?: string;
  kind: PhiKind;
  nullable: boolean;
  partial: PartialForm;
  blindIndex?: { property: string; column: string; normalizer: BlindIndexNormalizer };
}
