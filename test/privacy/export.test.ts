import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import type { Role } from '../../src/config/roles';
import { toFhirBundle, validateJson, type JsonSchema } from '../../src/privacy/fhir';
import { codeAt, codeOf, createAccount, sessionIdOf, signIn, sql, type TestAccount } from '../support/accounts';
import { startTestApp, type TestApp } from '../support/app';
import { CARDS, invoiceFor, pay, tokenFor } from '../billing/billing-support';

const tag = randomBytes(3).toString('hex');
const CREATE = `mutation($input: PatientInput!) { createPatient(input: $input) { id mrn } }`;
const ENCOUNTER = `mutation($input: EncounterInput!) { createEncounter(input: $input) { id } }`;
const READ = `query($id: ID!) { patient(id: $id) { id firstName } }`;
const GRANT = `mutation($input: ConsentInput!) { grantConsent(input: $input) { type given } }`;
const WITHDRAW = `mutation($p: ID!, $t: ConsentType!) { withdrawConsent(patientId: $p, type: $t) { type given } }`;
const EXPORT = `mutation($patientId: ID!, $format: ExportFormat!) {
  requestDataExport(patientId: $patientId, format: $format) { id type status dueAt receivedAt completedAt format data certificate }
}`;
const ENROLL = `mutation { enrollTotp { secret } }`;
const CONFIRM = `mutation($code: String!) { confirmTotp(code: $code) { auth { accessToken } } }`;
const STEP_UP = `mutation($code: String) { stepUpMfa(code: $code) { accessToken } }`;
const MISSING = '00000000-0000-4000-8000-000000000000';

const SCHEMA_DIR = join(__dirname, '..', '..', 'schema', 'fhir');
const schemas: Record<string, JsonSchema> = Object.fromEntries(
  readdirSync(SCHEMA_DIR)
    .filter((f) => f.endsWith('.schema.json'))
    .map((f) => [f, JSON.parse(readFileSync(join(SCHEMA_DIR, f), 'utf8'))]),
);

/** Every identifier of the seeded patient, so scans can look for each one. */
const seeded = {
  firstName: `Oriel${tag}`,
  lastName: `Thistlewood${tag}`,
  ssn: '219-09-9999',
  email: `oriel.${tag}@example.test`,
  phone: '+14155550123',
  line1: `${tag} Juniper Lane`,
  memberId: `MEMBER${tag}42`,
  reason: `Recurring migraine with aura ${tag}`,
  notes: `Advised sleep hygiene ${tag}`,
};

let app: TestApp;
const tokens = {} as Record<Role, string>;
let patientId: string;
let mrn: string;
let otherPatientId: string;
let cardToken: string;

/** A staff account with TOTP enrolled whose session has just passed the second factor. */
async function steppedUp(role: Role): Promise<{ account: TestAccount; token: string; secret: string }> {
  const account = await createAccount(app, role);
  const { accessToken } = await signIn(app, account);
  const secret = (await app.gql(ENROLL, {}, accessToken)).body.data!.enrollTotp.secret as string;
  const confirmed = await app.gql(CONFIRM, { code: codeAt(secret) }, accessToken);
  expect(confirmed.body.errors).toBeUndefined();
  return { account, token: confirmed.body.data!.confirmTotp.auth.accessToken, secret };
}

function exportOf(token: string, id: string, format: 'JSON' | 'FHIR') {
  return app.gql(EXPORT, { patientId: id, format }, token);
}

