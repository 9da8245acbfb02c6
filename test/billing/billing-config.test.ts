import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { ConfigError, loadConfig } from '../../src/config/config';
import { createPaymentProcessor } from '../../src/billing/processor.factory';
import { SandboxProcessor } from '../../src/billing/sandbox.processor';
import { StripeProcessor } from '../../src/billing/stripe.processor';

const dirs: string[] = [];
const key = () => randomBytes(32).toString('base64');
const strong = () => randomBytes(32).toString('base64url');
const LIVE_KEY = `sk_live_${randomBytes(18).toString('hex')}`;
const TEST_KEY = `sk_test_${randomBytes(18).toString('hex')}`;

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'hms-billing-config-'));
  dirs.push(dir);
  return dir;
}

/** A strong production environment with a live Stripe key. */
function production(overrides: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  return {
    NODE_ENV: 'production',
    HMS_DATA_DIR: join(tempDir(), 'data'),
    DATABASE_URL: 'postgresql://hms@db.hospital.test:5432/hms',
    DATABASE_PASSWORD: strong(),
    TOKEN_SIGNING_SECRET: strong(),
    MASTER_KEYS: `1:${key()}`,
    BLIND_INDEX_KEY: key(),
    AUDIT_HMAC_KEY: key(),
    PAYMENT_PROCESSOR: 'stripe',
    STRIPE_SECRET_KEY: LIVE_KEY,
    ...overrides,
  };
}

/** The problems a refused configuration lists; fails the test when it is accepted. */
function problems(env: NodeJS.ProcessEnv): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('configuration was accepted');
}

afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('payment processor configuration', () => {
  it('uses the sandbox outside production by default', () => {
    const config = loadConfig({
      NODE_ENV: 'test',
      HMS_DATA_DIR: tempDir(),
      DATABASE_URL: 'postgresql://x@127.0.0.1/x',
    });
    expect(config.billing).toEqual({ processor: 'sandbox', stripeSecretKey: undefined, stripeApiUrl: undefined });
    expect(createPaymentProcessor(config)).toBeInstanceOf(SandboxProcessor);
  });

  it('starts production with Stripe and a live key, from the variable or a mounted file', () => {
    expect(createPaymentProcessor(loadConfig(production()))).toBeInstanceOf(StripeProcessor);
    const file = join(tempDir(), 'stripe-key');
    writeFileSync(file, `${LIVE_KEY}\n`);
    expect(
      loadConfig(production({ STRIPE_SECRET_KEY: undefined, STRIPE_SECRET_KEY_FILE: file })).billing.stripeSecretKey,
    ).toBe(LIVE_KEY);
  });

  it('refuses the sandbox in production, also when PAYMENT_PROCESSOR is not set', () => {
    expect(problems(production({ PAYMENT_PROCESSOR: 'sandbox' }))).toContain(
      'PAYMENT_PROCESSOR: the sandbox processor is refused in production (set it to stripe)',
    );
    expect(problems(production({ PAYMENT_PROCESSOR: undefined })).join('\n')).toMatch(
      /^PAYMENT_PROCESSOR: the sandbox/m,
    );
  });

  it('refuses Stripe without a key, a malformed key, a test key in production and a plain-http API URL, never echoing the key', () => {
    const cases: [Record<string, string | undefined>, RegExp][] = [
      [{ STRIPE_SECRET_KEY: undefined }, /^STRIPE_SECRET_KEY: required/],
      [{ STRIPE_SECRET_KEY: 'pk_live_publishable0000000000' }, /^STRIPE_SECRET_KEY: is not a Stripe secret/],
      [{ STRIPE_SECRET_KEY: TEST_KEY }, /^STRIPE_SECRET_KEY: a test-mode key is refused in production/],
      [{ STRIPE_API_URL: 'http://stripe-mock.internal:12111' }, /^STRIPE_API_URL: must be https/],
    ];
    for (const [change, expected] of cases) {
      const listed = problems(production(change));
      expect(listed.some((p) => expected.test(p))).toBe(true);
      expect(listed.join('\n')).not.toContain(TEST_KEY);
      expect(listed.join('\n')).not.toContain('publishable');
    }
    expect(problems({ NODE_ENV: 'test', HMS_DATA_DIR: tempDir(), PAYMENT_PROCESSOR: 'stripe' })).toContain(
      'STRIPE_SECRET_KEY: required with PAYMENT_PROCESSOR=stripe',
    );
  });
});
