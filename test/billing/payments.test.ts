import { sql } from '../support/accounts';
import { startTestApp, type GqlResponse, type TestApp } from '../support/app';
import type { SandboxProcessor } from '../../src/billing/sandbox.processor';
import {
  CARDS,
  count,
  invoiceFor,
  newKey,
  patientWithAccount,
  pay,
  READ_INVOICE,
  REFUND,
  staffTokens,
  tokenFor,
} from './billing-support';

const codeOf = (res: GqlResponse) => res.body.errors?.[0]?.extensions?.code;

describe('payments against invoices (sandbox processor, real server and database)', () => {
  let app: TestApp;
  let staff: Record<string, string>;
  let sandbox: SandboxProcessor;

  const invoiceRow = async (id: string) =>
    (await sql(app, 'SELECT status, paid_minor, total_minor, updated_at FROM invoices WHERE id = $1', [id]))[0];

  beforeAll(async () => {
    app = await startTestApp();
    staff = await staffTokens(app, ['BILLING', 'ADMIN', 'RECEPTIONIST']);
    sandbox = app.services.billing.processor as SandboxProcessor;
  });

  afterAll(async () => {
    await app?.close();
  });

  it('pays the outstanding balance by default and marks the invoice PAID, storing brand, last four and expiry only', async () => {
    const patient = await patientWithAccount(app, staff.RECEPTIONIST);
    const invoiceId = await invoiceFor(app, staff.BILLING, patient.patientId, [12_500, 4_000]);
    const paymentToken = await tokenFor(app, patient.token, CARDS.visa);

    const res = await pay(app, patient.token, invoiceId, paymentToken);

    expect(res.body.errors).toBeUndefined();
    expect(res.body.data!.payInvoice).toMatchObject({ status: 'SUCCEEDED', amountMinor: 16_500 });
    expect(await invoiceRow(invoiceId)).toMatchObject({ status: 'PAID', paid_minor: 16_500 });
    const [row] = await sql(app, 'SELECT * FROM payments WHERE id = $1', [res.body.data!.payInvoice.id]);
    expect(row).toMatchObject({
      processor: 'sandbox',
      processor_token: paymentToken,
      card_brand: 'visa',
      card_last4: '4242',
      card_exp_month: 12,
      currency: 'EUR',
    });
    expect(row.processor_reference).toMatch(/^ch_sandbox_/);
  });

  it('takes partial payments until the balance is paid, then refuses a payment of a paid invoice', async () => {
    const patient = await patientWithAccount(app, staff.RECEPTIONIST);
    const invoiceId = await invoiceFor(app, staff.BILLING, patient.patientId, [10_000]);

    const first = await pay(
      app,
      patient.token,
      invoiceId,
      await tokenFor(app, patient.token, CARDS.visa),
      newKey(),
      3_000,
    );
    expect(first.body.data!.payInvoice).toMatchObject({ status: 'SUCCEEDED', amountMinor: 3_000 });
    expect(await invoiceRow(invoiceId)).toMatchObject({ status: 'PARTIALLY_PAID', paid_minor: 3_000 });

    const over = await pay(
      app,
      patient.token,
      invoiceId,
      await tokenFor(app, patient.token, CARDS.visa),
      newKey(),
      7_001,
    );
    expect(codeOf(over)).toBe('BAD_USER_INPUT');
    expect(over.body.errors![0].extensions!.field).toBe('amountMinor');

    const rest = await pay(app, staff.BILLING, invoiceId, await tokenFor(app, staff.BILLING, CARDS.mastercard));
    expect(rest.body.data!.payInvoice).toMatchObject({ status: 'SUCCEEDED', amountMinor: 7_000 });
    expect(await invoiceRow(invoiceId)).toMatchObject({ status: 'PAID', paid_minor: 10_000 });

    const again = await pay(app, patient.token, invoiceId, await tokenFor(app, patient.token, CARDS.visa));
    expect(codeOf(again)).toBe('BAD_USER_INPUT');
    expect(await count(app, 'payments', 'invoice_id = $1', [invoiceId])).toBe(2);
  });

  it('refuses a zero, negative or fractional amount before anything is charged', async () => {
    const patient = await patientWithAccount(app, staff.RECEPTIONIST);
    const invoiceId = await invoiceFor(app, staff.BILLING, patient.patientId);
    const charges = sandbox.acceptedCharges;

    for (const amountMinor of [0, -100]) {
      const res = await pay(
        app,
        patient.token,
        invoiceId,
        await tokenFor(app, patient.token, CARDS.visa),
        newKey(),
        amountMinor,
      );
      expect(codeOf(res)).toBe('BAD_USER_INPUT');
    }
    const fractional = await pay(app, patient.token, invoiceId, 'tok_whatever', newKey(), 10.5);
    expect(codeOf(fractional)).toBe('BAD_USER_INPUT');
    expect(sandbox.acceptedCharges).toBe(charges);
    expect(await count(app, 'payments', 'invoice_id = $1', [invoiceId])).toBe(0);
  });

  it.each([
    ['card_declined', CARDS.declined],
    ['insufficient_funds', CARDS.insufficientFunds],
  ])('answers PAYMENT_DECLINED with declineCode %s and leaves the invoice unchanged', async (declineCode, number) => {
    const patient = await patientWithAccount(app, staff.RECEPTIONIST);
    const invoiceId = await invoiceFor(app, staff.BILLING, patient.patientId);
    const before = await invoiceRow(invoiceId);

    const res = await pay(app, patient.token, invoiceId, await tokenFor(app, patient.token, number));

    expect(res.body.data).toBeNull();
    expect(res.body.errors![0]).toMatchObject({
      message: 'The card was declined',
      extensions: { code: 'PAYMENT_DECLINED', declineCode },
    });
    expect(await invoiceRow(invoiceId)).toEqual(before);
    const [attempt] = await sql(app, 'SELECT status, decline_code FROM payments WHERE invoice_id = $1', [invoiceId]);
    expect(attempt).toEqual({ status: 'DECLINED', decline_code: declineCode });
  });

  it('answers PAYMENT_FAILED for a processing error, leaving the invoice unchanged', async () => {
    const patient = await patientWithAccount(app, staff.RECEPTIONIST);
    const invoiceId = await invoiceFor(app, staff.BILLING, patient.patientId);
    const before = await invoiceRow(invoiceId);

    const res = await pay(app, patient.token, invoiceId, await tokenFor(app, patient.token, CARDS.processingError));

    expect(res.body.errors![0].extensions).toEqual({ code: 'PAYMENT_FAILED', declineCode: 'processing_error' });
    expect(await invoiceRow(invoiceId)).toEqual(before);
  });

  it('refuses a used token replayed under a new key (tokens are single use), charging nothing', async () => {
    const patient = await patientWithAccount(app, staff.RECEPTIONIST);
    const first = await invoiceFor(app, staff.BILLING, patient.patientId, [1_000]);
    const second = await invoiceFor(app, staff.BILLING, patient.patientId, [1_000]);
    const paymentToken = await tokenFor(app, patient.token, CARDS.visa);
    expect((await pay(app, patient.token, first, paymentToken)).body.errors).toBeUndefined();
    const charges = sandbox.acceptedCharges;

    const replay = await pay(app, patient.token, second, paymentToken);

    expect(codeOf(replay)).toBe('BAD_USER_INPUT');
    expect(replay.body.errors![0].extensions!.field).toBe('paymentToken');
    expect(sandbox.acceptedCharges).toBe(charges);
    expect(await invoiceRow(second)).toMatchObject({ status: 'OPEN', paid_minor: 0 });
  });

  describe('idempotency keys', () => {
    it('charges once for a retried call and answers the retry with the first result', async () => {
      const patient = await patientWithAccount(app, staff.RECEPTIONIST);
      const invoiceId = await invoiceFor(app, staff.BILLING, patient.patientId, [5_000]);
      const paymentToken = await tokenFor(app, patient.token, CARDS.visa);
      const key = newKey();
      const charges = sandbox.acceptedCharges;

      const first = await pay(app, patient.token, invoiceId, paymentToken, key, 2_000);
      const retry = await pay(app, patient.token, invoiceId, paymentToken, key, 2_000);

      expect(retry.body).toEqual(first.body);
      expect(sandbox.acceptedCharges).toBe(charges + 1);
      expect(await invoiceRow(invoiceId)).toMatchObject({ paid_minor: 2_000 });
      expect(await count(app, 'payments', 'invoice_id = $1', [invoiceId])).toBe(1);
    });

    it('charges once when the same key arrives five times at once', async () => {
      const patient = await patientWithAccount(app, staff.RECEPTIONIST);
      const invoiceId = await invoiceFor(app, staff.BILLING, patient.patientId, [5_000]);
      const paymentToken = await tokenFor(app, patient.token, CARDS.visa);
      const key = newKey();
      const charges = sandbox.acceptedCharges;

      const results = await Promise.all(
        Array.from({ length: 5 }, () => pay(app, patient.token, invoiceId, paymentToken, key)),
      );

      const ids = new Set(results.map((r) => r.body.data?.payInvoice?.id));
      expect(results.map((r) => r.body.errors)).toEqual([undefined, undefined, undefined, undefined, undefined]);
      expect(ids.size).toBe(1);
      expect(sandbox.acceptedCharges).toBe(charges + 1);
      expect(await invoiceRow(invoiceId)).toMatchObject({ status: 'PAID', paid_minor: 5_000 });
    });

    it('refuses the same key with different parameters, changing nothing', async () => {
      const patient = await patientWithAccount(app, staff.RECEPTIONIST);
      const invoiceId = await invoiceFor(app, staff.BILLING, patient.patientId, [5_000]);
      const key = newKey();
      await pay(app, patient.token, invoiceId, await tokenFor(app, patient.token, CARDS.visa), key, 1_000);
      const charges = sandbox.acceptedCharges;

      const other = await pay(
        app,
        patient.token,
        invoiceId,
        await tokenFor(app, patient.token, CARDS.visa),
        key,
        1_500,
      );

      expect(other.body.errors![0].extensions).toEqual({ code: 'IDEMPOTENCY_KEY_REUSED', field: 'idempotencyKey' });
      expect(sandbox.acceptedCharges).toBe(charges);
      expect(await invoiceRow(invoiceId)).toMatchObject({ paid_minor: 1_000 });
    });

    it('replays a decline for a retry with the same key instead of trying the card again', async () => {
      const patient = await patientWithAccount(app, staff.RECEPTIONIST);
      const invoiceId = await invoiceFor(app, staff.BILLING, patient.patientId);
      const paymentToken = await tokenFor(app, patient.token, CARDS.insufficientFunds);
      const key = newKey();

      const first = await pay(app, patient.token, invoiceId, paymentToken, key);
      const retry = await pay(app, patient.token, invoiceId, paymentToken, key);

      expect(retry.body.errors![0].extensions).toEqual({ code: 'PAYMENT_DECLINED', declineCode: 'insufficient_funds' });
      expect(retry.body).toEqual(first.body);
      expect(await count(app, 'payments', 'invoice_id = $1', [invoiceId])).toBe(1);
    });

    it('scopes keys per user and keeps them at least 24 hours', async () => {
      const patient = await patientWithAccount(app, staff.RECEPTIONIST);
      const invoiceId = await invoiceFor(app, staff.BILLING, patient.patientId, [5_000]);
      const key = newKey();

      const mine = await pay(app, patient.token, invoiceId, await tokenFor(app, patient.token, CARDS.visa), key, 1_000);
      const staffs = await pay(
        app,
        staff.BILLING,
        invoiceId,
        await tokenFor(app, staff.BILLING, CARDS.visa),
        key,
        1_000,
      );

      expect(staffs.body.errors).toBeUndefined();
      expect(staffs.body.data!.payInvoice.id).not.toBe(mine.body.data!.payInvoice.id);
      const rows = await sql<{ kept: number }>(
        app,
        'SELECT extract(epoch FROM expires_at - created_at) AS kept FROM idempotency_keys WHERE key = $1',
        [key],
      );
      expect(rows).toHaveLength(2);
      for (const row of rows) expect(Number(row.kept)).toBeGreaterThanOrEqual(24 * 3600);
    });

    it('treats a key past its 24 hours as new', async () => {
      const patient = await patientWithAccount(app, staff.RECEPTIONIST);
      const invoiceId = await invoiceFor(app, staff.BILLING, patient.patientId, [5_000]);
      const key = newKey();
      await pay(app, patient.token, invoiceId, await tokenFor(app, patient.token, CARDS.visa), key, 1_000);
      await sql(
        app,
        "UPDATE idempotency_keys SET created_at = now() - interval '25 hours', expires_at = now() - interval '1 hour' WHERE key = $1",
        [key],
      );

      const later = await pay(
        app,
        patient.token,
        invoiceId,
        await tokenFor(app, patient.token, CARDS.visa),
        key,
        1_500,
      );

      expect(later.body.data!.payInvoice).toMatchObject({ status: 'SUCCEEDED', amountMinor: 1_500 });
      expect(await invoiceRow(invoiceId)).toMatchObject({ paid_minor: 2_500 });
      expect(await count(app, 'idempotency_keys', 'key = $1', [key])).toBe(1);
    });

    it('refuses a key that could hold a card number', async () => {
      const patient = await patientWithAccount(app, staff.RECEPTIONIST);
      const invoiceId = await invoiceFor(app, staff.BILLING, patient.patientId);

      const res = await pay(app, patient.token, invoiceId, 'tok_x12345', `k-${CARDS.visa}`);

      // Refused by the PHI input guard, which names the path from the root field.
      expect(res.body.errors![0].extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'payInvoice.idempotencyKey' });
      expect(JSON.stringify(res.body)).not.toContain(CARDS.visa);
    });
  });

  describe('refunds', () => {
    it('refunds a payment once, records each status transition and lowers the invoice balance', async () => {
      const patient = await patientWithAccount(app, staff.RECEPTIONIST);
      const invoiceId = await invoiceFor(app, staff.BILLING, patient.patientId, [8_000]);
      const paid = await pay(app, patient.token, invoiceId, await tokenFor(app, patient.token, CARDS.visa));
      const paymentId = paid.body.data!.payInvoice.id;

      const refund = await app.gql(REFUND, { paymentId }, staff.ADMIN);
      const again = await app.gql(REFUND, { paymentId }, staff.BILLING);

      expect(refund.body.data!.refundPayment).toMatchObject({ id: paymentId, status: 'REFUNDED', amountMinor: 8_000 });
      expect(codeOf(again)).toBe('BAD_USER_INPUT');
      expect(await invoiceRow(invoiceId)).toMatchObject({ status: 'OPEN', paid_minor: 0 });
      const events = await sql(
        app,
        'SELECT from_status, to_status FROM payment_events WHERE payment_id = $1 ORDER BY at',
        [paymentId],
      );
      expect(events).toEqual([
        { from_status: null, to_status: 'SUCCEEDED' },
        { from_status: 'SUCCEEDED', to_status: 'REFUNDED' },
      ]);
      await expect(
        sql(app, "UPDATE payment_events SET to_status = 'X' WHERE payment_id = $1", [paymentId]),
      ).rejects.toThrow(/append-only/);
      // The invoice's history shows the refunded payment.
      const read = await app.gql(READ_INVOICE, { id: invoiceId }, patient.token);
      expect(read.body.data!.invoice.payments).toEqual([
        expect.objectContaining({ id: paymentId, status: 'REFUNDED', refundedAt: expect.any(String) }),
      ]);
    });

    it('refuses to refund a declined payment or an unknown one', async () => {
      const patient = await patientWithAccount(app, staff.RECEPTIONIST);
      const invoiceId = await invoiceFor(app, staff.BILLING, patient.patientId);
      await pay(app, patient.token, invoiceId, await tokenFor(app, patient.token, CARDS.declined));
      const [declined] = await sql<{ id: string }>(app, 'SELECT id FROM payments WHERE invoice_id = $1', [invoiceId]);

      expect(codeOf(await app.gql(REFUND, { paymentId: declined.id }, staff.BILLING))).toBe('BAD_USER_INPUT');
      expect(codeOf(await app.gql(REFUND, { paymentId: '00000000-0000-4000-8000-000000000000' }, staff.BILLING))).toBe(
        'NOT_FOUND',
      );
    });
  });
});