beforeAll(async () => {
  app = await startTestApp();
  for (const role of ['PHYSICIAN', 'NURSE', 'RECEPTIONIST', 'BILLING', 'ADMIN', 'AUDITOR', 'INTEGRATOR'] as Role[]) {
    tokens[role] = (await signIn(app, await createAccount(app, role))).accessToken;
  }
  const input = {
    firstName: seeded.firstName,
    lastName: seeded.lastName,
    dateOfBirth: '1981-11-03',
    sex: 'FEMALE',
    ssn: seeded.ssn,
    email: seeded.email,
    phone: seeded.phone,
    address: { line1: seeded.line1, city: 'Springfield', postalCode: '62704', country: 'US' },
    insuranceMemberId: seeded.memberId,
  };
  const created = await app.gql(CREATE, { input }, tokens.PHYSICIAN);
  expect(created.body.errors).toBeUndefined();
  ({ id: patientId, mrn } = created.body.data!.createPatient);
  const other = await app.gql(CREATE, { input: { ...input, ssn: null, firstName: `Other${tag}` } }, tokens.PHYSICIAN);
  otherPatientId = other.body.data!.createPatient.id;

  const encounter = { patientId, reason: seeded.reason, notes: seeded.notes, diagnosisCodes: ['G43.109', 'R51.9'] };
  expect((await app.gql(ENCOUNTER, { input: encounter }, tokens.PHYSICIAN)).body.errors).toBeUndefined();
  const sensitive = { patientId, reason: `Follow-up ${tag}`, diagnosisCodes: ['F32.A'], sensitivity: 'MENTAL_HEALTH' };
  expect((await app.gql(ENCOUNTER, { input: sensitive }, tokens.PHYSICIAN)).body.errors).toBeUndefined();
  expect((await app.gql(READ, { id: patientId }, tokens.PHYSICIAN)).body.errors).toBeUndefined();

  tokens.PATIENT = (await signIn(app, await createAccount(app, 'PATIENT', { patientId }))).accessToken;
  for (const type of ['RESEARCH', 'DATA_SHARING', 'MARKETING']) {
    const res = await app.gql(GRANT, { input: { patientId, type, policyVersion: 'v2026.1' } }, tokens.PATIENT);
    expect(res.body.errors).toBeUndefined();
  }
  expect((await app.gql(WITHDRAW, { p: patientId, t: 'MARKETING' }, tokens.PATIENT)).body.errors).toBeUndefined();

  const invoiceId = await invoiceFor(app, tokens.BILLING, patientId, [9_900]);
  cardToken = await tokenFor(app, tokens.PATIENT, CARDS.visa);
  expect((await pay(app, tokens.PATIENT, invoiceId, cardToken)).body.errors).toBeUndefined();
});

afterAll(async () => {
  await app?.close();
});

describe('a patient exporting their own record as JSON', () => {
  let doc: any;
  let request: any;

  beforeAll(async () => {
    const res = await exportOf(tokens.PATIENT, patientId, 'JSON');
    expect(res.body.errors).toBeUndefined();
    request = res.body.data!.requestDataExport;
    doc = JSON.parse(request.data);
  });

  it('is completed at once, as an ACCESS request of format JSON due a month after receipt', () => {
    expect(request).toMatchObject({ type: 'ACCESS', status: 'COMPLETED', format: 'JSON', certificate: null });
    expect(request.completedAt).not.toBeNull();
    const received = new Date(request.receivedAt);
    const due = new Date(request.dueAt);
    expect(due.getUTCMonth()).toBe((received.getUTCMonth() + 1) % 12);
  });

  it('holds the decrypted demographics under the documented, versioned structure', () => {
    expect(doc).toMatchObject({ format: 'hms.patient-export', version: 1 });
    expect(doc.patient).toMatchObject({
      id: patientId,
      mrn,
      firstName: seeded.firstName,
      lastName: seeded.lastName,
      dateOfBirth: '1981-11-03',
      sex: 'FEMALE',
      ssn: '219-09-9999',
      email: seeded.email,
      phone: seeded.phone,
      address: { line1: seeded.line1, city: 'Springfield', postalCode: '62704', country: 'US' },
      insuranceMemberId: seeded.memberId,
      processingRestrictedAt: null,
    });
  });

  it('holds every encounter decrypted, sensitive ones included (Art. 15 covers all of it)', () => {
    expect(doc.encounters).toHaveLength(2);
    const plain = doc.encounters.find((e: any) => e.reason === seeded.reason);
    expect(plain).toMatchObject({ notes: seeded.notes, diagnosisCodes: ['G43.109', 'R51.9'], sensitivity: null });
    expect(doc.encounters.some((e: any) => e.sensitivity === 'MENTAL_HEALTH')).toBe(true);
  });

  it('holds the consent history and the current state per type', () => {
    expect(doc.consents.history.map((c: any) => [c.type, c.given])).toEqual([
      ['RESEARCH', true],
      ['DATA_SHARING', true],
      ['MARKETING', true],
      ['MARKETING', false],
    ]);
    expect(doc.consents.history[0]).toMatchObject({
      channel: 'PORTAL',
      recordedByRole: 'PATIENT',
      ip: expect.any(String),
    });
    const marketing = doc.consents.current.find((c: any) => c.type === 'MARKETING');
    expect(marketing).toMatchObject({ given: false, policyVersion: null });
  });

  it('holds payments with the processor token and last four digits only, never the card number', () => {
    expect(doc.payments).toHaveLength(1);
    expect(doc.payments[0]).toMatchObject({ processorToken: cardToken, cardLast4: '4242', amountMinor: 9_900 });
    expect(JSON.stringify(doc)).not.toContain(CARDS.visa);
    expect(doc.invoices[0]).toMatchObject({ totalMinor: 9_900, lines: [{ amountMinor: 9_900 }] });
  });

  it('holds the access history of the record: who, when, role and purpose', () => {
    const read = doc.accessHistory.find((h: any) => h.action === 'patient.read' && h.actorRole === 'PHYSICIAN');
    expect(read).toMatchObject({ purpose: 'TREATMENT', outcome: 'ALLOWED', actorId: expect.any(String) });
  });

  it('is audited as patient.export with field names only, and stored nowhere in plaintext', async () => {
    const rows = await sql<{ purpose: string; fields: string[]; actor_role: string }>(
      app,
      "SELECT purpose, fields, actor_role FROM audit_events WHERE action = 'patient.export' AND patient_id = $1",
      [patientId],
    );
    expect(rows).toEqual([
      {
        purpose: 'SELF_ACCESS',
        actor_role: 'PATIENT',
        fields: [
          'patient',
          'encounters',
          'consents',
          'careTeam',
          'invoices',
          'payments',
          'accessHistory',
          'dataSubjectRequests',
        ],
      },
    ]);
    const tables = await sql<{ table_name: string }>(
      app,
      "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
    );
    for (const { table_name } of tables) {
      const dump = await sql<{ t: string }>(
        app,
        `SELECT coalesce(string_agg(t::text, ' '), '') AS t FROM "${table_name}" t`,
      );
      for (const value of [seeded.firstName, seeded.notes, seeded.reason, seeded.line1, seeded.memberId]) {
        expect({ table_name, found: dump[0].t.includes(value) }).toEqual({ table_name, found: false });
      }
    }
  });
});

