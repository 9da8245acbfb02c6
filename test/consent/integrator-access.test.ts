import { randomBytes } from 'node:crypto';

import type { Role } from '../../src/config/roles';
import { codeOf, createAccount, signIn, sql, testEmail, testPassword, type TestAccount } from '../support/accounts';
import { startTestApp, type TestApp } from '../support/app';

const tag = randomBytes(3).toString('hex');
const LAST_NAME = `Quillfeather${tag}`;
const BIRTH = '1968-02-29';
const CREATE_USER = `mutation($input: CreateUserInput!) { createUser(input: $input) { id role scopes } }`;
const CREATE_PATIENT = `mutation($input: PatientInput!) { createPatient(input: $input) { id } }`;
const ENCOUNTER = `mutation($input: EncounterInput!) { createEncounter(input: $input) { id } }`;
const ASSIGN = `mutation($patientId: ID!, $userId: ID!) { assignCareTeam(patientId: $patientId, userId: $userId) }`;
const GRANT = `mutation($input: ConsentInput!) { grantConsent(input: $input) { type given } }`;
const WITHDRAW = `mutation($patientId: ID!, $type: ConsentType!) { withdrawConsent(patientId: $patientId, type: $type) { type given } }`;
const READ = `query($id: ID!) { patient(id: $id) { id firstName ssn insuranceMemberId encounters { id reason } } }`;
const LIST = `{ patients(first: 100) { nodes { id } } }`;
const FIND_BY_MRN = `query($mrn: String) { findPatients(mrn: $mrn) { id } }`;
const FIND_BY_NAME = `query($lastName: String, $dob: Date) { findPatients(lastName: $lastName, dateOfBirth: $dob) { id } }`;

