import { randomUUID } from 'node:crypto';

import { cardBrand, containsCardNumber, luhnValid, validateCard } from '../../src/billing/card.validation';
import { ProcessorError } from '../../src/billing/payment-processor';
import { SandboxProcessor } from '../../src/billing/sandbox.processor';
import { AppError } from '../../src/graphql/errors';

const NOW = new Date('2026-06-15T12:00:00Z');
const card = (number: string, more: Partial<{ expMonth: number; expYear: number; cvc: string }> = {}) => ({
  number,
  expMonth: 12,
  expYear: 2028,
  cvc: '123',
  ...more,
});

/** The field an AppError names, or a failure when `run` does not throw one. */
function refusedField(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).extensions.code).toBe('BAD_USER_INPUT');
    return (error as AppError).extensions.field as string;
  }
  throw new Error('expected a refusal');
}

describe('Luhn and brands', () => {
  it('accepts the test numbers and refuses a changed digit', () => {
    for (const n of ['4242424242424242', '5555555555554444', '378282246310005', '6011111111111117'])
      expect(luhnValid(n)).toBe(true);
    expect(luhnValid('4242424242424241')).toBe(false);
    expect(luhnValid('4242 4242')).toBe(false);
  });

  it('names the brand by prefix and length', () => {
    expect(cardBrand('4242424242424242')).toBe('visa');
    expect(cardBrand('5555555555554444')).toBe('mastercard');
    expect(cardBrand('2223003122003222')).toBe('mastercard');
    expect(cardBrand('378282246310005')).toBe('amex');
    expect(cardBrand('6011111111111117')).toBe('discover');
    expect(cardBrand('37828224631000')).toBeUndefined();
  });
});

describe('validateCard', () => {
  it('accepts a valid card, removing spaces and dashes, and reads a two-digit year as 20YY', () => {
    expect(validateCard(card('4242 4242-4242 4242', { expYear: 28 }), NOW)).toEqual({
      number: '4242424242424242',
      expMonth: 12,
      expYear: 2028,
      cvc: '123',
      brand: 'visa',
    });
  });

  it.each([
    ['a failed Luhn check', card('4242424242424241'), 'number'],
    ['an unknown brand', card('9999999999999995'), 'number'],
    ['a wrong length for the brand', card('424242424242424'), 'number'],
    ['letters', card('4242abcd42424242'), 'number'],
    ['month 0', card('4242424242424242', { expMonth: 0 }), 'expMonth'],
    ['month 13', card('4242424242424242', { expMonth: 13 }), 'expMonth'],
    ['last month', card('4242424242424242', { expMonth: 5, expYear: 2026 }), 'expYear'],
    ['a year too far ahead', card('4242424242424242', { expYear: 2050 }), 'expYear'],
    ['a 4-digit code on a Visa', card('4242424242424242', { cvc: '1234' }), 'cvc'],
    ['a 3-digit code on an Amex', card('378282246310005', { cvc: '123' }), 'cvc'],
  ])('refuses %s, naming the field', (_case, input, field) => {
    expect(refusedField(() => validateCard(input, NOW))).toBe(field);
  });

  it('never puts the number or code in its messages', () => {
    for (const input of [card('4242424242424241'), card('4242424242424242', { cvc: '98765' })]) {
      try {
        validateCard(input, NOW);
      } catch (error) {
        expect((error as Error).message).not.toMatch(/4242|98765/);
      }
    }
  });
});

describe('containsCardNumber', () => {
  it('finds card numbers written plainly, in groups, or inside other text', () => {
    expect(containsCardNumber('4242424242424242')).toBe(true);
    expect(containsCardNumber('paid by 4242 4242 4242 4242 today')).toBe(true);
    expect(containsCardNumber('5555-5555-5555-4444')).toBe(true);
    expect(containsCardNumber('amex 3782 822463 10005')).toBe(true);
    expect(containsCardNumber('tok_4242424242424242x')).toBe(true);
    expect(containsCardNumber('{"n":"x9378282246310005"}')).toBe(true);
  });

  it('ignores ids, time-stamps and short numbers', () => {
    for (let i = 0; i < 2000; i++) expect(containsCardNumber(randomUUID())).toBe(false);
    expect(containsCardNumber('2026-12-04T17:00:50.123Z')).toBe(false);
    expect(containsCardNumber('4242 4242 4242 4241')).toBe(false);
    expect(containsCardNumber('424242424242')).toBe(false);
  });
});

describe('the sandbox processor', () => {
  const future = { expMonth: 12, expYear: 2030, cvc: '123' };

  it('behaves like test mode: success, declines by test number, a processing error, and single-use tokens', async () => {
    const sandbox = new SandboxProcessor();
    const charge = async (number: string, key = randomUUID()) => {
      const { token } = await sandbox.tokenize({ number, ...future });
      return sandbox.charge({ token, amountMinor: 1000, currency: 'EUR', idempotencyKey: key, metadata: {} });
    };

    expect(await charge('4242424242424242')).toMatchObject({ status: 'SUCCEEDED', card: { last4: '4242' } });
    expect(await charge('4000000000000002')).toMatchObject({ status: 'DECLINED', declineCode: 'card_declined' });
    expect(await charge('4000000000009995')).toMatchObject({ status: 'DECLINED', declineCode: 'insufficient_funds' });
    expect(await charge('4111111111111111')).toMatchObject({ status: 'DECLINED', declineCode: 'test_mode_live_card' });
    await expect(charge('4000000000000119')).rejects.toEqual(
      new ProcessorError('processing_error', 'processing_error'),
    );

    const { token } = await sandbox.tokenize({ number: '4242424242424242', ...future });
    await sandbox.charge({ token, amountMinor: 1, currency: 'EUR', idempotencyKey: 'a', metadata: {} });
    await expect(
      sandbox.charge({ token, amountMinor: 1, currency: 'EUR', idempotencyKey: 'b', metadata: {} }),
    ).rejects.toMatchObject({ code: 'invalid_token' });
  });

  it('replays a charge and a refund for the same idempotency key and refunds at most once', async () => {
    const sandbox = new SandboxProcessor();
    const { token } = await sandbox.tokenize({ number: '4242424242424242', ...future });
    const request = { token, amountMinor: 500, currency: 'EUR', idempotencyKey: 'k1', metadata: {} };

    const first = await sandbox.charge(request);
    expect(await sandbox.charge(request)).toEqual(first);
    expect(sandbox.acceptedCharges).toBe(1);
    await expect(sandbox.charge({ ...request, amountMinor: 600 })).rejects.toMatchObject({ code: 'rejected' });

    const reference = first.status === 'SUCCEEDED' ? first.reference : '';
    const refund = await sandbox.refund({ reference, amountMinor: 500, idempotencyKey: 'r1' });
    expect(await sandbox.refund({ reference, amountMinor: 500, idempotencyKey: 'r1' })).toEqual(refund);
    await expect(sandbox.refund({ reference, amountMinor: 500, idempotencyKey: 'r2' })).rejects.toMatchObject({
      code: 'rejected',
    });
  });
});