describe('a patient exporting their own record as FHIR R4', () => {
  let bundle: any;

  beforeAll(async () => {
    const res = await exportOf(tokens.PATIENT, patientId, 'FHIR');
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data!.requestDataExport).toMatchObject({ type: 'EXPORT', status: 'COMPLETED', format: 'FHIR' });
    bundle = JSON.parse(res.body.data!.requestDataExport.data);
  });

  it('is a collection Bundle that validates against the shipped R4 resource shapes', () => {
    expect(validateJson(bundle, 'Bundle.schema.json', schemas)).toEqual([]);
    expect(bundle).toMatchObject({ resourceType: 'Bundle', type: 'collection' });
    const urls = bundle.entry.map((e: any) => e.fullUrl);
    expect(new Set(urls).size).toBe(urls.length); // bdl-7: fullUrl unique
  });

  it('carries the Patient with the MRN under its system URI, name, birth date, gender, telecom and address', () => {
    const patient = bundle.entry.find((e: any) => e.resource.resourceType === 'Patient');
    expect(patient.fullUrl).toBe(`urn:uuid:${patientId}`);
    expect(patient.resource).toMatchObject({
      identifier: expect.arrayContaining([{ use: 'usual', system: 'urn:hms:fhir:identifier:mrn', value: mrn }]),
      name: [{ use: 'official', family: seeded.lastName, given: [seeded.firstName] }],
      birthDate: '1981-11-03',
      gender: 'female',
      telecom: expect.arrayContaining([{ system: 'email', value: seeded.email }]),
      address: [{ line: [seeded.line1], city: 'Springfield', postalCode: '62704', country: 'US' }],
    });
  });

  it('carries Encounters referencing the Patient, with ICD-10-CM diagnoses and the sensitivity label', () => {
    const encounters = bundle.entry
      .filter((e: any) => e.resource.resourceType === 'Encounter')
      .map((e: any) => e.resource);
    expect(encounters).toHaveLength(2);
    const plain = encounters.find((e: any) => e.reasonCode[0].text === seeded.reason);
    expect(plain.subject).toEqual({ reference: `urn:uuid:${patientId}` });
    expect(plain.contained.map((c: any) => c.code.coding[0])).toEqual([
      { system: 'http://hl7.org/fhir/sid/icd-10-cm', code: 'G43.109' },
      { system: 'http://hl7.org/fhir/sid/icd-10-cm', code: 'R51.9' },
    ]);
    expect(plain.diagnosis).toEqual([
      { condition: { reference: '#dx1' }, rank: 1 },
      { condition: { reference: '#dx2' }, rank: 2 },
    ]);
    const labelled = encounters.find((e: any) => e.meta?.security);
    expect(labelled.meta.security[0].code).toBe('PSY');
  });

  it('carries one Consent per record: the current grants active, the withdrawn and superseded inactive', () => {
    const consents = bundle.entry.filter((e: any) => e.resource.resourceType === 'Consent').map((e: any) => e.resource);
    const byType = (type: string) => consents.filter((c: any) => c.category[1].coding[0].code === type);
    expect(consents).toHaveLength(4);
    expect(byType('RESEARCH')[0]).toMatchObject({
      status: 'active',
      scope: { coding: [{ code: 'research' }] },
      provision: { type: 'permit', purpose: [{ code: 'HRESCH' }] },
      patient: { reference: `urn:uuid:${patientId}` },
    });
    expect(byType('MARKETING').map((c: any) => [c.status, c.provision.type])).toEqual([
      ['inactive', 'permit'],
      ['inactive', 'deny'],
    ]);
  });

  it('the validator refuses bundles that break the R4 shapes (so the check above can fail)', () => {
    const broken = (change: (b: any) => void) => {
      const copy = JSON.parse(JSON.stringify(bundle));
      change(copy);
      return validateJson(copy, 'Bundle.schema.json', schemas);
    };
    const resource = (b: any, type: string) => b.entry.find((e: any) => e.resource.resourceType === type).resource;
    expect(broken((b) => delete resource(b, 'Encounter').status)).not.toEqual([]);
    expect(broken((b) => (resource(b, 'Patient').gender = 'F'))).not.toEqual([]);
    expect(broken((b) => (resource(b, 'Patient').birthDate = '03/11/1981'))).not.toEqual([]);
    expect(broken((b) => (resource(b, 'Patient').name = []))).not.toEqual([]);
    expect(broken((b) => (resource(b, 'Patient').nickname = 'x'))).not.toEqual([]);
    expect(broken((b) => (resource(b, 'Encounter').class = { code: 'AMB' }))).not.toEqual([]);
    expect(broken((b) => (resource(b, 'Encounter').contained[0].code.coding[0].code = 'not-icd'))).not.toEqual([]);
    expect(
      broken((b) => {
        const consent = resource(b, 'Consent');
        delete consent.policy;
        delete consent.policyRule;
      }),
    ).not.toEqual([]);
    expect(broken((b) => (b.type = 'bag'))).not.toEqual([]);
    expect(broken((b) => (b.timestamp = '2026-12-04'))).not.toEqual([]);
    expect(broken((b) => (b.entry[0].resource = { resourceType: 'Observation', id: 'x' }))).not.toEqual([]);
  });

  it('builds the same shapes from the JSON document (one mapping, two formats)', async () => {
    const res = await exportOf(tokens.PATIENT, patientId, 'JSON');
    const fromJson = toFhirBundle(JSON.parse(res.body.data!.requestDataExport.data), 'b1');
    expect(validateJson(fromJson, 'Bundle.schema.json', schemas)).toEqual([]);
    expect(fromJson.entry).toHaveLength(bundle.entry.length);
  });
});

