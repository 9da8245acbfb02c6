import { randomBytes } from 'node:crypto';

import type { Role } from '../../src/config/roles';
import type { PhiHitKind } from '../../src/phi/phi-detector';
import { codeOf, createAccount, signIn, sql, testPassword, type TestAccount } from '../support/accounts';
import { startTestApp, type GqlResponse, type TestApp } from '../support/app';

const MESSAGE = 'this field must not contain personal health information';
const CREATE_PATIENT = `mutation($input: PatientInput!) { createPatient(input: $input) { id } }`;
const CREATE_INVOICE = `mutation($input: InvoiceInput!) { createInvoice(input: $input) { id lines { description } } }`;
const CREATE_USER = `mutation($input: CreateUserInput!) { createUser(input: $input) { id displayName } }`;
const GRANT = `mutation($input: ConsentInput!) { grantConsent(input: $input) { type policyVersion } }`;
const AUDIT = `query($filter: AuditEventFilter) { auditEvents(filter: $filter) { nodes { id action } } }`;
const BREAK_GLASS = `mutation($patientId: ID!, $reason: String!) { breakGlass(patientId: $patientId, reason: $reason) { id } }`;

// Each kind of PHI, made unique per run so that a scan of logs, responses and rows finds only this test's value.
const tag = () => randomBytes(2).readUInt16BE(0) % 9000;
const PHI: Record<PhiHitKind, () => string> = {
  SSN: () => `Follow-up for ${101 + (tag() % 500)}-45-${1000 + (tag() % 8999)}`,
  CARD_NUMBER: () => 'Paid with 4111 1111 1111 1111',
  PHONE: () => `Call back on +1415555${String(1000 + tag()).slice(0, 4)}`,
  EMAIL: () => `Send to wendeline.${tag()}@example.test`,
  MRN: () => `Record MRN${String(100_000_000 + tag())}`,
  DOB_WITH_NAME: () => `Wendeline Quarrington ${1950 + (tag() % 50)}-04-12`,
};

// Free text that must pass, and be stored as given.
const ACCEPTED = [
  'Invoice INV-2026-000123 follow-up',
  'Spirometry J45.909, allergy Z88.0',
  'Consultation on 2026-12-04',
  'Materials 1,234.56 carried over',
  'Lab panel EUR 120.00',
  'Session 7f0c3a52-9b1e-4c55-8d3a-2f7f8a1e9b10 at 2026-12-04T10:20:30.123Z',
  'Room 12, 45 minutes',
];

let app: TestApp;
const tokens = {} as Record<Role, string>;
const accounts = {} as Record<Role, TestAccount>;
let patientId: string;

const events = (actorId: string) =>
  sql<{ severity: string; details: Record<string, unknown> }>(
    app,
    `SELECT severity, details FROM security_events WHERE event_type = 'PHI_IN_INPUT' AND actor_id = $1 ORDER BY at`,
    [actorId],
  );
const invoiceCount = async () => Number((await sql(app, 'SELECT count(*) AS n FROM invoices'))[0].n);

/** Asserts the refusal: the fixed message, the code, the path, no data, and the value nowhere in the answer. */
function expectRefused(res: GqlResponse, field: string, value: string): void {
  expect(res.body.errors).toHaveLength(1);
  expect(res.body.errors![0]).toMatchObject({ message: MESSAGE, extensions: { code: 'BAD_USER_INPUT', field } });
  expect(res.body.data ?? null).toBeNull();
  expect(JSON.stringify(res.body)).not.toContain(value);
}

function invoice(descriptions: string[]) {
  return {
    input: {
      patientId,
      currency: 'EUR',
      lines: descriptions.map((description) => ({ description, amountMinor: 1000 })),
    },
  };
}

