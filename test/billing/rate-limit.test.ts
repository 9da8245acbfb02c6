import { createAccount, sql } from '../support/accounts';
import { startTestApp, type GqlResponse, type TestApp } from '../support/app';
import { tokenFor as sessionToken } from '../ratelimit/rate-limit-support';
import { card, CARDS, TOKENIZE } from './billing-support';

const codeOf = (res: GqlResponse) => res.body.errors?.[0]?.extensions?.code;

describe('tokenizeCard rate limits against card testing (RATE_LIMIT_MULTIPLIER=1, in-process store)', () => {
  let app: TestApp;

  beforeAll(async () => {
    // Behind a trusted proxy on 127.0.0.1, so each test picks its client address.
    app = await startTestApp({ RATE_LIMIT_MULTIPLIER: '1', TRUST_PROXY: '127.0.0.1', REDIS_URL: undefined });
  });

  afterAll(async () => {
    await app?.close();
  });

  const tokenize = (token: string, ip: string, number = CARDS.visa) =>
    app.gql(TOKENIZE, { input: card(number) }, token, { 'x-forwarded-for': ip });

  it('allows a user 20 cards an hour, then answers RATE_LIMITED with retryAfterSeconds and records the event', async () => {
    const billing = await createAccount(app, 'BILLING');
    const token = await sessionToken(app, billing);

    for (let i = 0; i < 20; i++) expect(codeOf(await tokenize(token, `198.51.100.${i + 1}`))).toBeUndefined();
    // A new address does not help: the user's own window is spent.
    const refused = await tokenize(token, '198.51.100.200');

    expect(codeOf(refused)).toBe('RATE_LIMITED');
    expect(refused.body.errors![0].extensions!.retryAfterSeconds).toBeGreaterThan(0);
    expect(refused.body.data).toBeNull();
    const events = await sql(
      app,
      "SELECT severity, details->>'limit' AS limit FROM security_events WHERE event_type = 'RATE_LIMIT' AND actor_id = $1",
      [billing.user.id],
    );
    expect(events).toEqual([{ severity: 'HIGH', limit: 'tokenizeCard.user' }]);
  });

  it('allows one client address 30 cards an hour across users, then refuses every user from it', async () => {
    const ip = '203.0.113.77';
    const first = await sessionToken(app, await createAccount(app, 'BILLING'));
    const second = await sessionToken(app, await createAccount(app, 'ADMIN'));

    for (let i = 0; i < 20; i++) expect(codeOf(await tokenize(first, ip))).toBeUndefined();
    for (let i = 0; i < 10; i++) expect(codeOf(await tokenize(second, ip))).toBeUndefined();
    const refused = await tokenize(second, ip);
    const elsewhere = await tokenize(second, '203.0.113.78');

    expect(codeOf(refused)).toBe('RATE_LIMITED');
    expect(codeOf(elsewhere)).toBeUndefined();
  });

  it('counts invalid card numbers too: card testing with bad numbers spends the same window', async () => {
    const token = await sessionToken(app, await createAccount(app, 'BILLING'));

    for (let i = 0; i < 20; i++)
      expect(codeOf(await tokenize(token, `192.0.2.${i + 1}`, '4242424242424241'))).toBe('BAD_USER_INPUT');

    expect(codeOf(await tokenize(token, '192.0.2.100'))).toBe('RATE_LIMITED');
  });
});
