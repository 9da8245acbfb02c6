import { hasRole, isSignedIn } from '../access/rules';
import { CONSENT_MANAGERS } from './consent.types';

const MANAGES_CONSENT = hasRole(...CONSENT_MANAGERS);

/** Who may call the consent operations; which patients they reach is checked in the resolver. */
export const consentRules = {
  Query: { consents: MANAGES_CONSENT },
  Mutation: { grantConsent: MANAGES_CONSENT, withdrawConsent: MANAGES_CONSENT },
  // Only produced by `consents`, after its patient check.
  ConsentState: { current: isSignedIn, history: isSignedIn },
};