beforeAll(async () => {
  app = await startTestApp();
  const signInAs = async (role: Role, options: { patientId?: string } = {}) => {
    accounts[role] = await createAccount(app, role, options);
    tokens[role] = (await signIn(app, accounts[role])).accessToken;
  };
  for (const role of ['ADMIN', 'BILLING', 'RECEPTIONIST', 'AUDITOR', 'PHYSICIAN'] as Role[]) await signInAs(role);
  const res = await app.gql(
    CREATE_PATIENT,
    { input: { firstName: 'Wendeline', lastName: 'Quarrington', dateOfBirth: '1979-06-30', sex: 'FEMALE' } },
    tokens.RECEPTIONIST,
  );
  patientId = res.body.data!.createPatient.id;
  await signInAs('PATIENT', { patientId });
});

afterAll(async () => {
  await app?.close();
});

describe('the PHI screen of free-text inputs', () => {
  it.each(Object.keys(PHI) as PhiHitKind[])(
    'refuses an invoice line description holding %s, writes nothing and records the field and kind only',
    async (kind) => {
      const value = PHI[kind]();
      const before = await invoiceCount();
      const seen = (await events(accounts.BILLING.user.id)).length;

      const res = await app.gql(CREATE_INVOICE, invoice(['Outpatient consultation', value]), tokens.BILLING);

      expectRefused(res, 'createInvoice.input.lines[1].description', value);
      expect(res.status).toBe(400);
      expect(await invoiceCount()).toBe(before);
      const recorded = (await events(accounts.BILLING.user.id)).slice(seen);
      expect(recorded).toEqual([
        { severity: 'MEDIUM', details: { field: 'createInvoice.input.lines.description', kinds: [kind] } },
      ]);
      expect(JSON.stringify(await sql(app, 'SELECT * FROM security_events'))).not.toContain(value);
      expect(JSON.stringify(await sql(app, 'SELECT * FROM siem_outbox'))).not.toContain(value);
      expect(app.logs.text()).not.toContain(value);
    },
  );

  it('accepts and stores descriptions that only look like PHI: invoice numbers, ICD-10 codes, dates, amounts', async () => {
    const res = await app.gql(CREATE_INVOICE, invoice(ACCEPTED), tokens.BILLING);

    expect(res.body.errors).toBeUndefined();
    const rows = await sql<{ description: string }>(
      app,
      'SELECT description FROM invoice_lines WHERE invoice_id = $1 ORDER BY position',
      [res.body.data!.createInvoice.id],
    );
    expect(rows.map((r) => r.description)).toEqual(ACCEPTED);
  });

  it('screens inline literals, aliases, fragments and variable defaults, and refuses the whole operation', async () => {
    const value = PHI.EMAIL();
    const before = await invoiceCount();
    const literal = await app.gql(
      `mutation {
        first: createInvoice(input: { patientId: "${patientId}", currency: "EUR", lines: [{ description: "Clean line", amountMinor: 100 }] }) { id }
        second: createInvoice(input: { patientId: "${patientId}", currency: "EUR", lines: [{ description: "${value}", amountMinor: 100 }] }) { id }
      }`,
      {},
      tokens.BILLING,
    );
    expectRefused(literal, 'createInvoice.input.lines[0].description', value);
    expect(await invoiceCount()).toBe(before);

    const viaDefault = await app.gql(
      `mutation($d: String = "${value}") { ...F }
       fragment F on Mutation { x: createInvoice(input: { patientId: "${patientId}", currency: "EUR", lines: [{ description: $d, amountMinor: 100 }] }) { id } }`,
      {},
      tokens.BILLING,
    );
    expectRefused(viaDefault, 'createInvoice.input.lines[0].description', value);
    expect(await invoiceCount()).toBe(before);
  });

  it('refuses a display name holding a name and a birth date, and creates no account', async () => {
    const value = PHI.DOB_WITH_NAME();
    const email = `guard.${randomBytes(4).toString('hex')}@example.test`;
    const input = { email, password: testPassword(), role: 'NURSE', displayName: value };

    const res = await app.gql(CREATE_USER, { input }, tokens.ADMIN);

    expectRefused(res, 'createUser.input.displayName', value);
    expect(await sql(app, 'SELECT id FROM users WHERE display_name = $1', [value])).toEqual([]);
    expect((await events(accounts.ADMIN.user.id)).at(-1)?.details).toEqual({
      field: 'createUser.input.displayName',
      kinds: ['DOB_WITH_NAME'],
    });
    const fine = await app.gql(CREATE_USER, { input: { ...input, displayName: 'Nurse A. Quarrington' } }, tokens.ADMIN);
    expect(fine.body.errors).toBeUndefined();
  });

  it('refuses a consent policy version holding an SSN and records no consent', async () => {
    const value = '219-09-9999';
    const res = await app.gql(
      GRANT,
      { input: { patientId, type: 'RESEARCH', policyVersion: value } },
      tokens.RECEPTIONIST,
    );

    expectRefused(res, 'grantConsent.input.policyVersion', value);
    expect(await sql(app, 'SELECT id FROM consents WHERE patient_id = $1', [patientId])).toEqual([]);
    const fine = await app.gql(
      GRANT,
      { input: { patientId, type: 'RESEARCH', policyVersion: 'v2026.1' } },
      tokens.RECEPTIONIST,
    );
    expect(fine.body.errors).toBeUndefined();
  });

  it('refuses an audit filter holding an email address, and accepts an action code', async () => {
    const value = PHI.EMAIL();
    const res = await app.gql(AUDIT, { filter: { action: value } }, tokens.AUDITOR);

    expectRefused(res, 'auditEvents.filter.action', value);
    expect((await events(accounts.AUDITOR.user.id)).at(-1)?.details).toEqual({
      field: 'auditEvents.filter.action',
      kinds: ['EMAIL'],
    });
    expect((await app.gql(AUDIT, { filter: { action: 'patient.read' } }, tokens.AUDITOR)).body.errors).toBeUndefined();
  });

  it('leaves PHI-marked arguments alone: a break-glass reason is sealed, not screened', async () => {
    const reason = `Unconscious, ID card says Wendeline Quarrington DOB 1979-06-30, phone +14155550123`;
    const res = await app.gql(BREAK_GLASS, { patientId, reason }, tokens.PHYSICIAN);

    expect(res.body.errors).toBeUndefined();
    expect(JSON.stringify(await sql(app, 'SELECT * FROM break_glass_grants'))).not.toContain('Quarrington');
  });

  it('never screens exempt credentials: a password shaped like an SSN is just a wrong password', async () => {
    const res = await app.gql(
      `mutation($email: String!, $password: String!) { login(email: $email, password: $password) { accessToken } }`,
      { email: accounts.BILLING.email, password: '123-45-6789' },
    );
    expect(codeOf(res)).toBe('UNAUTHENTICATED');
  });

  it('refuses a caller of the wrong role the same way, before access rules, and records it', async () => {
    const value = PHI.SSN();
    const seen = (await events(accounts.PATIENT.user.id)).length;
    const res = await app.gql(CREATE_INVOICE, invoice([value]), tokens.PATIENT);

    expectRefused(res, 'createInvoice.input.lines[0].description', value);
    expect(await events(accounts.PATIENT.user.id)).toHaveLength(seen + 1);
  });

  it('refuses an anonymous caller without recording a security event', async () => {
    const value = PHI.PHONE();
    const before = Number(
      (await sql(app, `SELECT count(*) AS n FROM security_events WHERE event_type = 'PHI_IN_INPUT'`))[0].n,
    );
    const res = await app.gql(CREATE_INVOICE, invoice([value]));

    expectRefused(res, 'createInvoice.input.lines[0].description', value);
    const after = Number(
      (await sql(app, `SELECT count(*) AS n FROM security_events WHERE event_type = 'PHI_IN_INPUT'`))[0].n,
    );
    expect(after).toBe(before);
    expect(app.logs.text()).not.toContain(value);
  });
});
