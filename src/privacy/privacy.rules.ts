import { hasRole } from '../access/rules';
import { limited } from '../ratelimit/rate-limit.rules';
import { DSR_FILERS, DSR_READERS, EXPORT_RUNNERS } from './dsr.types';

const FILES_REQUESTS = hasRole(...DSR_FILERS);
const PRIVACY_OFFICER = hasRole('PRIVACY_OFFICER');

/**
 * Who may call the data-subject request operations. Which patient a caller may file for or export is
 * checked in the resolver (a PATIENT only their own record); decisions are the privacy officer's.
 */
export const privacyRules = {
  Query: { dataSubjectRequests: hasRole(...DSR_READERS) },
  Mutation: {
    requestDataExport: limited('Mutation.requestDataExport', hasRole(...EXPORT_RUNNERS)),
    requestErasure: FILES_REQUESTS,
    requestRectification: FILES_REQUESTS,
    requestRestriction: FILES_REQUESTS,
    startReview: PRIVACY_OFFICER,
    rejectDataSubjectRequest: PRIVACY_OFFICER,
    approveErasure: PRIVACY_OFFICER,
    restrictProcessing: PRIVACY_OFFICER,
    liftRestriction: PRIVACY_OFFICER,
  },
};
