import { limited } from '../ratelimit/rate-limit.rules';
import { hasRole } from './rules';

const CLINICIANS_AND_REVIEWERS = hasRole('PRIVACY_OFFICER', 'ADMIN', 'PHYSICIAN', 'NURSE');

/**
 * Rules of care-team and break-glass operations. These are role gates only; which patient's team
 * a caller sees and whose grants they list or revoke is decided in access.resolver.ts.
 */
export const accessRules = {
  Query: {
    careTeam: hasRole('ADMIN', 'PHYSICIAN', 'NURSE'),
    breakGlassGrants: CLINICIANS_AND_REVIEWERS,
  },
  Mutation: {
    assignCareTeam: hasRole('ADMIN'),
    removeCareTeamMember: hasRole('ADMIN'),
    breakGlass: limited('Mutation.breakGlass', hasRole('PHYSICIAN', 'NURSE')),
    revokeBreakGlass: CLINICIANS_AND_REVIEWERS,
  },
};
