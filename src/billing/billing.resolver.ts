import type { GraphQLResolveInfo } from 'graphql';
import { Arg, Ctx, FieldResolver, ID, Info, Int, Mutation, Query, Resolver, Root } from 'type-graphql';

import { requireRole } from '../access/role.guard';
import { allowed } from '../audit/audit.service';
import type { Actor, GraphQLContext } from '../graphql/context';
import { notFound } from '../graphql/errors';
import { paymentDeclined, paymentFailed } from './billing.errors';
import { CardInput, CardTokenResult, InvoiceInput } from './billing.inputs';
import { Invoice, InvoiceLine } from './invoice.entity';
import { Payment } from './payment.entity';

const PURPOSE = 'PAYMENT';
const PAYERS = ['BILLING', 'ADMIN', 'PATIENT'] as const;
const MANAGERS = ['BILLING', 'ADMIN'] as const;
const MAX_INVOICES = 100;

/** Billing staff and administrators reach every patient's invoices; a patient only their own. */
function mayReach(actor: Actor): (patientId: string) => boolean {
  return (patientId) => actor.role !== 'PATIENT' || actor.patientId === patientId;
}

/** Names of the fields a query selects (for the audit row; never values). */
function selectedFields(info: GraphQLResolveInfo): string[] {
  const names = info.fieldNodes.flatMap((node) =>
    (node.selectionSet?.selections ?? []).flatMap((s) =>
      s.kind === 'Field' && !s.name.value.startsWith('__') ? [s.name.value] : [],
    ),
  );
  return [...new Set(names)];
}

/**
 * Billing: invoices, card tokenization, payments and refunds. Role gates are shield rules
 * (billing.rules.ts); whose invoice a caller reaches is checked here, and an invoice out of reach
 * answers exactly like one that does not exist. Every read and write is audited with purpose PAYMENT.
 */
@Resolver(() => Invoice)
export class BillingResolver {
  @Mutation(() => Invoice, { description: 'Issues an invoice to a patient (BILLING, ADMIN).' })
  async createInvoice(
    @Arg('input', () => InvoiceInput) input: InvoiceInput,
    @Ctx() ctx: GraphQLContext,
  ): Promise<Invoice> {
    const actor = requireRole(ctx, ...MANAGERS);

    return ctx.em.transactional(async (em) => {
      const invoice = await ctx.services.billing.invoices.create(em, input, actor.userId);
      await ctx.services.audit.record({ ...ctx, em }, [
        allowed('invoice.create', invoice.patientId, PURPOSE, ['currency', 'lines']),
      ]);
      return invoice;
    });
  }

  @Query(() => Invoice, { description: 'One invoice; NOT_FOUND when it does not exist or is not yours to see.' })
  async invoice(
    @Arg('id', () => ID) id: string,
    @Ctx() ctx: GraphQLContext,
    @Info() info: GraphQLResolveInfo,
  ): Promise<Invoice> {
    const actor = requireRole(ctx, ...PAYERS);
    const invoice = await ctx.services.billing.invoices.get(ctx.em, id);
    if (!mayReach(actor)(invoice.patientId)) throw notFound('Invoice');

    await ctx.services.audit.record(ctx, [allowed('invoice.read', invoice.patientId, PURPOSE, selectedFields(info))]);
    return invoice;
  }

  @Query(() => [Invoice], { description: `A patient's invoices, newest first (at most ${MAX_INVOICES}).` })
  async invoices(
    @Arg('patientId', () => ID) patientId: string,
    @Ctx() ctx: GraphQLContext,
    @Info() info: GraphQLResolveInfo,
  ): Promise<Invoice[]> {
    const actor = requireRole(ctx, ...PAYERS);
    if (!mayReach(actor)(patientId) || !(await ctx.services.billing.invoices.patientExists(ctx.em, patientId)))
      throw notFound('Patient');

    const invoices = await ctx.services.billing.invoices.forPatient(ctx.em, patientId, MAX_INVOICES);
    await ctx.services.audit.record(ctx, [allowed('invoice.list', patientId, PURPOSE, selectedFields(info))]);
    return invoices;
  }

