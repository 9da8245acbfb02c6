import { hasRole } from '../../access/rules';

/** Rules of the behaviour-analytics operations. */
export const uebaRules = {
  Mutation: {
    setPatientVip: hasRole('ADMIN', 'PRIVACY_OFFICER'),
  },
};