describe('who may export', () => {
  it('a patient cannot export anyone else’s record: answered exactly like a missing patient, nothing filed', async () => {
    const other = await exportOf(tokens.PATIENT, otherPatientId, 'JSON');
    const missing = await exportOf(tokens.PATIENT, MISSING, 'JSON');
    expect(codeOf(other)).toBe('NOT_FOUND');
    expect(other.body.errors![0].message).toBe(missing.body.errors![0].message);
    expect(other.body.data).toEqual(missing.body.data);
    const filed = await sql(app, 'SELECT id FROM data_subject_requests WHERE patient_id = $1', [otherPatientId]);
    expect(filed).toEqual([]);
    const denied = await sql(
      app,
      "SELECT 1 FROM audit_events WHERE action = 'patient.access' AND outcome = 'DENIED' AND patient_id = $1",
      [otherPatientId],
    );
    expect(denied).toHaveLength(1);
  });

  it.each(['PHYSICIAN', 'NURSE', 'RECEPTIONIST', 'BILLING', 'ADMIN', 'AUDITOR', 'INTEGRATOR'] as Role[])(
    'refuses %s',
    async (role) => {
      expect(codeOf(await exportOf(tokens[role], patientId, 'JSON'))).toBe('FORBIDDEN');
    },
  );

  it('refuses a caller who is not signed in', async () => {
    expect(codeOf(await app.gql(EXPORT, { patientId, format: 'JSON' }))).toBe('UNAUTHENTICATED');
  });

  it('a privacy officer without a second factor is refused; with a fresh one gets the export, audited as PRIVACY', async () => {
    const plain = await createAccount(app, 'PRIVACY_OFFICER');
    const refused = await exportOf((await signIn(app, plain)).accessToken, patientId, 'JSON');
    expect(codeOf(refused)).toBe('FORBIDDEN');
    expect(refused.body.errors![0].message).toContain('stepUpMfa');

    const officer = await steppedUp('PRIVACY_OFFICER');
    const res = await exportOf(officer.token, patientId, 'FHIR');
    expect(res.body.errors).toBeUndefined();
    expect(JSON.parse(res.body.data!.requestDataExport.data).resourceType).toBe('Bundle');
    const [row] = await sql(app, "SELECT purpose FROM audit_events WHERE action = 'patient.export' AND actor_id = $1", [
      officer.account.user.id,
    ]);
    expect(row).toEqual({ purpose: 'PRIVACY' });
  });

  it('a privacy officer whose second factor is older than STEP_UP_MAX_AGE_SECONDS is refused until stepUpMfa', async () => {
    const officer = await steppedUp('PRIVACY_OFFICER');
    await sql(app, "UPDATE sessions SET mfa_at = now() - interval '301 seconds' WHERE id = $1", [
      sessionIdOf(officer.token),
    ]);
    expect(codeOf(await exportOf(officer.token, patientId, 'JSON'))).toBe('FORBIDDEN');

    const stepped = await app.gql(STEP_UP, { code: codeAt(officer.secret, 1) }, officer.token);
    expect(stepped.body.errors).toBeUndefined();
    const res = await exportOf(stepped.body.data!.stepUpMfa.accessToken, patientId, 'JSON');
    expect(res.body.errors).toBeUndefined();
  });

  it('a patient with TOTP enrolled needs a recent second factor too', async () => {
    const account = await createAccount(app, 'PATIENT', { patientId: otherPatientId });
    const token = (await signIn(app, account)).accessToken;
    expect((await exportOf(token, otherPatientId, 'JSON')).body.errors).toBeUndefined();

    const secret = (await app.gql(ENROLL, {}, token)).body.data!.enrollTotp.secret;
    expect((await app.gql(CONFIRM, { code: codeAt(secret) }, token)).body.errors).toBeUndefined();
    await sql(app, "UPDATE sessions SET mfa_at = now() - interval '1 hour' WHERE id = $1", [sessionIdOf(token)]);
    expect(codeOf(await exportOf(token, otherPatientId, 'JSON'))).toBe('FORBIDDEN');
  });

  it('writes no PHI of the patient to any log line', () => {
    const logs = app.logs.text();
    for (const value of Object.values(seeded)) expect(logs).not.toContain(value);
    expect(logs).not.toContain(mrn);
    expect(logs).not.toContain(CARDS.visa);
  });
});