  @FieldResolver(() => [InvoiceLine])
  async lines(@Root() invoice: Invoice, @Ctx() ctx: GraphQLContext): Promise<InvoiceLine[]> {
    return ctx.services.billing.invoices.lines(ctx.em, invoice.id);
  }

  @FieldResolver(() => [Payment], { description: 'Every payment attempt, oldest first, declined ones included.' })
  async payments(@Root() invoice: Invoice, @Ctx() ctx: GraphQLContext): Promise<Payment[]> {
    return ctx.services.billing.payments.forInvoice(ctx.em, invoice.id);
  }

  @Mutation(() => CardTokenResult, {
    description:
      'Validates card data and hands it to the payment processor; returns its single-use token. Send card data ' +
      'as variables only. The card number and security code are never stored, logged or returned.',
  })
  async tokenizeCard(
    @Arg('input', () => CardInput) input: CardInput,
    @Ctx() ctx: GraphQLContext,
  ): Promise<CardTokenResult> {
    const actor = requireRole(ctx, ...PAYERS);

    const token = await ctx.services.billing.payments.tokenize(
      { number: input.number, expMonth: input.expMonth, expYear: input.expYear, cvc: input.cvc },
      ctx.log,
    );

    await ctx.services.audit.record(ctx, [
      {
        action: 'card.tokenize',
        patientId: actor.patientId ?? null,
        purpose: PURPOSE,
        outcome: 'ALLOWED',
        fields: ['brand', 'last4', 'expMonth', 'expYear'],
      },
    ]);
    return Object.assign(new CardTokenResult(), token);
  }

  @Mutation(() => Payment, {
    description:
      'Charges an invoice with a card token: the outstanding balance, or amountMinor for a partial payment. A retry ' +
      'with the same idempotencyKey (kept 24 hours) charges once and answers with the first result, a decline ' +
      'included; the same key with other parameters is refused (IDEMPOTENCY_KEY_REUSED). A declined card answers ' +
      'PAYMENT_DECLINED with extensions.declineCode and leaves the invoice unchanged.',
  })
  async payInvoice(
    @Arg('invoiceId', () => ID) invoiceId: string,
    @Arg('paymentToken', () => String) paymentToken: string,
    @Arg('idempotencyKey', () => String) idempotencyKey: string,
    @Arg('amountMinor', () => Int, { nullable: true }) amountMinor: number | null,
    @Ctx() ctx: GraphQLContext,
  ): Promise<Payment> {
    const actor = requireRole(ctx, ...PAYERS);

    const outcome = await ctx.em.transactional(async (em) => {
      const paid = await ctx.services.billing.payments.pay(em, {
        userId: actor.userId,
        invoiceId,
        paymentToken,
        idempotencyKey,
        amountMinor,
        mayReach: mayReach(actor),
      });
      await ctx.services.audit.record({ ...ctx, em }, [
        allowed(paid.replayed ? 'payment.replay' : 'payment.create', paid.patientId, PURPOSE, [
          'status',
          'amountMinor',
        ]),
      ]);
      return paid;
    });

    if (outcome.error?.code === 'PAYMENT_DECLINED') throw paymentDeclined(outcome.error.declineCode);
    if (outcome.error) throw paymentFailed(outcome.error.declineCode);
    // The first result is answered as it was, even if the payment was refunded since.
    const payment = await ctx.services.billing.payments.get(ctx.em, outcome.paymentId);
    return Object.assign(payment, { status: outcome.status, amountMinor: outcome.amountMinor });
  }

  @Mutation(() => Payment, { description: 'Refunds a succeeded payment in full, once (BILLING, ADMIN).' })
  async refundPayment(@Arg('paymentId', () => ID) paymentId: string, @Ctx() ctx: GraphQLContext): Promise<Payment> {
    const actor = requireRole(ctx, ...MANAGERS);

    return ctx.em.transactional(async (em) => {
      const payment = await ctx.services.billing.payments.refund(em, paymentId, actor.userId);
      await ctx.services.audit.record({ ...ctx, em }, [
        allowed('payment.refund', payment.patientId, PURPOSE, ['status', 'refundedAt']),
      ]);
      return payment;
    });
  }
}
