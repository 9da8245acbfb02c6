import { randomBytes, randomUUID } from 'node:crypto';

import type { Role } from '../../src/config/roles';
import { codeOf, createAccount, signIn, sql, type TestAccount } from '../support/accounts';
import { startTestApp, type TestApp } from '../support/app';

const tag = randomBytes(3).toString('hex');
const CREATE = `mutation Create($input: PatientInput!) { createPatient(input: $input) { id } }`;
const READ = `query Read($id: ID!) { patient(id: $id) { id lastName } }`;
const AUDIT = `query Audit($filter: AuditEventFilter, $first: Int!, $after: String) {
  auditEvents(filter: $filter, first: $first, after: $after) {
    nodes { id at action actorId actorRole patientId purpose outcome fields sessionId requestId ip userAgent }
    pageInfo { endCursor hasNextPage }
  }
}`;
const SECURITY = `query Security($filter: SecurityEventFilter, $first: Int!, $after: String) {
  securityEvents(filter: $filter, first: $first, after: $after) {
    nodes { id at eventType severity actorId patientId details }
    pageInfo { endCursor hasNextPage }
  }
}`;
const HISTORY = `query History($id: ID!) { accessHistory(patientId: $id) { at action actorId actorRole purpose outcome } }`;

const registration = (n: string) => ({
  firstName: `Odalys${tag}${n}`,
  lastName: `Brennecke${tag}${n}`,
  dateOfBirth: '1968-02-11',
  sex: 'FEMALE',
});

interface AuditNode {
  id: string;
  at: string;
  action: string;
  actorId: string | null;
  actorRole: string | null;
  patientId: string | null;
  purpose: string | null;
  outcome: string;
  fields: string[];
  requestId: string | null;
}

