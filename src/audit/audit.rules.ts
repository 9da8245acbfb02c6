import { hasRole } from '../access/rules';
import { limited } from '../ratelimit/rate-limit.rules';

const REVIEWERS = hasRole('AUDITOR', 'PRIVACY_OFFICER');

/**
 * Who may read the audit trail. `accessHistory` is also open to PATIENT: the resolver lets a patient
 * read only their own record's history and answers any other id as NOT_FOUND.
 * Each query is rate-limited per user (ratelimit/rate-limit.limits.ts), pages are bounded at 100 rows, and every
 * read of the trail is itself audited.
 */
export const auditRules = {
  Query: {
    auditEvents: limited('Query.auditEvents', REVIEWERS),
    securityEvents: limited('Query.securityEvents', REVIEWERS),
    accessHistory: limited('Query.accessHistory', hasRole('AUDITOR', 'PRIVACY_OFFICER', 'PATIENT')),
  },
  AuditEventPage: { nodes: REVIEWERS, pageInfo: REVIEWERS },
  SecurityEventPage: { nodes: REVIEWERS, pageInfo: REVIEWERS },
};
