import { randomUUID } from 'node:crypto';

import { ProcessorError } from '../../src/billing/payment-processor';
import { StripeProcessor } from '../../src/billing/stripe.processor';
import { closedPort } from '../ratelimit/rate-limit-support';
import { sql } from '../support/accounts';
import { startTestApp, type TestApp } from '../support/app';
import { card, CARDS, invoiceFor, patientWithAccount, pay, REFUND, staffTokens, TOKENIZE } from './billing-support';
import { FakeStripe } from './fake-stripe';

const CARD = { expMonth: 11, expYear: new Date().getUTCFullYear() + 2, cvc: '482' };

describe('the Stripe adapter, against a local server speaking Stripe’s wire format', () => {
  const stripe = new FakeStripe();
  let processor: StripeProcessor;

  beforeAll(async () => {
    await stripe.start();
    processor = new StripeProcessor({ secretKey: stripe.secretKey, apiUrl: stripe.url });
  });

  afterAll(async () => {
    await stripe.stop();
  });

  const chargeWith = async (number: string, amountMinor = 2_500, idempotencyKey = `hms-pay-${randomUUID()}`) => {
    const { token } = await processor.tokenize({ number, ...CARD });
    return processor.charge({ token, amountMinor, currency: 'EUR', idempotencyKey, metadata: { invoiceId: 'inv-1' } });
  };

  it('tokenizes through POST /v1/tokens with the secret key and returns token, brand, last four and expiry', async () => {
    const result = await processor.tokenize({ number: CARDS.visa, ...CARD });

    expect(result).toEqual({
      token: expect.stringMatching(/^tok_/),
      brand: 'visa',
      last4: '4242',
      ...{ expMonth: 11, expYear: CARD.expYear },
    });
    const [call] = stripe.callsTo('/v1/tokens').slice(-1);
    expect(call.authorization).toBe(`Bearer ${stripe.secretKey}`);
    expect(call.form).toMatchObject({ 'card[number]': CARDS.visa, 'card[cvc]': '482', 'card[exp_month]': '11' });
  });

  it('charges through POST /v1/charges in lower-case currency, with our idempotency key and ids-only metadata', async () => {
    const key = `hms-pay-${randomUUID()}`;

    const result = await chargeWith(CARDS.visa, 2_500, key);

    expect(result).toEqual({
      status: 'SUCCEEDED',
      reference: expect.stringMatching(/^ch_/),
      card: { brand: 'visa', last4: '4242', expMonth: 11, expYear: CARD.expYear },
    });
    const [call] = stripe.callsTo('/v1/charges').slice(-1);
    expect(call.idempotencyKey).toBe(key);
    expect(call.form).toEqual({
      amount: '2500',
      currency: 'eur',
      source: expect.stringMatching(/^tok_/),
      'metadata[invoiceId]': 'inv-1',
    });
  });

  it('maps Stripe card errors to declines with the issuer’s reason, or Stripe’s code for a generic decline', async () => {
    expect(await chargeWith(CARDS.insufficientFunds)).toMatchObject({
      status: 'DECLINED',
      declineCode: 'insufficient_funds',
    });
    expect(await chargeWith(CARDS.declined)).toMatchObject({
      status: 'DECLINED',
      declineCode: 'card_declined',
      reference: expect.stringMatching(/^ch_/),
    });
  });

  it('reports a processing error, a used token, a bad key and an unreachable API as coded ProcessorErrors', async () => {
    await expect(chargeWith(CARDS.processingError)).rejects.toEqual(
      new ProcessorError('processing_error', 'processing_error'),
    );

    const { token } = await processor.tokenize({ number: CARDS.visa, ...CARD });
    const request = { token, amountMinor: 100, currency: 'EUR', metadata: {} };
    await processor.charge({ ...request, idempotencyKey: 'hms-pay-a' });
    await expect(processor.charge({ ...request, idempotencyKey: 'hms-pay-b' })).rejects.toMatchObject({
      code: 'invalid_token',
    });

    const wrongKey = new StripeProcessor({ secretKey: 'sk_test_0000000000000000wrong', apiUrl: stripe.url });
    await expect(wrongKey.charge({ ...request, idempotencyKey: 'hms-pay-c' })).rejects.toMatchObject({
      code: 'rejected',
    });

    const nowhere = new StripeProcessor({
      secretKey: stripe.secretKey,
      apiUrl: `http://127.0.0.1:${await closedPort()}`,
    });
    await expect(nowhere.tokenize({ number: CARDS.visa, ...CARD })).rejects.toMatchObject({ code: 'unavailable' });
  });

  it('refuses card data Stripe rejects at tokenization as invalid card data, with no Stripe message passed on', async () => {
    const error = await processor.tokenize({ number: '4242424242424241', ...CARD }).catch((e: unknown) => e);

    expect(error).toEqual(new ProcessorError('invalid_card'));
    expect((error as Error).message).not.toContain('4242');
  });

  it('replays a charge retried with the same idempotency key instead of charging again', async () => {
    const { token } = await processor.tokenize({ number: CARDS.visa, ...CARD });
    const request = {
      token,
      amountMinor: 700,
      currency: 'EUR',
      idempotencyKey: `hms-pay-${randomUUID()}`,
      metadata: {},
    };

    const first = await processor.charge(request);
    const retry = await processor.charge(request);

    expect(retry).toEqual(first);
  });

  it('refunds through POST /v1/refunds with the charge, the amount and an idempotency key', async () => {
    const charged = await chargeWith(CARDS.visa, 1_200);
    const reference = charged.status === 'SUCCEEDED' ? charged.reference : '';

    const refund = await processor.refund({ reference, amountMinor: 1_200, idempotencyKey: 'hms-refund-1' });

    expect(refund.reference).toMatch(/^re_/);
    const [call] = stripe.callsTo('/v1/refunds').slice(-1);
    expect(call).toMatchObject({ idempotencyKey: 'hms-refund-1', form: { charge: reference, amount: '1200' } });
    await expect(
      processor.refund({ reference, amountMinor: 1_200, idempotencyKey: 'hms-refund-2' }),
    ).rejects.toMatchObject({
      code: 'rejected',
    });
  });
});

