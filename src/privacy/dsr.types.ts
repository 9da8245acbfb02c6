import type { Role } from '../config/roles';

/**
 * Who files data-subject requests (erasure, rectification, restriction): the patient about their own
 * record, the front desk (RECEPTIONIST, for patients they reach) and privacy staff for any patient.
 * Clinicians, billing and integrators refer the patient to one of them.
 */
export const DSR_FILERS: readonly Role[] = ['PATIENT', 'RECEPTIONIST', 'PRIVACY_OFFICER'];

/**
 * Who runs an export: the patient for their own record, or a PRIVACY_OFFICER for a patient who cannot
 * use the portal (with a fresh second factor; the export is handed to that officer, who passes it on).
 * Not the front desk: an export holds clinical data their role never sees.
 */
export const EXPORT_RUNNERS: readonly Role[] = ['PATIENT', 'PRIVACY_OFFICER'];

/** Who lists requests: PRIVACY_OFFICER every request, a PATIENT only their own (`dataSubjectRequests`). */
export const DSR_READERS: readonly Role[] = ['PATIENT', 'PRIVACY_OFFICER'];

/** Purpose recorded in the audit trail for privacy staff handling a data subject's rights. */
export const PRIVACY_PURPOSE = 'PRIVACY';

/** The sections of an export, as audited (names only, never values). */
export const EXPORT_SECTIONS = [
  'patient',
  'encounters',
  'consents',
  'careTeam',
  'invoices',
  'payments',
  'accessHistory',
  'dataSubjectRequests',
];
