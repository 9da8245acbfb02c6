import { hasRole, isSignedIn } from '../access/rules';
import { limited } from '../ratelimit/rate-limit.rules';

/** Billing staff and administrators manage invoices and refunds. */
const MANAGES_BILLING = hasRole('BILLING', 'ADMIN');
/** Who may read and pay invoices: billing staff, administrators, and a patient for their own (checked in the resolver). */
const PAYS = hasRole('BILLING', 'ADMIN', 'PATIENT');

/** Who may call the billing operations; clinicians and every other role get none of them. */
export const billingRules = {
  Query: { invoice: PAYS, invoices: PAYS },
  Mutation: {
    createInvoice: MANAGES_BILLING,
    // Card-testing attacks try many numbers: limited per user and per client address, failing closed.
    tokenizeCard: limited('Mutation.tokenizeCard', PAYS),
    payInvoice: PAYS,
    refundPayment: MANAGES_BILLING,
  },
  // Only produced by the invoice operations above, after their own access check.
  Invoice: { lines: isSignedIn, payments: isSignedIn },
};
