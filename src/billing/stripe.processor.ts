import Stripe from 'stripe';

import type { CardData } from './card.validation';
import {
  ProcessorError,
  type CardToken,
  type ChargeRequest,
  type ChargeResult,
  type ChargedCard,
  type PaymentProcessor,
} from './payment-processor';

/** Where the adapter sends its calls: Stripe itself by default, or a Stripe-compatible server (tests, stripe-mock). */
export interface StripeProcessorOptions {
  secretKey: string;
  /** `https://api.stripe.com` when unset. */
  apiUrl?: string;
  timeoutMs?: number;
}

const BRANDS: Record<string, string> = {
  'american express': 'amex',
  amex: 'amex',
  'diners club': 'diners',
  diners: 'diners',
  discover: 'discover',
  jcb: 'jcb',
  mastercard: 'mastercard',
  unionpay: 'unionpay',
  visa: 'visa',
};

function brandOf(value: string | null | undefined): string {
  return BRANDS[String(value ?? '').toLowerCase()] ?? 'unknown';
}

/** Stripe's error, read by its fields; its message and raw body are never passed on (they may quote parameters). */
interface StripeErrorFields {
  type?: string;
  code?: string;
  decline_code?: string;
  charge?: string;
}

/** The decline code a client sees: the issuer's reason when more specific than a generic decline, else Stripe's code. */
function declineCodeOf(error: StripeErrorFields): string {
  if (error.decline_code && error.decline_code !== 'generic_decline') return error.decline_code;
  return error.code ?? 'card_declined';
}

/** Maps any error of the Stripe client to a ProcessorError carrying codes only. */
function failure(error: unknown): ProcessorError {
  const e = (error ?? {}) as StripeErrorFields;
  switch (e.type) {
    case 'StripeCardError':
      return e.code === 'processing_error'
        ? new ProcessorError('processing_error', 'processing_error')
        : new ProcessorError('invalid_card', declineCodeOf(e));
    case 'StripeInvalidRequestError':
      return e.code === 'token_already_used' || e.code === 'resource_missing'
        ? new ProcessorError('invalid_token')
        : new ProcessorError('rejected');
    case 'StripeConnectionError':
    case 'StripeRateLimitError':
      return new ProcessorError('unavailable');
    case 'StripeAPIError':
      return new ProcessorError('processing_error', 'processing_error');
    default:
      return new ProcessorError('rejected');
  }
}

/**
 * The Stripe adapter, over the official `stripe` package: Tokens for card data, Charges for payments,
 * Refunds. Every charge and refund carries an idempotency key, so the client's own network retries
 * and ours charge once.
 *
 * Shortcoming: this uses the Charges API with a token, which has no 3-D Secure (SCA) step; a
 * PaymentIntent flow is needed where issuers demand authentication (EU, UK). And card data passing
 * through our server at all puts it in PCI DSS scope (SAQ D); collecting it with Stripe Elements in
 * the browser, so only tokens reach us, is the lighter path. Both are outside this API's contract.
 */
export class StripeProcessor implements PaymentProcessor {
  readonly name = 'stripe' as const;
  private readonly stripe: Stripe;

  constructor(options: StripeProcessorOptions) {
    const url = options.apiUrl ? new URL(options.apiUrl) : undefined;
    this.stripe = new Stripe(options.secretKey, {
      maxNetworkRetries: 2,
      timeout: options.timeoutMs ?? 20_000,
      telemetry: false,
      ...(url
        ? {
            host: url.hostname,
            port: url.port || (url.protocol === 'http:' ? 80 : 443),
            protocol: url.protocol === 'http:' ? 'http' : 'https',
          }
        : {}),
    });
  }

  async tokenize(card: CardData): Promise<CardToken> {
    let token: Stripe.Token;
    try {
      token = await this.stripe.tokens.create({
        card: { number: card.number, exp_month: String(card.expMonth), exp_year: String(card.expYear), cvc: card.cvc },
      });
    } catch (error) {
      // The processor's own check of the card data (number, expiry, code): refused as invalid card data.
      const type = (error as StripeErrorFields | null)?.type;
      if (type === 'StripeCardError' || type === 'StripeInvalidRequestError') throw new ProcessorError('invalid_card');
      throw failure(error);
    }
    if (!token.id || !token.card) throw new ProcessorError('processing_error');
    return {
      token: token.id,
      brand: brandOf(token.card.brand),
      last4: token.card.last4,
      expMonth: token.card.exp_month,
      expYear: token.card.exp_year,
    };
  }

  async charge(request: ChargeRequest): Promise<ChargeResult> {
    let charge: Stripe.Charge;
    try {
      charge = await this.stripe.charges.create(
        {
          amount: request.amountMinor,
          currency: request.currency.toLowerCase(),
          source: request.token,
          metadata: request.metadata,
        },
        { idempotencyKey: request.idempotencyKey },
      );
    } catch (error) {
      const mapped = failure(error);
      if (mapped.code !== 'invalid_card') throw mapped;
      // A card decline is an answer, not a failure: the attempt is recorded and reported as declined.
      const charge = (error as StripeErrorFields).charge ?? null;
      return { status: 'DECLINED', reference: charge, card: null, declineCode: mapped.declineCode ?? 'card_declined' };
    }
    // An answer for another amount or currency than asked is not trusted as a payment of this invoice.
    if (charge.amount !== request.amountMinor || charge.currency !== request.currency.toLowerCase()) {
      throw new ProcessorError('processing_error');
    }
    const card = charge.payment_method_details?.card;
    const facts: ChargedCard = {
      brand: brandOf(card?.brand),
      last4: card?.last4 ?? '',
      expMonth: card?.exp_month ?? 0,
      expYear: card?.exp_year ?? 0,
    };
    if (charge.status === 'succeeded' && charge.paid) return { status: 'SUCCEEDED', reference: charge.id, card: facts };
    if (charge.status === 'failed') {
      return {
        status: 'DECLINED',
        reference: charge.id,
        card: facts,
        declineCode: charge.failure_code ?? 'card_declined',
      };
    }
    // A pending charge (some payment methods settle later) is not treated as paid; reconciling it is not built.
    throw new ProcessorError('processing_error');
  }

  async refund(request: { reference: string; amountMinor: number; idempotencyKey: string }) {
    try {
      const refund = await this.stripe.refunds.create(
        { charge: request.reference, amount: request.amountMinor },
        { idempotencyKey: request.idempotencyKey },
      );
      if (refund.status === 'failed' || refund.status === 'canceled') throw new ProcessorError('rejected');
      return { reference: refund.id };
    } catch (error) {
      throw error instanceof ProcessorError ? error : failure(error);
    }
  }
}
