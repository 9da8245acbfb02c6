import { hasRole, isPublic, isSignedIn } from '../access/rules';
import { limited } from '../ratelimit/rate-limit.rules';

/**
 * Sign-in operations are public by nature (the caller has no token yet); challenge-based MFA
 * steps check their challenge token in the resolver. Everything else needs a session. Sign-in
 * steps carry rate limits (src/ratelimit/rate-limit.limits.ts).
 */
export const authRules = {
  Query: {
    me: isPublic,
    mySessions: isSignedIn,
    userSessions: hasRole('ADMIN'),
  },
  Mutation: {
    login: limited('Mutation.login', isPublic),
    verifyMfa: limited('Mutation.verifyMfa', isPublic),
    refreshSession: limited('Mutation.refreshSession', isPublic),
    enrollTotp: isPublic,
    confirmTotp: isPublic,
    logout: isSignedIn,
    stepUpMfa: isSignedIn,
    disableTotp: isSignedIn,
    // Own sessions for anyone signed in; any session for ADMIN (checked in the resolver).
    revokeSession: isSignedIn,
    createUser: hasRole('ADMIN'),
    disableUser: hasRole('ADMIN'),
    enableUser: hasRole('ADMIN'),
  },
  // Only produced by the operations above; the email field resolver decides who reads the email.
  AuthPayload: { user: isPublic },
  TotpConfirmation: { auth: isPublic },
};