describe('rate limit', () => {
  it('allows five exports per user per hour, then answers RATE_LIMITED with retryAfterSeconds', async () => {
    // Same database and keys as the main app (its tokens are valid here), but limits at their real values.
    const keys = app.config.keys;
    const limitedApp = await startTestApp(
      {
        RATE_LIMIT_MULTIPLIER: '1',
        MASTER_KEYS: keys.masterKeys,
        BLIND_INDEX_KEY: keys.blindIndexKey.toString('base64'),
        AUDIT_HMAC_KEY: keys.auditHmacKey.toString('base64'),
        TOKEN_SIGNING_SECRET: app.config.tokens.signingSecret,
      },
      { databaseUrl: app.db.url },
    );
    try {
      const accessToken = tokens.PATIENT;
      for (let i = 0; i < 5; i += 1) {
        const res = await limitedApp.gql(EXPORT, { patientId, format: 'JSON' }, accessToken);
        expect(res.body.errors).toBeUndefined();
      }
      const over = await limitedApp.gql(EXPORT, { patientId, format: 'JSON' }, accessToken);
      expect(codeOf(over)).toBe('RATE_LIMITED');
      expect(over.body.errors![0].extensions!.retryAfterSeconds).toBeGreaterThan(0);
    } finally {
      await limitedApp.close();
    }
  });
});
