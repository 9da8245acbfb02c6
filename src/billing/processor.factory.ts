import type { Config } from '../config/config';
import type { PaymentProcessor } from './payment-processor';
import { SandboxProcessor } from './sandbox.processor';
import { StripeProcessor } from './stripe.processor';

/** The processor PAYMENT_PROCESSOR names; the sandbox is refused in production (config.ts refuses it first). */
export function createPaymentProcessor(config: Config): PaymentProcessor {
  const billing = config.billing;
  if (billing.processor === 'stripe') {
    if (!billing.stripeSecretKey) throw new Error('STRIPE_SECRET_KEY is required with PAYMENT_PROCESSOR=stripe');
    return new StripeProcessor({ secretKey: billing.stripeSecretKey, apiUrl: billing.stripeApiUrl });
  }
  if (config.isProduction) throw new Error('the sandbox payment processor is refused in production');
  return new SandboxProcessor();
}