describe('integrator access through DATA_SHARING consent', () => {
  let app: TestApp;
  const tokens = {} as Record<Role, string>;
  const accounts = {} as Record<Role, TestAccount>;
  let scopedIntegrator: string;
  let unscopedIntegrator: string;

  /** A fictional patient, registered at the front desk, with a plain and a sensitive encounter by a care-team physician. */
  async function newPatient(): Promise<{
    id: string;
    mrn: string;
    plainEncounter: string;
    sensitiveEncounter: string;
  }> {
    const input = {
      firstName: `Wendeline${tag}`,
      lastName: LAST_NAME,
      dateOfBirth: BIRTH,
      sex: 'FEMALE',
      ssn: '219-09-9999',
      insuranceMemberId: `INS${tag}7788`,
    };
    const created = await app.gql(CREATE_PATIENT, { input }, tokens.RECEPTIONIST);
    expect(created.body.errors).toBeUndefined();
    const { id } = created.body.data!.createPatient;
    expect(
      (await app.gql(ASSIGN, { patientId: id, userId: accounts.PHYSICIAN.user.id }, tokens.ADMIN)).body.errors,
    ).toBeUndefined();
    // The front desk sees the MRN masked; the care-team physician sees it whole.
    const mrn = (await app.gql('query($id: ID!) { patient(id: $id) { mrn } }', { id }, tokens.PHYSICIAN)).body.data!
      .patient.mrn as string;
    const encounter = async (reason: string, sensitivity?: string) => {
      const res = await app.gql(
        ENCOUNTER,
        { input: { patientId: id, reason, diagnosisCodes: ['Z00.00'], sensitivity } },
        tokens.PHYSICIAN,
      );
      expect(res.body.errors).toBeUndefined();
      return res.body.data!.createEncounter.id as string;
    };
    return {
      id,
      mrn,
      plainEncounter: await encounter(`Annual check ${tag}`),
      sensitiveEncounter: await encounter(`Counselling ${tag}`, 'MENTAL_HEALTH'),
    };
  }

  const consent = (patientId: string, type: string, given: boolean) =>
    given
      ? // Consents that open the record to others are recorded by the privacy office (the patient's signed form).
        app.gql(GRANT, { input: { patientId, type, policyVersion: 'share-2026.1' } }, tokens.PRIVACY_OFFICER)
      : app.gql(WITHDRAW, { patientId, type }, tokens.RECEPTIONIST);

  /** What an integrator sees of one patient on each path: direct read, list page, and two searches. */
  async function seenBy(token: string, patient: { id: string; mrn: string }) {
    const direct = await app.gql(READ, { id: patient.id }, token);
    const ids = (list: { id: string }[] | undefined) => (list ?? []).map((p) => p.id);
    return {
      direct: direct.body.data?.patient ?? codeOf(direct),
      inList: ids((await app.gql(LIST, {}, token)).body.data?.patients.nodes).includes(patient.id),
      byMrn: ids((await app.gql(FIND_BY_MRN, { mrn: patient.mrn }, token)).body.data?.findPatients).includes(
        patient.id,
      ),
      byName: ids(
        (await app.gql(FIND_BY_NAME, { lastName: LAST_NAME, dob: BIRTH }, token)).body.data?.findPatients,
      ).includes(patient.id),
    };
  }

  const REFUSED = { direct: 'NOT_FOUND', inList: false, byMrn: false, byName: false };

  beforeAll(async () => {
    app = await startTestApp();
    for (const role of ['ADMIN', 'RECEPTIONIST', 'PHYSICIAN', 'PRIVACY_OFFICER'] as Role[]) {
      accounts[role] = await createAccount(app, role);
      tokens[role] = (await signIn(app, accounts[role])).accessToken;
    }
    const scoped = {
      email: testEmail('integrator'),
      password: testPassword(),
      role: 'INTEGRATOR',
      displayName: 'Partner lab feed',
      scopes: ['patients:read'],
    };
    const created = await app.gql(CREATE_USER, { input: scoped }, tokens.ADMIN);
    expect(created.body.errors).toBeUndefined();
    scopedIntegrator = (await signIn(app, scoped)).accessToken;
    unscopedIntegrator = (await signIn(app, await createAccount(app, 'INTEGRATOR'))).accessToken;
  });

  afterAll(async () => {
    await app?.close();
  });

  it('stores known scopes on INTEGRATOR accounts and refuses unknown scopes or scopes on other roles', async () => {
    const input = (role: string, scopes: string[]) => ({
      email: testEmail('scoped'),
      password: testPassword(),
      role,
      displayName: 'Scoped',
      scopes,
    });

    const ok = await app.gql(
      CREATE_USER,
      { input: input('INTEGRATOR', ['schema:read', 'patients:read', 'patients:read']) },
      tokens.ADMIN,
    );
    expect(ok.body.data!.createUser).toMatchObject({ role: 'INTEGRATOR', scopes: ['patients:read', 'schema:read'] });
    expect((await sql(app, 'SELECT scopes FROM users WHERE id = $1', [ok.body.data!.createUser.id]))[0].scopes).toEqual(
      ['patients:read', 'schema:read'],
    );

    for (const [role, scopes] of [
      ['INTEGRATOR', ['patients:write']],
      ['INTEGRATOR', ['PATIENTS:READ']],
      ['PHYSICIAN', ['patients:read']],
      ['ADMIN', ['schema:read']],
    ] as const) {
      const res = await app.gql(CREATE_USER, { input: input(role, [...scopes]) }, tokens.ADMIN);
      expect(codeOf(res)).toBe('BAD_USER_INPUT');
      expect(res.body.errors![0].extensions!.field).toBe('scopes');
    }
    expect(
      (await app.gql(CREATE_USER, { input: input('NURSE', []) }, tokens.ADMIN)).body.data!.createUser.scopes,
    ).toEqual([]);
  });

  it('hides a patient without DATA_SHARING consent from an integrator on every path, even with other consents given', async () => {
    const patient = await newPatient();
    await consent(patient.id, 'RESEARCH', true);
    await consent(patient.id, 'TREATMENT', true);

    expect(await seenBy(scopedIntegrator, patient)).toEqual(REFUSED);
  });

  it('shows a consenting patient to an integrator with clinical data but no insurance and no sensitive encounters', async () => {
    const patient = await newPatient();

    expect((await consent(patient.id, 'DATA_SHARING', true)).body.data!.grantConsent).toEqual({
      type: 'DATA_SHARING',
      given: true,
    });

    const seen = await seenBy(scopedIntegrator, patient);
    expect(seen).toMatchObject({ inList: true, byMrn: true, byName: true });
    expect(seen.direct).toMatchObject({
      id: patient.id,
      firstName: `Wendeline${tag}`,
      ssn: '219-09-9999',
      insuranceMemberId: null,
    });
    expect(seen.direct.encounters).toEqual([{ id: patient.plainEncounter, reason: `Annual check ${tag}` }]);
    const audited = await sql(
      app,
      "SELECT purpose FROM audit_events WHERE patient_id = $1 AND action = 'patient.read' AND actor_role = 'INTEGRATOR'",
      [patient.id],
    );
    expect(audited.length).toBeGreaterThan(0);
    for (const row of audited) expect(row.purpose).toBe('DATA_SHARING');
  });

  it('refuses the integrator on the very next request after withdrawal, on every path, and again after a fresh grant is withdrawn', async () => {
    const patient = await newPatient();
    await consent(patient.id, 'DATA_SHARING', true);
    expect((await seenBy(scopedIntegrator, patient)).inList).toBe(true);

    await consent(patient.id, 'DATA_SHARING', false);
    expect(await seenBy(scopedIntegrator, patient)).toEqual(REFUSED);

    await consent(patient.id, 'DATA_SHARING', true);
    expect((await seenBy(scopedIntegrator, patient)).byMrn).toBe(true);
    await consent(patient.id, 'DATA_SHARING', false);
    expect(await seenBy(scopedIntegrator, patient)).toEqual(REFUSED);
  });

  it('never lets an integrator without the patients:read scope read a patient, consent or not', async () => {
    const patient = await newPatient();
    expect(await seenBy(unscopedIntegrator, patient)).toEqual(REFUSED);

    await consent(patient.id, 'DATA_SHARING', true);

    expect(await seenBy(unscopedIntegrator, patient)).toEqual(REFUSED);
    expect((await seenBy(scopedIntegrator, patient)).inList).toBe(true);
  });

  it('shows a care-team physician sensitivity-labelled encounters only while SENSITIVE_DATA consent is current', async () => {
    const patient = await newPatient();
    const encounters = async () =>
      ((await app.gql(READ, { id: patient.id }, tokens.PHYSICIAN)).body.data!.patient.encounters as { id: string }[])
        .map((e) => e.id)
        .sort();

    expect(await encounters()).toEqual([patient.plainEncounter]);
    // The care-team physician cannot record the consent that would open these encounters to them.
    const selfGrant = await app.gql(
      GRANT,
      { input: { patientId: patient.id, type: 'SENSITIVE_DATA', policyVersion: 's-1' } },
      tokens.PHYSICIAN,
    );
    expect(selfGrant.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(await encounters()).toEqual([patient.plainEncounter]);

    await consent(patient.id, 'SENSITIVE_DATA', true);
    expect(await encounters()).toEqual([patient.plainEncounter, patient.sensitiveEncounter].sort());

    await consent(patient.id, 'SENSITIVE_DATA', false);
    expect(await encounters()).toEqual([patient.plainEncounter]);
  });
});
