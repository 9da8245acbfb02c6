import { randomBytes, randomUUID } from 'node:crypto';

import type { Role } from '../../src/config/roles';
import { createAccount, signIn, sql, type TestAccount } from '../support/accounts';
import type { GqlResponse, TestApp } from '../support/app';

export const CREATE_PATIENT = `mutation($input: PatientInput!) { createPatient(input: $input) { id } }`;
export const CREATE_INVOICE = `mutation($input: InvoiceInput!) {
  createInvoice(input: $input) { id patientId currency status totalMinor paidMinor lines { description amountMinor } }
}`;
export const READ_INVOICE = `query($id: ID!) {
  invoice(id: $id) { id patientId status totalMinor paidMinor lines { description amountMinor }
    payments { id status amountMinor cardBrand cardLast4 cardExpMonth cardExpYear declineCode refundedAt } }
}`;
export const LIST_INVOICES = `query($patientId: ID!) { invoices(patientId: $patientId) { id status totalMinor } }`;
export const TOKENIZE = `mutation($input: CardInput!) { tokenizeCard(input: $input) { token brand last4 expMonth expYear } }`;
export const PAY = `mutation($invoiceId: ID!, $paymentToken: String!, $idempotencyKey: String!, $amountMinor: Int) {
  payInvoice(invoiceId: $invoiceId, paymentToken: $paymentToken, idempotencyKey: $idempotencyKey, amountMinor: $amountMinor) {
    id status amountMinor
  }
}`;
export const REFUND = `mutation($paymentId: ID!) { refundPayment(paymentId: $paymentId) { id status amountMinor refundedAt } }`;

/** Stripe's test card numbers the sandbox knows. */
export const CARDS = {
  visa: '4242424242424242',
  mastercard: '5555555555554444',
  declined: '4000000000000002',
  insufficientFunds: '4000000000009995',
  processingError: '4000000000000119',
};

/** A card expiring two years from now, with a security code unique to the call (so a log scan can look for it). */
export function card(number: string, cvc = String(100 + Math.floor(Math.random() * 900))) {
  return { number, expMonth: 12, expYear: new Date().getUTCFullYear() + 2, cvc };
}

/** A fresh idempotency key. */
export const newKey = (): string => `pay-${randomUUID()}`;

/** The billing cast: one signed-in account per staff role, created once per test app. */
export async function staffTokens(app: TestApp, roles: Role[]): Promise<Record<Role, string>> {
  const tokens = {} as Record<Role, string>;
  for (const role of roles) tokens[role] = (await signIn(app, await createAccount(app, role))).accessToken;
  return tokens;
}

/** A fictional patient registered at the front desk, with a signed-in PATIENT account. */
export async function patientWithAccount(
  app: TestApp,
  receptionistToken: string,
): Promise<{ patientId: string; token: string; account: TestAccount }> {
  const tag = randomBytes(3).toString('hex');
  const res = await app.gql(
    CREATE_PATIENT,
    {
      input: { firstName: `Wendeline${tag}`, lastName: `Quarrington${tag}`, dateOfBirth: '1979-06-30', sex: 'FEMALE' },
    },
    receptionistToken,
  );
  if (res.body.errors) throw new Error(`patient not created: ${JSON.stringify(res.body.errors)}`);
  const patientId = res.body.data!.createPatient.id as string;
  const account = await createAccount(app, 'PATIENT', { patientId });
  return { patientId, token: (await signIn(app, account)).accessToken, account };
}

/** Issues an invoice as `token` and returns its id; fails the test on an error. */
export async function invoiceFor(
  app: TestApp,
  token: string,
  patientId: string,
  amounts: number[] = [12_500, 4_000],
  currency = 'EUR',
): Promise<string> {
  const lines = amounts.map((amountMinor, i) => ({ description: `Outpatient service ${i + 1}`, amountMinor }));
  const res = await app.gql(CREATE_INVOICE, { input: { patientId, currency, lines } }, token);
  if (res.body.errors) throw new Error(`invoice not created: ${JSON.stringify(res.body.errors)}`);
  return res.body.data!.createInvoice.id;
}

/** Tokenizes a card as `token` and returns the processor token; fails the test on an error. */
export async function tokenFor(app: TestApp, token: string, number: string): Promise<string> {
  const res = await app.gql(TOKENIZE, { input: card(number) }, token);
  if (res.body.errors) throw new Error(`card not tokenized: ${JSON.stringify(res.body.errors)}`);
  return res.body.data!.tokenizeCard.token;
}

/** Pays an invoice. */
export function pay(
  app: TestApp,
  token: string,
  invoiceId: string,
  paymentToken: string,
  idempotencyKey = newKey(),
  amountMinor?: number,
): Promise<GqlResponse> {
  return app.gql(PAY, { invoiceId, paymentToken, idempotencyKey, amountMinor }, token);
}

/** Rows of a table, counted. */
export async function count(app: TestApp, table: string, where = 'true', params: unknown[] = []): Promise<number> {
  const [row] = await sql<{ n: string }>(app, `SELECT count(*) AS n FROM ${table} WHERE ${where}`, params);
  return Number(row.n);
}
