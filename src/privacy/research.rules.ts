import { hasRole, isSignedIn } from '../access/rules';
import { limited } from '../ratelimit/rate-limit.rules';

/** Who may call the research export: privacy officers only, a few times an hour. */
export const researchRules = {
  Query: { researchExport: limited('Query.researchExport', hasRole('PRIVACY_OFFICER')) },
  // Only produced by `researchExport`, after its role check.
  ResearchDataset: { records: isSignedIn },
  ResearchRecord: { encounters: isSignedIn },
};
