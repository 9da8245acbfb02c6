import { createHash, randomBytes } from 'node:crypto';

import type { CardData } from './card.validation';
import { cardBrand } from './card.validation';
import {
  ProcessorError,
  type CardToken,
  type ChargeRequest,
  type ChargeResult,
  type ChargedCard,
  type PaymentProcessor,
} from './payment-processor';

/** What the sandbox does when a card is charged, by test card number (Stripe's test-mode numbers). */
type Behaviour = { outcome: 'succeed' } | { outcome: 'decline'; declineCode: string } | { outcome: 'fail' };

/** Stripe's well-known test numbers and what each one does; any other valid number is declined as a live card. */
export const SANDBOX_TEST_CARDS: Readonly<Record<string, Behaviour>> = {
  '4242424242424242': { outcome: 'succeed' },
  '5555555555554444': { outcome: 'succeed' },
  '378282246310005': { outcome: 'succeed' },
  '4000000000000002': { outcome: 'decline', declineCode: 'card_declined' },
  '4000000000009995': { outcome: 'decline', declineCode: 'insufficient_funds' },
  '4000000000000069': { outcome: 'decline', declineCode: 'expired_card' },
  '4000000000000127': { outcome: 'decline', declineCode: 'incorrect_cvc' },
  '4000000000000119': { outcome: 'fail' },
};

const TOKEN_TTL_MS = 15 * 60_000;

interface StoredToken {
  card: ChargedCard;
  behaviour: Behaviour;
  expiresAt: number;
  used: boolean;
}

/**
 * A local processor for development and tests that behaves like a processor's test mode: single-use
 * tokens, Stripe's test card numbers, idempotent charges and refunds. Its state (tokens, charges,
 * idempotency keys) lives in this process's memory only: a token made by one replica or before a
 * restart is unknown to another, which is why production refuses it. The card number itself is not
 * kept: only the behaviour it selects and the facts a payment may store.
 */
export class SandboxProcessor implements PaymentProcessor {
  readonly name = 'sandbox' as const;
  private readonly tokens = new Map<string, StoredToken>();
  private readonly charges = new Map<string, { amountMinor: number; currency: string; refunded: boolean }>();
  private readonly replies = new Map<string, { fingerprint: string; reply: unknown }>();

  /** How many charges this sandbox accepted (tests use it to prove a retry charged once). */
  get acceptedCharges(): number {
    return this.charges.size;
  }

  async tokenize(card: CardData): Promise<CardToken> {
    const brand = cardBrand(card.number);
    if (!brand) throw new ProcessorError('invalid_card');
    const behaviour = SANDBOX_TEST_CARDS[card.number] ?? { outcome: 'decline', declineCode: 'test_mode_live_card' };
    const token = `tok_sandbox_${randomBytes(12).toString('base64url')}`;
    const facts: ChargedCard = { brand, last4: card.number.slice(-4), expMonth: card.expMonth, expYear: card.expYear };
    this.sweep();
    this.tokens.set(token, { card: facts, behaviour, expiresAt: Date.now() + TOKEN_TTL_MS, used: false });
    return { token, ...facts };
  }

  async charge(request: ChargeRequest): Promise<ChargeResult> {
    return this.once(request.idempotencyKey, [request.token, request.amountMinor, request.currency], () => {
      const stored = this.tokens.get(request.token);
      if (!stored || stored.used || stored.expiresAt < Date.now()) throw new ProcessorError('invalid_token');
      stored.used = true;
      const reference = `ch_sandbox_${randomBytes(12).toString('base64url')}`;
      switch (stored.behaviour.outcome) {
        case 'succeed':
          this.charges.set(reference, {
            amountMinor: request.amountMinor,
            currency: request.currency,
            refunded: false,
          });
          return { status: 'SUCCEEDED', reference, card: stored.card };
        case 'decline':
          return { status: 'DECLINED', reference, card: stored.card, declineCode: stored.behaviour.declineCode };
        case 'fail':
          throw new ProcessorError('processing_error', 'processing_error');
      }
    });
  }

  async refund(request: { reference: string; amountMinor: number; idempotencyKey: string }) {
    return this.once(request.idempotencyKey, [request.reference, request.amountMinor], () => {
      const charge = this.charges.get(request.reference);
      if (!charge || charge.refunded || request.amountMinor !== charge.amountMinor)
        throw new ProcessorError('rejected');
      charge.refunded = true;
      return { reference: `re_sandbox_${randomBytes(12).toString('base64url')}` };
    });
  }

  /** Like a processor's idempotency keys: the same key and parameters replay the first reply, errors included. */
  private once<T>(key: string, params: unknown[], run: () => T): T {
    const fingerprint = createHash('sha256').update(JSON.stringify(params)).digest('hex');
    const previous = this.replies.get(key);
    if (previous) {
      if (previous.fingerprint !== fingerprint) throw new ProcessorError('rejected');
      if (previous.reply instanceof ProcessorError) throw previous.reply;
      return previous.reply as T;
    }
    try {
      const reply = run();
      this.replies.set(key, { fingerprint, reply });
      return reply;
    } catch (error) {
      this.replies.set(key, { fingerprint, reply: error });
      throw error;
    }
  }

  private sweep(): void {
    const now = Date.now();
    for (const [token, stored] of this.tokens) if (stored.expiresAt < now) this.tokens.delete(token);
  }
}
