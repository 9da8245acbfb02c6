import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

import { luhnValid } from '../../src/billing/card.validation';

/** One request the fake received, parsed the way Stripe reads it (form fields, headers). */
export interface StripeCall {
  method: string;
  path: string;
  authorization?: string;
  idempotencyKey?: string;
  form: Record<string, string>;
}

const DECLINES: Record<string, { code: string; decline_code?: string }> = {
  '4000000000000002': { code: 'card_declined', decline_code: 'generic_decline' },
  '4000000000009995': { code: 'card_declined', decline_code: 'insufficient_funds' },
  '4000000000000119': { code: 'processing_error' },
};
const BRANDS: [RegExp, string][] = [
  [/^4/, 'Visa'],
  [/^5/, 'MasterCard'],
  [/^3[47]/, 'American Express'],
];

const id = (prefix: string) => `${prefix}_${randomBytes(12).toString('base64url').replace(/[-_]/g, 'x')}`;

/**
 * A local HTTP server speaking Stripe's REST wire format for the calls the adapter makes (POST
 * /v1/tokens, /v1/charges, /v1/refunds; form-encoded bodies, Bearer key, Idempotency-Key header,
 * Stripe's error envelope), with Stripe's test-mode card behaviour. Not Stripe: only what the adapter uses.
 */
export class FakeStripe {
  readonly calls: StripeCall[] = [];
  readonly secretKey = `sk_test_${randomBytes(18).toString('hex')}`;
  private readonly tokens = new Map<string, { number: string; expMonth: number; expYear: number; used: boolean }>();
  private readonly charges = new Map<string, { amount: number; refunded: boolean }>();
  private readonly idempotent = new Map<string, { body: string; status: number; reply: unknown }>();
  private server?: Server;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    const address = this.server.address();
    this.url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }

  /** Calls to one path. */
  callsTo(path: string): StripeCall[] {
    return this.calls.filter((c) => c.path === path);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let body = '';
    for await (const chunk of req) body += chunk;
    const form = Object.fromEntries(new URLSearchParams(body));
    const call: StripeCall = {
      method: req.method ?? '',
      path: (req.url ?? '').split('?')[0],
      authorization: req.headers.authorization,
      idempotencyKey: req.headers['idempotency-key'] as string | undefined,
      form,
    };
    this.calls.push(call);
    const send = (status: number, reply: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json', 'request-id': id('req') });
      res.end(JSON.stringify(reply));
    };
    if (call.authorization !== `Bearer ${this.secretKey}`) {
      return send(401, { error: { type: 'invalid_request_error', message: 'Invalid API Key provided' } });
    }
    const key = call.idempotencyKey;
    const previous = key ? this.idempotent.get(`${call.path}:${key}`) : undefined;
    if (previous) {
      if (previous.body !== body) {
        return send(400, {
          error: {
            type: 'idempotency_error',
            message: 'Keys for idempotent requests can only be used with the same parameters',
          },
        });
      }
      return send(previous.status, previous.reply);
    }
    const [status, reply] = this.route(call);
    if (key && call.path !== '/v1/tokens') this.idempotent.set(`${call.path}:${key}`, { body, status, reply });
    send(status, reply);
  }

  private route(call: StripeCall): [number, unknown] {
    const cardError = (code: string, extra: Record<string, unknown> = {}) =>
      [402, { error: { type: 'card_error', code, message: 'Your card was declined.', ...extra } }] as [number, unknown];
    if (call.method === 'POST' && call.path === '/v1/tokens') {
      const number = call.form['card[number]'] ?? '';
      if (!luhnValid(number)) return cardError('incorrect_number', { param: 'number' });
      const token = id('tok');
      const expMonth = Number(call.form['card[exp_month]']);
      const expYear = Number(call.form['card[exp_year]']);
      this.tokens.set(token, { number, expMonth, expYear, used: false });
      const brand = BRANDS.find(([prefix]) => prefix.test(number))?.[1] ?? 'Unknown';
      return [
        200,
        {
          id: token,
          object: 'token',
          type: 'card',
          used: false,
          livemode: false,
          created: Math.floor(Date.now() / 1000),
          card: {
            id: id('card'),
            object: 'card',
            brand,
            last4: number.slice(-4),
            exp_month: expMonth,
            exp_year: expYear,
          },
        },
      ];
    }
    if (call.method === 'POST' && call.path === '/v1/charges') {
      const token = this.tokens.get(call.form.source);
      if (!token) return [400, { error: { type: 'invalid_request_error', code: 'resource_missing', param: 'source' } }];
      if (token.used) return [400, { error: { type: 'invalid_request_error', code: 'token_already_used' } }];
      token.used = true;
      const chargeId = id('ch');
      const decline = DECLINES[token.number];
      if (decline) return cardError(decline.code, { decline_code: decline.decline_code, charge: chargeId });
      const amount = Number(call.form.amount);
      this.charges.set(chargeId, { amount, refunded: false });
      return [
        200,
        {
          id: chargeId,
          object: 'charge',
          amount,
          currency: call.form.currency,
          paid: true,
          status: 'succeeded',
          metadata: {},
          payment_method_details: {
            type: 'card',
            card: { brand: 'visa', last4: token.number.slice(-4), exp_month: token.expMonth, exp_year: token.expYear },
          },
        },
      ];
    }
    if (call.method === 'POST' && call.path === '/v1/refunds') {
      const charge = this.charges.get(call.form.charge);
      if (!charge)
        return [400, { error: { type: 'invalid_request_error', code: 'resource_missing', param: 'charge' } }];
      if (charge.refunded) return [400, { error: { type: 'invalid_request_error', code: 'charge_already_refunded' } }];
      charge.refunded = true;
      return [
        200,
        {
          id: id('re'),
          object: 'refund',
          amount: Number(call.form.amount),
          charge: call.form.charge,
          status: 'succeeded',
        },
      ];
    }
    return [404, { error: { type: 'invalid_request_error', message: 'Unrecognized request URL' } }];
  }
}