describe('reading the audit trail', () => {
  let app: TestApp;
  const accounts = {} as Record<Role, TestAccount>;
  const tokens = {} as Record<Role | 'OTHER_PATIENT', string>;
  let patientId: string;
  let otherPatientId: string;

  /** Every audit event matching `filter`, walking pages of `pageSize`. */
  async function allEvents(filter: Record<string, unknown>, pageSize: number): Promise<AuditNode[]> {
    const out: AuditNode[] = [];
    let after: string | null = null;
    for (let i = 0; i < 100; i += 1) {
      const res = await app.gql(AUDIT, { filter, first: pageSize, after }, tokens.AUDITOR);
      expect(res.body.errors).toBeUndefined();
      const page = res.body.data!.auditEvents;
      expect(page.nodes.length).toBeLessThanOrEqual(pageSize);
      out.push(...page.nodes);
      if (!page.pageInfo.hasNextPage) return out;
      after = page.pageInfo.endCursor;
    }
    throw new Error('paging did not end');
  }

  beforeAll(async () => {
    app = await startTestApp();
    for (const role of ['AUDITOR', 'PRIVACY_OFFICER', 'PHYSICIAN', 'NURSE', 'RECEPTIONIST', 'ADMIN'] as Role[]) {
      accounts[role] = await createAccount(app, role);
      tokens[role] = (await signIn(app, accounts[role])).accessToken;
    }
    patientId = (await app.gql(CREATE, { input: registration('a') }, tokens.RECEPTIONIST)).body.data!.createPatient.id;
    otherPatientId = (await app.gql(CREATE, { input: registration('b') }, tokens.RECEPTIONIST)).body.data!.createPatient
      .id;
    accounts.PATIENT = await createAccount(app, 'PATIENT', { patientId });
    tokens.PATIENT = (await signIn(app, accounts.PATIENT)).accessToken;
    tokens.OTHER_PATIENT = (
      await signIn(app, await createAccount(app, 'PATIENT', { patientId: otherPatientId }))
    ).accessToken;
    // Five reads of the first patient by the receptionist, two of the second.
    for (let i = 0; i < 5; i += 1)
      expect((await app.gql(READ, { id: patientId }, tokens.RECEPTIONIST)).status).toBe(200);
    for (let i = 0; i < 2; i += 1) await app.gql(READ, { id: otherPatientId }, tokens.RECEPTIONIST);
  });

  afterAll(async () => {
    await app?.close();
  });

  describe('auditEvents', () => {
    it('filters by patient and action, newest first, with every column the contract names', async () => {
      const res = await app.gql(AUDIT, { filter: { patientId, action: 'patient.read' }, first: 100 }, tokens.AUDITOR);

      expect(res.body.errors).toBeUndefined();
      const nodes: AuditNode[] = res.body.data!.auditEvents.nodes;
      expect(nodes).toHaveLength(5);
      for (const node of nodes) {
        expect(node).toMatchObject({
          action: 'patient.read',
          actorId: accounts.RECEPTIONIST.user.id,
          actorRole: 'RECEPTIONIST',
          patientId,
          purpose: 'OPERATIONS',
          outcome: 'ALLOWED',
          fields: ['id', 'lastName'],
        });
        expect(node.requestId).toEqual(expect.any(String));
      }
      const times = nodes.map((n) => Date.parse(n.at));
      expect([...times].sort((a, b) => b - a)).toEqual(times);
      expect(res.body.data!.auditEvents.pageInfo.hasNextPage).toBe(false);
    });

    it('filters by actor and by time', async () => {
      const byActor = await allEvents({ actorId: accounts.RECEPTIONIST.user.id, action: 'patient.read' }, 100);
      expect(byActor).toHaveLength(7);

      const all = await allEvents({ action: 'patient.read', actorId: accounts.RECEPTIONIST.user.id }, 100);
      // `to` is exclusive and `from` inclusive: the window from the 3rd newest up to the newest leaves out the newest.
      const windowed = await allEvents(
        { action: 'patient.read', actorId: accounts.RECEPTIONIST.user.id, from: all[2].at, to: all[0].at },
        100,
      );
      const expected = all.filter((n) => Date.parse(n.at) >= Date.parse(all[2].at) && n.at < all[0].at);
      expect(windowed.map((n) => n.id)).toEqual(expected.map((n) => n.id));
      expect(windowed.length).toBeGreaterThanOrEqual(1);
      expect(windowed.map((n) => n.id)).not.toContain(all[0].id);

      const none = await allEvents({ actorId: randomUUID() }, 10);
      expect(none).toEqual([]);
    });

    it('pages through every row exactly once, in the same order as one big page', async () => {
      const filter = { actorId: accounts.RECEPTIONIST.user.id };
      const whole = await allEvents(filter, 100);
      const paged = await allEvents(filter, 2);

      expect(whole.length).toBeGreaterThanOrEqual(9);
      expect(paged.map((n) => n.id)).toEqual(whole.map((n) => n.id));
      expect(new Set(paged.map((n) => n.id)).size).toBe(paged.length);
    });

    it('refuses a tampered cursor, a cursor of another list, a bad id and a page size out of range', async () => {
      const first = await app.gql(AUDIT, { filter: {}, first: 1 }, tokens.AUDITOR);
      const cursor: string = first.body.data!.auditEvents.pageInfo.endCursor;
      const decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown[];
      const forged = Buffer.from(JSON.stringify([decoded[0], '1; DROP TABLE audit_events'])).toString('base64url');
      const security = await app.gql(SECURITY, { filter: {}, first: 1 }, tokens.AUDITOR);
      const otherList: string = security.body.data!.securityEvents.pageInfo.endCursor ?? 'none';

      for (const [variables, field] of [
        [{ first: 5, after: forged }, 'after'],
        [{ first: 5, after: 'not-a-cursor' }, 'after'],
        [{ first: 5, after: otherList }, 'after'],
        [{ first: 0 }, 'first'],
        [{ first: 101 }, 'first'],
        [{ first: 5, filter: { patientId: 'not-an-id' } }, 'filter.patientId'],
        [{ first: 5, filter: { from: '2026-12-02T00:00:00Z', to: '2026-12-01T00:00:00Z' } }, 'filter.from'],
      ] as [Record<string, unknown>, string][]) {
        const res = await app.gql(AUDIT, variables, tokens.AUDITOR);
        expect({ variables, code: codeOf(res), field: res.body.errors?.[0]?.extensions?.field }).toEqual({
          variables,
          code: 'BAD_USER_INPUT',
          field,
        });
        expect(res.body.data).toBeNull();
      }
    });

    it('is itself audited: each read leaves an audit.read row naming the reader and the patient asked about', async () => {
      const requestId = `audit-read-${tag}`;
      const res = await app.gql(AUDIT, { filter: { patientId }, first: 3 }, tokens.PRIVACY_OFFICER, {
        'x-request-id': requestId,
      });
      expect(res.body.errors).toBeUndefined();

      const rows = await sql(app, 'SELECT * FROM audit_events WHERE request_id = $1', [requestId]);
      expect(rows).toEqual([
        expect.objectContaining({
          action: 'audit.read',
          actor_id: accounts.PRIVACY_OFFICER.user.id,
          actor_role: 'PRIVACY_OFFICER',
          patient_id: patientId,
          purpose: 'OPERATIONS',
          outcome: 'ALLOWED',
          fields: [
            'id',
            'at',
            'action',
            'actorId',
            'actorRole',
            'patientId',
            'purpose',
            'outcome',
            'fields',
            'sessionId',
            'requestId',
            'ip',
            'userAgent',
          ],
        }),
      ]);
      // The read is recorded after the page is read: it is not in its own answer.
      expect(res.body.data!.auditEvents.nodes.map((n: AuditNode) => n.requestId)).not.toContain(requestId);
    });

    it('is refused to PHYSICIAN, NURSE, PATIENT, RECEPTIONIST and ADMIN, and to anonymous callers', async () => {
      for (const who of ['PHYSICIAN', 'NURSE', 'PATIENT', 'RECEPTIONIST', 'ADMIN'] as Role[]) {
        const audit = await app.gql(AUDIT, { first: 5 }, tokens[who]);
        const security = await app.gql(SECURITY, { first: 5 }, tokens[who]);
        expect({ who, audit: codeOf(audit), security: codeOf(security) }).toEqual({
          who,
          audit: 'FORBIDDEN',
          security: 'FORBIDDEN',
        });
        expect(audit.body.data).toBeNull();
        expect(security.body.data).toBeNull();
      }
      expect(codeOf(await app.gql(AUDIT, { first: 5 }))).toBe('UNAUTHENTICATED');
      expect(codeOf(await app.gql(SECURITY, { first: 5 }))).toBe('UNAUTHENTICATED');
    });
  });

  describe('securityEvents', () => {
    it('lists security events by type and severity with their details, newest first and paged', async () => {
      // Three failed sign-ins of the nurse's account raise SIGN_IN_FAILED events.
      for (let i = 0; i < 3; i += 1) {
        await app.gql(
          `mutation { login(email: "${accounts.NURSE.email}", password: "Guess-${tag}-${i}") { accessToken } }`,
        );
      }
      const filter = { eventType: 'SIGN_IN_FAILED', severity: 'LOW', actorId: accounts.NURSE.user.id };

      const whole = await app.gql(SECURITY, { filter, first: 100 }, tokens.AUDITOR);
      const firstPage = await app.gql(SECURITY, { filter, first: 2 }, tokens.PRIVACY_OFFICER);
      const after = firstPage.body.data!.securityEvents.pageInfo.endCursor;
      const secondPage = await app.gql(SECURITY, { filter, first: 2, after }, tokens.PRIVACY_OFFICER);

      expect(whole.body.errors).toBeUndefined();
      const nodes = whole.body.data!.securityEvents.nodes;
      expect(nodes).toHaveLength(3);
      for (const node of nodes) {
        expect(node).toMatchObject({ eventType: 'SIGN_IN_FAILED', severity: 'LOW', actorId: accounts.NURSE.user.id });
        expect(node.details).toEqual({ reasonCode: 'wrong-password', requestId: expect.any(String) });
      }
      expect(firstPage.body.data!.securityEvents.pageInfo.hasNextPage).toBe(true);
      expect([...firstPage.body.data!.securityEvents.nodes, ...secondPage.body.data!.securityEvents.nodes]).toEqual(
        nodes,
      );
      expect(secondPage.body.data!.securityEvents.pageInfo.hasNextPage).toBe(false);
      const other = await app.gql(SECURITY, { filter: { ...filter, severity: 'HIGH' }, first: 10 }, tokens.AUDITOR);
      expect(other.body.data!.securityEvents.nodes).toEqual([]);
      // Never the email or the password given.
      expect(JSON.stringify(nodes)).not.toContain(accounts.NURSE.email);
      expect(JSON.stringify(nodes)).not.toContain(`Guess-${tag}`);
    });
  });

  describe('accessHistory', () => {
    it('shows a patient who opened their record, when and why, without the reads of the trail itself', async () => {
      await app.gql(AUDIT, { filter: { patientId }, first: 1 }, tokens.AUDITOR);
      const requestId = `history-self-${tag}`;

      const res = await app.gql(HISTORY, { id: patientId }, tokens.PATIENT, { 'x-request-id': requestId });

      expect(res.body.errors).toBeUndefined();
      const history = res.body.data!.accessHistory;
      const reads = history.filter((h: { action: string }) => h.action === 'patient.read');
      expect(reads).toHaveLength(5);
      expect(reads[0]).toEqual({
        at: expect.any(String),
        action: 'patient.read',
        actorId: accounts.RECEPTIONIST.user.id,
        actorRole: 'RECEPTIONIST',
        purpose: 'OPERATIONS',
        outcome: 'ALLOWED',
      });
      expect(history.map((h: { action: string }) => h.action)).toContain('patient.create');
      expect(history.map((h: { action: string }) => h.action)).not.toContain('audit.read');
      const times = history.map((h: { at: string }) => Date.parse(h.at));
      expect([...times].sort((a, b) => b - a)).toEqual(times);
      const rows = await sql(
        app,
        'SELECT action, actor_id, patient_id, purpose FROM audit_events WHERE request_id = $1',
        [requestId],
      );
      expect(rows).toEqual([
        {
          action: 'access_history.read',
          actor_id: accounts.PATIENT.user.id,
          patient_id: patientId,
          purpose: 'SELF_ACCESS',
        },
      ]);
    });

    it("answers another patient's history exactly like a patient that does not exist", async () => {
      const other = await app.gql(HISTORY, { id: patientId }, tokens.OTHER_PATIENT);
      const missing = await app.gql(HISTORY, { id: randomUUID() }, tokens.OTHER_PATIENT);
      const missingForOfficer = await app.gql(HISTORY, { id: randomUUID() }, tokens.PRIVACY_OFFICER);

      expect(codeOf(other)).toBe('NOT_FOUND');
      expect(other.body).toEqual(missing.body);
      expect(other.body).toEqual(missingForOfficer.body);
      expect(other.status).toBe(missing.status);
    });

    it('is open to PRIVACY_OFFICER and AUDITOR and refused to clinicians and other staff', async () => {
      for (const who of ['PRIVACY_OFFICER', 'AUDITOR'] as Role[]) {
        const res = await app.gql(HISTORY, { id: patientId }, tokens[who]);
        expect({ who, errors: res.body.errors }).toEqual({ who, errors: undefined });
        expect(res.body.data!.accessHistory.length).toBeGreaterThanOrEqual(6);
      }
      for (const who of ['PHYSICIAN', 'NURSE', 'RECEPTIONIST', 'ADMIN'] as Role[]) {
        const res = await app.gql(HISTORY, { id: patientId }, tokens[who]);
        expect({ who, code: codeOf(res) }).toEqual({ who, code: 'FORBIDDEN' });
        expect(res.body.data).toBeNull();
      }
    });
  });
});
