import type { SandboxProcessor } from '../../src/billing/sandbox.processor';
import type { Role } from '../../src/config/roles';
import { sql } from '../support/accounts';
import { startTestApp, type GqlResponse, type TestApp } from '../support/app';
import {
  CARDS,
  count,
  CREATE_INVOICE,
  invoiceFor,
  LIST_INVOICES,
  patientWithAccount,
  pay,
  READ_INVOICE,
  REFUND,
  staffTokens,
  TOKENIZE,
  card,
  tokenFor,
} from './billing-support';

const codeOf = (res: GqlResponse) => res.body.errors?.[0]?.extensions?.code;
const MISSING = '00000000-0000-4000-8000-000000000000';

describe('who may do what in billing', () => {
  let app: TestApp;
  let staff: Record<Role, string>;
  let alice: Awaited<ReturnType<typeof patientWithAccount>>;
  let bob: Awaited<ReturnType<typeof patientWithAccount>>;
  let aliceInvoice: string;
  let bobInvoice: string;

  const line = (description: string, amountMinor = 1_000) => ({ description, amountMinor });
  const create = (input: Record<string, unknown>, token = staff.BILLING) => app.gql(CREATE_INVOICE, { input }, token);

  beforeAll(async () => {
    app = await startTestApp();
    staff = await staffTokens(app, [
      'ADMIN',
      'BILLING',
      'RECEPTIONIST',
      'PHYSICIAN',
      'NURSE',
      'AUDITOR',
      'PRIVACY_OFFICER',
      'INTEGRATOR',
    ]);
    alice = await patientWithAccount(app, staff.RECEPTIONIST);
    bob = await patientWithAccount(app, staff.RECEPTIONIST);
    aliceInvoice = await invoiceFor(app, staff.BILLING, alice.patientId);
    bobInvoice = await invoiceFor(app, staff.ADMIN, bob.patientId);
  });

  afterAll(async () => {
    await app?.close();
  });

  it('lets BILLING and ADMIN issue, read and list any patient’s invoices', async () => {
    for (const role of ['BILLING', 'ADMIN'] as Role[]) {
      const read = await app.gql(READ_INVOICE, { id: aliceInvoice }, staff[role]);
      const list = await app.gql(LIST_INVOICES, { patientId: bob.patientId }, staff[role]);

      expect(read.body.data!.invoice).toMatchObject({ id: aliceInvoice, status: 'OPEN', totalMinor: 16_500 });
      expect(read.body.data!.invoice.lines).toEqual([
        { description: 'Outpatient service 1', amountMinor: 12_500 },
        { description: 'Outpatient service 2', amountMinor: 4_000 },
      ]);
      expect(list.body.data!.invoices.map((i: { id: string }) => i.id)).toContain(bobInvoice);
    }
  });

  it('refuses clinicians and every other staff role any billing operation, with FORBIDDEN', async () => {
    const before = await count(app, 'invoices');
    for (const role of ['PHYSICIAN', 'NURSE', 'RECEPTIONIST', 'AUDITOR', 'PRIVACY_OFFICER', 'INTEGRATOR'] as Role[]) {
      const token = staff[role];
      const results = [
        await app.gql(READ_INVOICE, { id: aliceInvoice }, token),
        await app.gql(LIST_INVOICES, { patientId: alice.patientId }, token),
        await create({ patientId: alice.patientId, currency: 'EUR', lines: [line('Consultation')] }, token),
        await app.gql(TOKENIZE, { input: card(CARDS.visa) }, token),
        await pay(app, token, aliceInvoice, 'tok_sandbox_unknown'),
        await app.gql(REFUND, { paymentId: MISSING }, token),
      ];
      expect({ role, codes: results.map(codeOf) }).toEqual({ role, codes: Array(6).fill('FORBIDDEN') });
      for (const res of results) expect(res.body.data ?? null).toBeNull();
    }
    expect(await count(app, 'invoices')).toBe(before);
  });

  it('refuses anonymous callers with UNAUTHENTICATED', async () => {
    expect(codeOf(await app.gql(READ_INVOICE, { id: aliceInvoice }))).toBe('UNAUTHENTICATED');
    expect(codeOf(await app.gql(TOKENIZE, { input: card(CARDS.visa) }))).toBe('UNAUTHENTICATED');
  });

  it('shows a patient their own invoices and answers another patient’s exactly like a missing one', async () => {
    const own = await app.gql(READ_INVOICE, { id: aliceInvoice }, alice.token);
    const other = await app.gql(READ_INVOICE, { id: bobInvoice }, alice.token);
    const missing = await app.gql(READ_INVOICE, { id: MISSING }, alice.token);
    const otherList = await app.gql(LIST_INVOICES, { patientId: bob.patientId }, alice.token);
    const missingList = await app.gql(LIST_INVOICES, { patientId: MISSING }, alice.token);

    expect(own.body.data!.invoice.id).toBe(aliceInvoice);
    expect(other.body.errors).toEqual(missing.body.errors);
    expect(codeOf(other)).toBe('NOT_FOUND');
    expect(otherList.body.errors).toEqual(missingList.body.errors);
    expect(codeOf(otherList)).toBe('NOT_FOUND');
  });

  it('lets a patient pay only their own invoice: another patient’s is NOT_FOUND and nothing is charged', async () => {
    const sandboxCharges = () => (app.services.billing.processor as SandboxProcessor).acceptedCharges;
    const charges = sandboxCharges();

    const res = await pay(app, alice.token, bobInvoice, await tokenFor(app, alice.token, CARDS.visa));

    expect(codeOf(res)).toBe('NOT_FOUND');
    expect(sandboxCharges()).toBe(charges);
    expect(await count(app, 'payments', 'invoice_id = $1', [bobInvoice])).toBe(0);
    expect(await count(app, 'idempotency_keys', 'user_id = $1', [alice.account.user.id])).toBe(0);
  });

  it('refuses patients invoice management and refunds', async () => {
    const invoiceId = await invoiceFor(app, staff.BILLING, alice.patientId, [2_000]);
    const paid = await pay(app, alice.token, invoiceId, await tokenFor(app, alice.token, CARDS.visa));
    const paymentId = paid.body.data!.payInvoice.id;

    expect(codeOf(await create({ patientId: alice.patientId, currency: 'EUR', lines: [line('x')] }, alice.token))).toBe(
      'FORBIDDEN',
    );
    expect(codeOf(await app.gql(REFUND, { paymentId }, alice.token))).toBe('FORBIDDEN');
    expect((await sql(app, 'SELECT status FROM payments WHERE id = $1', [paymentId]))[0].status).toBe('SUCCEEDED');
  });

  it('audits every billing read and write with purpose PAYMENT, ids and field names only', async () => {
    const invoiceId = await invoiceFor(app, staff.BILLING, alice.patientId, [3_000]);
    await app.gql(READ_INVOICE, { id: invoiceId }, alice.token);
    await app.gql(LIST_INVOICES, { patientId: alice.patientId }, staff.ADMIN);
    const paid = await pay(app, alice.token, invoiceId, await tokenFor(app, alice.token, CARDS.visa));
    await app.gql(REFUND, { paymentId: paid.body.data!.payInvoice.id }, staff.BILLING);

    const rows = await sql<{ action: string; patient_id: string | null; purpose: string; fields: string[] }>(
      app,
      `SELECT action, patient_id, purpose, fields FROM audit_events
       WHERE action LIKE 'invoice.%' OR action LIKE 'payment.%' OR action LIKE 'card.%' ORDER BY at`,
    );
    const actions = new Set(rows.map((r) => r.action));
    for (const action of [
      'invoice.create',
      'invoice.read',
      'invoice.list',
      'card.tokenize',
      'payment.create',
      'payment.refund',
    ])
      expect(actions).toContain(action);
    for (const row of rows) {
      expect(row.purpose).toBe('PAYMENT');
      for (const field of row.fields) expect(field).toMatch(/^[a-zA-Z0-9]+$/);
    }
    expect(
      rows
        .filter((r) => r.action !== 'card.tokenize')
        .every((r) => r.patient_id === alice.patientId || r.patient_id === bob.patientId),
    ).toBe(true);
  });

  describe('invoice input', () => {
    it.each([
      ['an unknown currency', { currency: 'XYZ' }, 'currency'],
      ['a lower-case currency', { currency: 'eur' }, 'currency'],
      ['no lines', { lines: [] }, 'lines'],
      ['a zero amount', { lines: [{ description: 'Ward day', amountMinor: 0 }] }, 'lines.0.amountMinor'],
      ['a negative amount', { lines: [{ description: 'Ward day', amountMinor: -5 }] }, 'lines.0.amountMinor'],
      ['an empty description', { lines: [{ description: '  ', amountMinor: 100 }] }, 'lines.0.description'],
      [
        'a card number in a description',
        { lines: [line('Ward day'), line(`Paid with 4242 4242 4242 4242`)] },
        // Refused by the PHI input guard, which names the path from the root field.
        'createInvoice.input.lines[1].description',
      ],
    ])('refuses %s with BAD_USER_INPUT naming the field, writing nothing', async (_case, change, field) => {
      const before = await count(app, 'invoices');

      const res = await create({ patientId: alice.patientId, currency: 'EUR', lines: [line('Ward day')], ...change });

      expect(res.body.errors![0].extensions).toEqual({ code: 'BAD_USER_INPUT', field });
      expect(JSON.stringify(res.body)).not.toContain('4242 4242');
      expect(await count(app, 'invoices')).toBe(before);
      expect(await count(app, 'invoice_lines', 'invoice_id NOT IN (SELECT id FROM invoices)')).toBe(0);
    });

    it('answers an unknown patient with NOT_FOUND', async () => {
      const res = await create({ patientId: MISSING, currency: 'EUR', lines: [line('Ward day')] });
      expect(codeOf(res)).toBe('NOT_FOUND');
    });
  });
});
