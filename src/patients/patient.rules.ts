import { hasRole, isSignedIn, partOfParent } from '../access/rules';
import { limited } from '../ratelimit/rate-limit.rules';

const STAFF_READERS = hasRole('ADMIN', 'PHYSICIAN', 'NURSE', 'RECEPTIONIST', 'BILLING', 'INTEGRATOR');

/** Who may call the patient operations; which patients they reach is the access service's answer. */
export const patientRules = {
  Query: {
    patient: hasRole('ADMIN', 'PHYSICIAN', 'NURSE', 'RECEPTIONIST', 'BILLING', 'INTEGRATOR', 'PATIENT'),
    patients: limited('Query.patients', STAFF_READERS),
    // Not ADMIN: an exact match confirms identifiers the ADMIN row may not see (an SSN, an email);
    // administrators find patients for care-team work in the redacted `patients` list.
    findPatients: limited('Query.findPatients', hasRole('PHYSICIAN', 'NURSE', 'RECEPTIONIST', 'BILLING', 'INTEGRATOR')),
  },
  Mutation: {
    createPatient: hasRole('PHYSICIAN', 'NURSE', 'RECEPTIONIST'),
    updatePatient: hasRole('PHYSICIAN', 'NURSE', 'RECEPTIONIST'),
    createEncounter: hasRole('PHYSICIAN', 'NURSE'),
  },
  // Object-returning fields: reachable only from a patient the caller already reached; the
  // resolvers ask the access service again for the related record. The address is part of the
  // patient's own row, decrypted and redacted with its other PHI fields.
  Patient: { address: partOfParent, encounters: isSignedIn },
  Encounter: { patient: isSignedIn },
  PatientPage: { nodes: isSignedIn, pageInfo: isSignedIn },
};
