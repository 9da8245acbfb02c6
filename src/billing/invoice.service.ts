import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';

import { isUuid } from '../db/ids';
import { badUserInput, notFound } from '../graphql/errors';
import { containsCardNumber } from './card.validation';
import { Invoice, InvoiceLine, InvoiceStatus } from './invoice.entity';
import type { InvoiceInput } from './billing.inputs';

const MAX_LINES = 100;
const MAX_LINE_AMOUNT = 100_000_000;
const MAX_TOTAL = 2_000_000_000;
const CURRENCIES = new Set(Intl.supportedValuesOf('currency'));

interface InvoiceRow {
  id: string;
  patient_id: string;
  currency: string;
  status: InvoiceStatus;
  total_minor: number;
  paid_minor: number;
  created_by: string;
  created_at: Date;
  updated_at: Date;
}

const INVOICE_COLUMNS = 'id, patient_id, currency, status, total_minor, paid_minor, created_by, created_at, updated_at';

/** An Invoice from a row of the invoices table. */
export function toInvoice(row: InvoiceRow): Invoice {
  return Object.assign(new Invoice(), {
    id: row.id,
    patientId: row.patient_id,
    currency: row.currency,
    status: row.status,
    totalMinor: row.total_minor,
    paidMinor: row.paid_minor,
    createdBy: row.created_by,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  });
}

/** SQL for an invoice's status from its paid and total columns. */
export const STATUS_SQL = `CASE WHEN paid_minor = 0 THEN 'OPEN' WHEN paid_minor < total_minor THEN 'PARTIALLY_PAID' ELSE 'PAID' END`;

function validLines(input: InvoiceInput): { description: string; amountMinor: number }[] {
  if (!Array.isArray(input.lines) || input.lines.length === 0 || input.lines.length > MAX_LINES)
    throw badUserInput(`An invoice has 1 to ${MAX_LINES} lines`, 'lines');
  return input.lines.map((line, i) => {
    const description = typeof line.description === 'string' ? line.description.trim() : '';
    if (description.length === 0 || description.length > 200 || /[\p{Cc}]/u.test(description))
      throw badUserInput('A line description is 1 to 200 printable characters', `lines.${i}.description`);
    // Free text could carry a card number typed in the wrong box; it must never be stored (PCI DSS 3.2).
    if (containsCardNumber(description) || /[0-9]{13}/.test(description))
      throw badUserInput('A line description must not contain a card number', `lines.${i}.description`);
    if (!Number.isInteger(line.amountMinor) || line.amountMinor < 1 || line.amountMinor > MAX_LINE_AMOUNT)
      throw badUserInput(
        `A line amount is an integer from 1 to ${MAX_LINE_AMOUNT} minor units`,
        `lines.${i}.amountMinor`,
      );
    return { description, amountMinor: line.amountMinor };
  });
}

/** Invoices and their lines. Who may see which invoice is the resolver's check; this validates and stores. */
export class InvoiceService {
  /** Validates and stores a new invoice with its lines, in one transaction; NOT_FOUND for an unknown patient. */
  async create(em: EntityManager, input: InvoiceInput, createdBy: string): Promise<Invoice> {
    if (typeof input.currency !== 'string' || !/^[A-Z]{3}$/.test(input.currency) || !CURRENCIES.has(input.currency))
      throw badUserInput('Currency must be an ISO 4217 code in capitals, e.g. EUR', 'currency');
    const lines = validLines(input);
    const total = lines.reduce((sum, line) => sum + line.amountMinor, 0);
    if (total > MAX_TOTAL) throw badUserInput(`An invoice total is at most ${MAX_TOTAL} minor units`, 'lines');
    if (!isUuid(input.patientId)) throw notFound('Patient');

    return em.transactional(async (tem) => {
      const patient = await tem.execute('SELECT id FROM patients WHERE id = ? FOR KEY SHARE', [input.patientId]);
      if (patient.length === 0) throw notFound('Patient');

      const [row] = await tem.execute<InvoiceRow[]>(
        `INSERT INTO invoices (id, patient_id, currency, status, total_minor, paid_minor, created_by, created_at, updated_at)
         VALUES (?, ?, ?, 'OPEN', ?, 0, ?, now(), now()) RETURNING ${INVOICE_COLUMNS}`,
        [randomUUID(), input.patientId, input.currency, total, createdBy],
      );
      await tem.execute(
        `INSERT INTO invoice_lines (id, invoice_id, position, description, amount_minor)
         SELECT r.id, ?, r.position, r.description, r.amount_minor
         FROM jsonb_to_recordset(?::jsonb) AS r(id uuid, position int, description text, amount_minor int)`,
        [
          row.id,
          JSON.stringify(
            lines.map((line, i) => ({
              id: randomUUID(),
              position: i + 1,
              description: line.description,
              amount_minor: line.amountMinor,
            })),
          ),
        ],
      );
      return toInvoice(row);
    });
  }

  /** One invoice, or NOT_FOUND. */
  async get(em: EntityManager, id: string): Promise<Invoice> {
    if (!isUuid(id)) throw notFound('Invoice');
    const [row] = await em.execute<InvoiceRow[]>(`SELECT ${INVOICE_COLUMNS} FROM invoices WHERE id = ?`, [id]);
    if (!row) throw notFound('Invoice');
    return toInvoice(row);
  }

  /** A patient's invoices, newest first, at most `limit`. */
  async forPatient(em: EntityManager, patientId: string, limit: number): Promise<Invoice[]> {
    const rows = await em.execute<InvoiceRow[]>(
      `SELECT ${INVOICE_COLUMNS} FROM invoices WHERE patient_id = ? ORDER BY created_at DESC, id LIMIT ?`,
      [patientId, limit],
    );
    return rows.map(toInvoice);
  }

  /** Whether a patient record exists; reads the id only. */
  async patientExists(em: EntityManager, patientId: string): Promise<boolean> {
    if (!isUuid(patientId)) return false;
    return (await em.execute('SELECT 1 FROM patients WHERE id = ?', [patientId])).length > 0;
  }

  /** The lines of an invoice, in order. */
  async lines(em: EntityManager, invoiceId: string): Promise<InvoiceLine[]> {
    const rows = await em.execute<{ id: string; position: number; description: string; amount_minor: number }[]>(
      'SELECT id, position, description, amount_minor FROM invoice_lines WHERE invoice_id = ? ORDER BY position',
      [invoiceId],
    );
    return rows.map((row) =>
      Object.assign(new InvoiceLine(), {
        id: row.id,
        invoiceId,
        position: row.position,
        description: row.description,
        amountMinor: row.amount_minor,
      }),
    );
  }
}
