import type { CardBrand, CardData } from './card.validation';

/** What a processor returns for tokenized card data: its token and the displayable card facts. */
export interface CardToken {
  token: string;
  brand: CardBrand | string;
  last4: string;
  expMonth: number;
  expYear: number;
}

/** A charge request: a processor token, an amount in minor units and an ISO 4217 currency. */
export interface ChargeRequest {
  token: string;
  amountMinor: number;
  currency: string;
  /** The processor's own idempotency key: a retried request with it charges at most once. */
  idempotencyKey: string;
  /** Ids only (invoice, payment), for reconciliation in the processor's dashboard. */
  metadata: Record<string, string>;
}

/** The card a charge used, as the processor reports it (no number, no security code). */
export interface ChargedCard {
  brand: string;
  last4: string;
  expMonth: number;
  expYear: number;
}

/** A charge the processor accepted or declined; a failure to reach it is a thrown ProcessorError. */
export type ChargeResult =
  | { status: 'SUCCEEDED'; reference: string; card: ChargedCard }
  | { status: 'DECLINED'; reference: string | null; card: ChargedCard | null; declineCode: string };

/** Why a processor call failed without a decision on the card. Codes only: never the processor's message. */
export type ProcessorFailure =
  /** The token is unknown, expired or already used. */
  | 'invalid_token'
  /** The processor refused the card data at tokenization (its own validation). */
  | 'invalid_card'
  /** The processor answered with an error (its processing_error, a 5xx) or an answer we cannot trust. */
  | 'processing_error'
  /** The processor could not be reached or timed out. */
  | 'unavailable'
  /** The processor refused our request itself (bad key, bad parameters, idempotency mismatch). */
  | 'rejected';

/** A processor call that failed; `code` is one of a fixed set, `declineCode` the processor's card code if any. */
export class ProcessorError extends Error {
  constructor(
    readonly code: ProcessorFailure,
    readonly declineCode?: string,
  ) {
    super(`payment processor call failed: ${code}${declineCode ? ` (${declineCode})` : ''}`);
    this.name = 'ProcessorError';
  }
}

/**
 * A payment processor: tokenizes card data, charges and refunds by token and reference. The card data
 * goes straight to the processor and is never kept. Chosen by PAYMENT_PROCESSOR (see config.ts).
 */
export interface PaymentProcessor {
  /** `sandbox` or `stripe`, stored on each payment. */
  readonly name: 'sandbox' | 'stripe';
  tokenize(card: CardData): Promise<CardToken>;
  charge(request: ChargeRequest): Promise<ChargeResult>;
  /** Refunds a charge in full; the idempotency key makes a retried refund refund once. */
  refund(request: { reference: string; amountMinor: number; idempotencyKey: string }): Promise<{ reference: string }>;
}
