import type { Config } from '../config/config';
import { InvoiceService } from './invoice.service';
import type { PaymentProcessor } from './payment-processor';
import { PaymentService } from './payment.service';
import { createPaymentProcessor } from './processor.factory';

/** The billing services a request reaches as `ctx.services.billing`. */
export interface BillingServices {
  invoices: InvoiceService;
  payments: PaymentService;
  /** The processor PAYMENT_PROCESSOR chose (the sandbox keeps its tokens in this process's memory). */
  processor: PaymentProcessor;
}

/** Builds the billing services over the configured payment processor. */
export function createBillingServices(config: Config): BillingServices {
  const processor = createPaymentProcessor(config);
  return { invoices: new InvoiceService(), payments: new PaymentService(processor), processor };
}
