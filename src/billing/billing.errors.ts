import { AppError, type ErrorCode } from '../graphql/errors';

/** Codes of billing errors (listed with the shared ones in graphql/errors.ts). */
export type BillingErrorCode = Extract<
  ErrorCode,
  'PAYMENT_DECLINED' | 'PAYMENT_FAILED' | 'PAYMENT_PROCESSOR_UNAVAILABLE' | 'IDEMPOTENCY_KEY_REUSED'
>;

function billingError(message: string, code: BillingErrorCode, extra: Record<string, unknown> = {}): AppError {
  return new AppError(message, code, extra);
}

/** The card was declined; `declineCode` is the processor's reason (card_declined, insufficient_funds, ...). */
export const paymentDeclined = (declineCode: string): AppError =>
  billingError('The card was declined', 'PAYMENT_DECLINED', { declineCode });

/** The processor answered with an error; nothing was charged. */
export const paymentFailed = (declineCode: string): AppError =>
  billingError('The payment could not be processed', 'PAYMENT_FAILED', { declineCode });

/** The processor could not be reached: whether it acted is unknown, so retry with the same idempotency key. */
export const processorUnavailable = (): AppError =>
  billingError(
    'The payment processor could not be reached; retry with the same idempotency key',
    'PAYMENT_PROCESSOR_UNAVAILABLE',
  );

/** An idempotency key sent again with other parameters. */
export const idempotencyKeyReused = (): AppError =>
  billingError('This idempotency key was used with different parameters', 'IDEMPOTENCY_KEY_REUSED', {
    field: 'idempotencyKey',
  });