describe('the API with PAYMENT_PROCESSOR=stripe', () => {
  const stripe = new FakeStripe();
  let app: TestApp;

  beforeAll(async () => {
    await stripe.start();
    app = await startTestApp({
      PAYMENT_PROCESSOR: 'stripe',
      STRIPE_SECRET_KEY: stripe.secretKey,
      STRIPE_API_URL: stripe.url,
    });
  });

  afterAll(async () => {
    await app?.close();
    await stripe.stop();
  });

  it('tokenizes, pays, declines and refunds through Stripe, keeping card data out of the database and logs', async () => {
    const staff = await staffTokens(app, ['BILLING', 'RECEPTIONIST']);
    const patient = await patientWithAccount(app, staff.RECEPTIONIST);
    const invoiceId = await invoiceFor(app, staff.BILLING, patient.patientId, [9_900]);
    const input = card(CARDS.visa, '613');

    const tokenized = await app.gql(TOKENIZE, { input }, patient.token);
    const token = tokenized.body.data!.tokenizeCard.token;
    const declined = await pay(
      app,
      patient.token,
      invoiceId,
      (await app.gql(TOKENIZE, { input: card(CARDS.insufficientFunds) }, patient.token)).body.data!.tokenizeCard.token,
    );
    const paid = await pay(app, patient.token, invoiceId, token);
    const refunded = await app.gql(REFUND, { paymentId: paid.body.data!.payInvoice.id }, staff.BILLING);

    expect(tokenized.body.data!.tokenizeCard).toMatchObject({
      token: expect.stringMatching(/^tok_/),
      brand: 'visa',
      last4: '4242',
    });
    expect(declined.body.errors![0].extensions).toEqual({
      code: 'PAYMENT_DECLINED',
      declineCode: 'insufficient_funds',
    });
    expect(paid.body.data!.payInvoice).toMatchObject({ status: 'SUCCEEDED', amountMinor: 9_900 });
    expect(refunded.body.data!.refundPayment.status).toBe('REFUNDED');
    const [row] = await sql(
      app,
      "SELECT processor, processor_token, processor_reference, card_last4 FROM payments WHERE status = 'REFUNDED'",
    );
    expect(row).toMatchObject({ processor: 'stripe', processor_token: token, card_last4: '4242' });
    expect(stripe.callsTo('/v1/tokens').some((c) => c.form['card[number]'] === CARDS.visa)).toBe(true);
    expect(app.logs.text()).not.toContain(CARDS.visa);
    expect(app.logs.text()).not.toMatch(/"613"/);
  });
});
