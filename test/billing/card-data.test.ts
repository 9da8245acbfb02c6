import { containsCardNumber } from '../../src/billing/card.validation';
import { sql } from '../support/accounts';
import { startTestApp, type GqlResponse, type TestApp } from '../support/app';
import {
  count,
  CREATE_INVOICE,
  invoiceFor,
  newKey,
  patientWithAccount,
  pay,
  REFUND,
  staffTokens,
  TOKENIZE,
} from './billing-support';

const year = new Date().getUTCFullYear() + 3;
/** Every card this run sends, each with its own security code, so the scans know what to look for. */
const USED = [
  { number: '4242424242424242', cvc: '731' },
  { number: '5555555555554444', cvc: '864' },
  { number: '378282246310005', cvc: '5179' },
  { number: '4000000000000002', cvc: '392' },
  { number: '4000000000009995', cvc: '647' },
  { number: '4000000000000119', cvc: '258' },
  // Valid by Luhn but not a sandbox test card: declined as a live card.
  { number: '4111111111111111', cvc: '913' },
];
/** Numbers the API must refuse (Luhn, length, brand) without echoing them. */
const REFUSED = ['4242424242424241', '42424242424', '9999999999999995'];

/** Luhn-valid 13-19 digit sequences in a value (groups separated by single spaces or dashes count too). */
function cardLike(value: string): boolean {
  // A long hex value is an encoding of bytes (hashes, MACs): read as bytes, its digits are not a number.
  const text = /^[0-9a-f]{32,}$/i.test(value) ? Buffer.from(value, 'hex').toString('base64') : value;
  return containsCardNumber(text);
}

