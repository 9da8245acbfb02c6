import { createHash, randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';

import { isUuid } from '../db/ids';
import { badUserInput, notFound } from '../graphql/errors';
import { idempotencyKeyReused, paymentFailed, processorUnavailable } from './billing.errors';
import { STATUS_SQL } from './invoice.service';
import type { Logger } from '../logging/logger';
import { validateCard, type CardData } from './card.validation';
import { Payment, PaymentStatus } from './payment.entity';
import { ProcessorError, type CardToken, type ChargeResult, type PaymentProcessor } from './payment-processor';

/** A payInvoice call: who pays what, with the client's idempotency key. */
export interface PayRequest {
  userId: string;
  invoiceId: string;
  paymentToken: string;
  idempotencyKey: string;
  /** Partial payment; the outstanding balance when absent. */
  amountMinor?: number | null;
  /** Whether the caller may reach this patient's invoices (own invoices for a PATIENT). */
  mayReach(patientId: string): boolean;
}

/** The result a payInvoice call gave, stored with its idempotency key and replayed for a retry. */
export interface PayOutcome {
  paymentId: string;
  patientId: string;
  status: PaymentStatus;
  amountMinor: number;
  /** Set for a declined or failed payment: the error the call answered with. */
  error?: { code: 'PAYMENT_DECLINED' | 'PAYMENT_FAILED'; declineCode: string };
  replayed: boolean;
}

const KEY = /^[A-Za-z0-9._:-]{8,128}$/;
const KEEP_KEYS = "interval '24 hours'";

interface PaymentRow {
  id: string;
  invoice_id: string;
  patient_id: string;
  amount_minor: number;
  currency: string;
  status: PaymentStatus;
  processor_reference: string | null;
  card_brand: string | null;
  card_last4: string | null;
  card_exp_month: number | null;
  card_exp_year: number | null;
  decline_code: string | null;
  created_at: Date;
  refunded_at: Date | null;
}

const PAYMENT_COLUMNS =
  'id, invoice_id, patient_id, amount_minor, currency, status, processor_reference, card_brand, card_last4, card_exp_month, card_exp_year, decline_code, created_at, refunded_at';

function toPayment(row: PaymentRow): Payment {
  return Object.assign(new Payment(), {
    id: row.id,
    invoiceId: row.invoice_id,
    patientId: row.patient_id,
    amountMinor: row.amount_minor,
    currency: row.currency,
    status: row.status,
    processorReference: row.processor_reference,
    cardBrand: row.card_brand,
    cardLast4: row.card_last4,
    cardExpMonth: row.card_exp_month,
    cardExpYear: row.card_exp_year,
    declineCode: row.decline_code,
    createdAt: row.created_at,
    refundedAt: row.refunded_at,
  });
}

function sha256(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

/** Validates what can be checked before any row is touched. */
function checkRequest(request: PayRequest): void {
  if (typeof request.idempotencyKey !== 'string' || !KEY.test(request.idempotencyKey))
    throw badUserInput('An idempotency key is 8 to 128 of A-Z a-z 0-9 . _ : -', 'idempotencyKey');
  // The key is stored: 13 digits in a row could be a card number pasted in the wrong field.
  if (/[0-9]{13}/.test(request.idempotencyKey))
    throw badUserInput('An idempotency key must not hold 13 digits in a row', 'idempotencyKey');
  if (typeof request.paymentToken !== 'string' || !/^[A-Za-z0-9_-]{6,255}$/.test(request.paymentToken))
    throw badUserInput('The payment token is not valid', 'paymentToken');
  if (/[0-9]{13}/.test(request.paymentToken)) throw badUserInput('The payment token is not valid', 'paymentToken');
  const amount = request.amountMinor;
  if (amount !== undefined && amount !== null && (!Number.isInteger(amount) || amount < 1))
    throw badUserInput('The amount is a positive integer in minor units', 'amountMinor');
}

/**
 * Payments against invoices, through the configured processor. payInvoice is idempotent per user and
 * key; each invoice is locked while it is charged, so no two payments can overpay it; a refund happens
 * at most once. Callers run these inside their transaction, which also holds the audit rows.
 */
export class PaymentService {
  constructor(readonly processor: PaymentProcessor) {}

  /**
   * Validates card data and hands it straight to the processor; only its token and the card's
   * displayable facts come back. Nothing of the card data is stored, logged or put in an error.
   */
  async tokenize(card: CardData, log: Logger): Promise<CardToken> {
    const valid = validateCard(card);
    try {
      return await this.processor.tokenize({
        number: valid.number,
        expMonth: valid.expMonth,
        expYear: valid.expYear,
        cvc: valid.cvc,
      });
    } catch (error) {
      if (error instanceof ProcessorError) {
        if (error.code === 'invalid_card') throw badUserInput('The payment processor refused the card data', 'number');
        if (error.code === 'unavailable') throw processorUnavailable();
        throw paymentFailed(error.code);
      }
      // An unexpected error is not passed on or logged in full: its message or fields could quote the card data.
      log.error({ errorName: error instanceof Error ? error.name : typeof error }, 'card tokenization failed');
      throw paymentFailed('processing_error');
    }
  }

  /**
   * Charges an invoice once per idempotency key, or replays the first result of that key. A decline or
   * processing error is recorded (payment row, status event, stored result) and returned as `error`;
   * the invoice changes only on success. Locks are held while the processor is called (a trade-off:
   * one slow processor call holds one invoice and one key, never a table).
   */
  async pay(em: EntityManager, request: PayRequest): Promise<PayOutcome> {
    checkRequest(request);
    if (!isUuid(request.invoiceId)) throw notFound('Invoice');
    const fingerprint = sha256(JSON.stringify([request.invoiceId, request.paymentToken, request.amountMinor ?? null]));

    // Expired keys go when their user pays again. Shortcoming: keys of users who never return stay until a
    // retention job deletes rows past expires_at (none does yet).
    await em.execute('DELETE FROM idempotency_keys WHERE user_id = ? AND expires_at <= now()', [request.userId]);
    // A concurrent first request holds the unique entry until it commits; this insert waits for it.
    await em.execute(
      `INSERT INTO idempotency_keys (id, user_id, operation, key, fingerprint, result, created_at, expires_at)
       VALUES (?, ?, 'payInvoice', ?, ?, NULL, now(), now() + ${KEEP_KEYS})
       ON CONFLICT (user_id, operation, key) DO NOTHING`,
      [randomUUID(), request.userId, request.idempotencyKey, fingerprint],
    );
    const [stored] = await em.execute<{ id: string; fingerprint: string; result: PayOutcome | null }[]>(
      `SELECT id, fingerprint, result FROM idempotency_keys
       WHERE user_id = ? AND operation = 'payInvoice' AND key = ? FOR UPDATE`,
      [request.userId, request.idempotencyKey],
    );
    if (stored.fingerprint !== fingerprint) throw idempotencyKeyReused();
    if (stored.result) return { ...stored.result, replayed: true };

    const [invoice] = await em.execute<
      { id: string; patient_id: string; currency: string; total_minor: number; paid_minor: number }[]
    >('SELECT id, patient_id, currency, total_minor, paid_minor FROM invoices WHERE id = ? FOR UPDATE', [
      request.invoiceId,
    ]);
    if (!invoice || !request.mayReach(invoice.patient_id)) throw notFound('Invoice');
    const outstanding = invoice.total_minor - invoice.paid_minor;
    if (outstanding <= 0) throw badUserInput('The invoice is paid in full', 'invoiceId');
    const amount = request.amountMinor ?? outstanding;
    if (amount > outstanding) throw badUserInput('The amount exceeds the outstanding balance', 'amountMinor');

    const paymentId = randomUUID();
    const result = await this.charge(request, amount, invoice.currency, paymentId, fingerprint);
    const status =
      result.status === 'SUCCEEDED'
        ? PaymentStatus.SUCCEEDED
        : result.status === 'DECLINED'
          ? PaymentStatus.DECLINED
          : PaymentStatus.FAILED;
    const card = result.status === 'FAILED' ? null : result.card;
    const declineCode = result.status === 'SUCCEEDED' ? null : result.declineCode;

    await em.execute(
      `INSERT INTO payments (id, invoice_id, patient_id, amount_minor, currency, status, processor, processor_token,
         processor_reference, card_brand, card_last4, card_exp_month, card_exp_year, decline_code, created_by, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, now())`,
      [
        paymentId,
        invoice.id,
        invoice.patient_id,
        amount,
        invoice.currency,
        status,
        this.processor.name,
        request.paymentToken,
        result.status === 'FAILED' ? null : result.reference,
        card?.brand ?? null,
        card && /^[0-9]{4}$/.test(card.last4) ? card.last4 : null,
        card && card.expMonth >= 1 && card.expMonth <= 12 ? card.expMonth : null,
        card?.expYear || null,
        declineCode,
        request.userId,
      ],
    );
    await this.event(em, paymentId, null, status, request.userId);
    if (status === PaymentStatus.SUCCEEDED) {
      await this.addPaid(em, invoice.id, amount);
    }

    const outcome: PayOutcome = {
      paymentId,
      patientId: invoice.patient_id,
      status,
      amountMinor: amount,
      replayed: false,
    };
    if (declineCode) {
      outcome.error = { code: status === PaymentStatus.DECLINED ? 'PAYMENT_DECLINED' : 'PAYMENT_FAILED', declineCode };
    }
    await em.execute('UPDATE idempotency_keys SET result = ?::jsonb WHERE id = ?', [
      JSON.stringify({ ...outcome, replayed: undefined }),
      stored.id,
    ]);
    return outcome;
  }

  /** Refunds a succeeded payment in full, once; the invoice's paid amount goes back down. */
  async refund(em: EntityManager, paymentId: string, actorId: string): Promise<Payment> {
    if (!isUuid(paymentId)) throw notFound('Payment');
    const [payment] = await em.execute<(PaymentRow & { processor: string })[]>(
      `SELECT ${PAYMENT_COLUMNS}, processor FROM payments WHERE id = ? FOR UPDATE`,
      [paymentId],
    );
    if (!payment) throw notFound('Payment');
    if (payment.status === PaymentStatus.REFUNDED) throw badUserInput('The payment is already refunded', 'paymentId');
    if (payment.status !== PaymentStatus.SUCCEEDED || !payment.processor_reference)
      throw badUserInput('Only a succeeded payment can be refunded', 'paymentId');
    if (payment.processor !== this.processor.name)
      throw badUserInput('The payment was made through another processor', 'paymentId');
    await em.execute('SELECT id FROM invoices WHERE id = ? FOR UPDATE', [payment.invoice_id]);

    let reference: string;
    try {
      ({ reference } = await this.processor.refund({
        reference: payment.processor_reference,
        amountMinor: payment.amount_minor,
        idempotencyKey: `hms-refund-${payment.id}`,
      }));
    } catch (error) {
      if (!(error instanceof ProcessorError) || error.code === 'unavailable') throw processorUnavailable();
      throw paymentFailed(error.declineCode ?? error.code);
    }

    const [row] = await em.execute<PaymentRow[]>(
      `UPDATE payments SET status = 'REFUNDED', refunded_at = now(), refunded_by = ?, refund_reference = ?
       WHERE id = ? RETURNING ${PAYMENT_COLUMNS}`,
      [actorId, reference, payment.id],
    );
    await this.event(em, payment.id, PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED, actorId);
    await this.addPaid(em, payment.invoice_id, -payment.amount_minor);
    return toPayment(row);
  }

  /** One payment, or NOT_FOUND. */
  async get(em: EntityManager, paymentId: string): Promise<Payment> {
    if (!isUuid(paymentId)) throw notFound('Payment');
    const [row] = await em.execute<PaymentRow[]>(`SELECT ${PAYMENT_COLUMNS} FROM payments WHERE id = ?`, [paymentId]);
    if (!row) throw notFound('Payment');
    return toPayment(row);
  }

  /** Every payment attempt of an invoice, oldest first. */
  async forInvoice(em: EntityManager, invoiceId: string): Promise<Payment[]> {
    const rows = await em.execute<PaymentRow[]>(
      `SELECT ${PAYMENT_COLUMNS} FROM payments WHERE invoice_id = ? ORDER BY created_at, id`,
      [invoiceId],
    );
    return rows.map(toPayment);
  }

  /**
   * Calls the processor. A failure that leaves the outcome unknown (unreachable) or that is the caller's
   * (a used token) rolls the whole call back, idempotency key included, so a retry can go through; the
   * processor's own idempotency key, derived from ours, keeps that retry from charging twice.
   */
  private async charge(
    request: PayRequest,
    amountMinor: number,
    currency: string,
    paymentId: string,
    fingerprint: string,
  ): Promise<ChargeResult | { status: 'FAILED'; declineCode: string }> {
    try {
      return await this.processor.charge({
        token: request.paymentToken,
        amountMinor,
        currency,
        idempotencyKey: `hms-pay-${sha256(`${request.userId}:${request.idempotencyKey}:${fingerprint}`).slice(0, 48)}`,
        metadata: { invoiceId: request.invoiceId, paymentId },
      });
    } catch (error) {
      // Anything but the processor's own answer leaves the outcome unknown: roll back, let the client retry.
      if (!(error instanceof ProcessorError) || error.code === 'unavailable') throw processorUnavailable();
      if (error.code === 'invalid_token')
        throw badUserInput('The payment token is unknown, expired or already used', 'paymentToken');
      return { status: 'FAILED', declineCode: error.declineCode ?? error.code };
    }
  }

  /** Moves an invoice's paid amount (negative for a refund) and its status with it. */
  private async addPaid(em: EntityManager, invoiceId: string, amountMinor: number): Promise<void> {
    await em.execute('UPDATE invoices SET paid_minor = paid_minor + ?, updated_at = now() WHERE id = ?', [
      amountMinor,
      invoiceId,
    ]);
    await em.execute(`UPDATE invoices SET status = ${STATUS_SQL} WHERE id = ?`, [invoiceId]);
  }

  private async event(em: EntityManager, paymentId: string, from: string | null, to: string, actorId: string) {
    await em.execute(
      'INSERT INTO payment_events (id, payment_id, from_status, to_status, actor_id, at) VALUES (?, ?, ?, ?, ?, clock_timestamp())',
      [randomUUID(), paymentId, from, to, actorId],
    );
  }
}