describe('card data never stored, logged or echoed', () => {
  let app: TestApp;
  let staff: Record<string, string>;
  let patient: Awaited<ReturnType<typeof patientWithAccount>>;
  const responses: string[] = [];

  /** Every request of this file goes through here, so every response body is scanned at the end. */
  async function gql(query: string, variables: Record<string, unknown>, token?: string): Promise<GqlResponse> {
    const res = await app.gql(query, variables, token);
    responses.push(JSON.stringify(res.body));
    return res;
  }
  const tokenize = (input: Record<string, unknown>, token = patient.token) => gql(TOKENIZE, { input }, token);

  beforeAll(async () => {
    app = await startTestApp();
    staff = await staffTokens(app, ['BILLING', 'RECEPTIONIST']);
    patient = await patientWithAccount(app, staff.RECEPTIONIST);

    // A run of payments: every used card tokenized and charged, a refund, declines and failures included.
    for (const used of USED) {
      const invoiceId = await invoiceFor(app, staff.BILLING, patient.patientId, [2_000]);
      const tokenized = await tokenize({ number: used.number, expMonth: 4, expYear: year, cvc: used.cvc });
      expect(tokenized.body.errors).toBeUndefined();
      const paid = await pay(app, patient.token, invoiceId, tokenized.body.data!.tokenizeCard.token, newKey());
      responses.push(JSON.stringify(paid.body));
      if (paid.body.data?.payInvoice) {
        responses.push(
          JSON.stringify((await app.gql(REFUND, { paymentId: paid.body.data.payInvoice.id }, staff.BILLING)).body),
        );
      }
    }
  });

  afterAll(async () => {
    await app?.close();
  });

  it('stores brand, last four and expiry of each charged card, and nothing more of it', async () => {
    const rows = await sql<{ card_brand: string; card_last4: string; card_exp_year: number }>(
      app,
      'SELECT card_brand, card_last4, card_exp_year FROM payments WHERE patient_id = $1 ORDER BY created_at',
      [patient.patientId],
    );
    expect(rows.map((r) => r.card_last4)).toEqual(['4242', '4444', '0005', '0002', '9995', null, '1111']);
    expect(rows[2]).toMatchObject({ card_brand: 'amex', card_exp_year: year });
  });

  it('refuses invalid card data naming the field, never its value', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ number: REFUSED[0], expMonth: 4, expYear: year, cvc: '123' }, 'number'],
      [{ number: REFUSED[1], expMonth: 4, expYear: year, cvc: '123' }, 'number'],
      [{ number: REFUSED[2], expMonth: 4, expYear: year, cvc: '123' }, 'number'],
      [{ number: USED[0].number, expMonth: 13, expYear: year, cvc: '123' }, 'expMonth'],
      [{ number: USED[0].number, expMonth: 1, expYear: 2001, cvc: '123' }, 'expYear'],
      [{ number: USED[0].number, expMonth: 4, expYear: year, cvc: '12' }, 'cvc'],
      [{ number: USED[2].number, expMonth: 4, expYear: year, cvc: '123' }, 'cvc'],
    ];
    for (const [input, field] of cases) {
      const res = await tokenize(input);
      expect(res.body.errors![0].extensions).toEqual({ code: 'BAD_USER_INPUT', field });
    }
  });

  it('does not echo card data from a variable that fails coercion (errors.ts replaces the message)', async () => {
    const asNumber = await tokenize({ number: Number(USED[0].number), expMonth: 4, expYear: year, cvc: USED[0].cvc });
    const missingCvc = await tokenize({ number: USED[1].number, expMonth: 4, expYear: year });
    const extraField = await tokenize({ number: USED[1].number, expMonth: 4, expYear: year, cvc: USED[1].cvc, pin: 1 });
    const monthAsText = await tokenize({ number: USED[2].number, expMonth: 'April', expYear: year, cvc: USED[2].cvc });

    for (const res of [asNumber, missingCvc, extraField, monthAsText]) {
      expect(res.body.errors).toEqual([
        expect.objectContaining({
          message: 'Invalid value for a variable or argument',
          extensions: { code: 'BAD_USER_INPUT' },
        }),
      ]);
    }
  });

  it('does not echo card data typed inline in the document, even outside production', async () => {
    const inline = (fields: string) =>
      gql(`mutation { tokenizeCard(input: { ${fields} }) { token } }`, {}, patient.token);

    const numberAsInt = await inline(`number: ${USED[0].number}, expMonth: 4, expYear: ${year}, cvc: "${USED[0].cvc}"`);
    const cvcAsInt = await inline(`number: "${USED[1].number}", expMonth: 4, expYear: ${year}, cvc: ${USED[1].cvc}`);

    for (const res of [numberAsInt, cvcAsInt]) {
      expect(res.body.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    }
    expect(numberAsInt.body.errors![0].message).toBe('CardNumber must be a string of digits');
    expect(cvcAsInt.body.errors![0].message).toBe('CardSecurityCode must be a string of digits');
  });

  it('refuses a card number sent where a token, key or invoice line is expected, storing none of it', async () => {
    const invoiceId = await invoiceFor(app, staff.BILLING, patient.patientId, [500]);

    const asToken = await pay(app, patient.token, invoiceId, USED[0].number);
    const asKey = await pay(app, patient.token, invoiceId, 'tok_sandbox_whatever', `key-${USED[1].number}`);
    const asLine = await gql(
      CREATE_INVOICE,
      {
        input: {
          patientId: patient.patientId,
          currency: 'EUR',
          lines: [{ description: `Card ${USED[2].number.replace(/(\d{4})/g, '$1-')}`, amountMinor: 100 }],
        },
      },
      staff.BILLING,
    );
    responses.push(JSON.stringify(asToken.body), JSON.stringify(asKey.body));

    // The PHI input guard refuses a card number in any free-text input before billing's own checks run.
    const guarded = (field: string) => ({ code: 'BAD_USER_INPUT', field });
    expect(asToken.body.errors![0].extensions).toEqual(guarded('payInvoice.paymentToken'));
    expect(asKey.body.errors![0].extensions).toEqual(guarded('payInvoice.idempotencyKey'));
    expect(asLine.body.errors![0].extensions).toEqual(guarded('createInvoice.input.lines[0].description'));
    for (const refused of [asToken, asKey, asLine]) {
      expect(refused.body.errors![0].message).toBe('this field must not contain personal health information');
    }
    expect(await count(app, 'payments', 'invoice_id = $1', [invoiceId])).toBe(0);
  });

  it('leaves no card number or security code in any response or error of the run', () => {
    expect(responses.length).toBeGreaterThan(20);
    const text = responses.join('\n');
    for (const { number, cvc } of USED) {
      expect(text).not.toContain(number);
      expect(text).not.toContain(number.slice(0, 12));
      // A security code is a short digit string: look for it as a JSON string or a key's value.
      expect(text).not.toMatch(new RegExp(`"${cvc}"|cvc\\W+${cvc}`, 'i'));
    }
    for (const number of REFUSED) expect(text).not.toContain(number);
  });

  it('leaves no card number or security code in any log line of the run', () => {
    const logs = app.logs.text();
    expect(app.logs.lines.length).toBeGreaterThan(20);
    for (const { number, cvc } of USED) {
      expect(logs).not.toContain(number);
      expect(logs).not.toMatch(new RegExp(`"${cvc}"|cvc\\W+${cvc}`, 'i'));
    }
    for (const number of REFUSED) expect(logs).not.toContain(number);
    for (const line of app.logs.lines) expect(cardLike(line)).toBe(false);
  });

  it('has no column that could be meant for a card number or security code', async () => {
    const columns = await sql<{ table_name: string; column_name: string }>(
      app,
      "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public'",
    );
    const suspicious = columns.filter((c) =>
      /(card_?num|^pan$|_pan$|cvc|cvv|security_code|card_data|track)/i.test(c.column_name),
    );
    expect(suspicious).toEqual([]);
    const cardColumns = columns
      .filter((c) => c.table_name === 'payments' && /card/.test(c.column_name))
      .map((c) => c.column_name)
      .sort();
    expect(cardColumns).toEqual(['card_brand', 'card_exp_month', 'card_exp_year', 'card_last4']);
  });

  it('refuses, in the database itself, a card number in the processor token or reference columns', async () => {
    const [row] = await sql<{ id: string }>(app, 'SELECT id FROM payments LIMIT 1');
    for (const column of ['processor_token', 'processor_reference']) {
      await expect(
        sql(app, `UPDATE payments SET ${column} = $1 WHERE id = $2`, [`tok_${USED[0].number}`, row.id]),
      ).rejects.toThrow(/check constraint/);
    }
    await expect(sql(app, "UPDATE payments SET card_last4 = '42424' WHERE id = $1", [row.id])).rejects.toThrow(
      /check constraint/,
    );
  });

  it('holds no Luhn-valid 13 to 19 digit sequence in any row of any table after the run', async () => {
    const columns = await sql<{ table_name: string; column_name: string; data_type: string }>(
      app,
      `SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c
       JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
       WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'
         -- The ORM's own bookkeeping: migration file names carry 14-digit time-stamps.
         AND c.table_name <> 'mikro_orm_migrations'`,
    );
    const tables = new Map<string, { column: string; type: string }[]>();
    for (const c of columns)
      tables.set(c.table_name, [...(tables.get(c.table_name) ?? []), { column: c.column_name, type: c.data_type }]);
    expect([...tables.keys()]).toEqual(expect.arrayContaining(['payments', 'idempotency_keys', 'audit_events']));

    const found: string[] = [];
    let scanned = 0;
    for (const [table, cols] of tables) {
      // Binary columns are read as base64: their hex form is mostly digits and would match by chance.
      const select = cols
        .map(({ column, type }) =>
          type === 'bytea' ? `encode("${column}", 'base64') AS "${column}"` : `"${column}"::text AS "${column}"`,
        )
        .join(', ');
      for (const row of await sql<Record<string, string | null>>(app, `SELECT ${select} FROM "${table}"`)) {
        scanned += 1;
        for (const [column, value] of Object.entries(row)) {
          if (value !== null && cardLike(value)) found.push(`${table}.${column}`);
        }
      }
    }
    expect(scanned).toBeGreaterThan(50);
    expect([...new Set(found)]).toEqual([]);
  });
});
