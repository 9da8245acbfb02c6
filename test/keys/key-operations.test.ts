import { randomBytes, randomUUID } from 'node:crypto';
import { Client } from 'pg';

import { User } from '../../src/auth/user.entity';
import { runKeyCommand, type ProgressStream } from '../../src/cli/keys.commands';
import { loadConfig } from '../../src/config/config';
import { CryptoError } from '../../src/crypto';
import { KeyRotationService } from '../../src/keys/key-rotation.service';
import { Encounter } from '../../src/patients/encounter.entity';
import { Patient } from '../../src/patients/patient.entity';
import { createServices, type Services } from '../../src/services';
import { startTestApp, testEnv, type TestApp } from '../support/app';
import { rawQuery } from '../support/database';

const K1 = randomBytes(32).toString('base64');
const K2 = randomBytes(32).toString('base64');

interface SeededPatient {
  id: string;
  values: Record<string, unknown>;
}

/** Another process over the same database: its own key ring and cold caches. */
function servicesWith(app: TestApp, overrides: Record<string, string | undefined>): Services {
  const env = testEnv(app.db.url, {
    MASTER_KEYS: `1:${K1},2:${K2}`,
    BLIND_INDEX_KEY: app.config.keys.blindIndexKey.toString('base64'),
    ...overrides,
  });
  return createServices(loadConfig(env), app.services.orm, app.logger);
}

async function seedPatient(services: Services, tag: string): Promise<SeededPatient> {
  const em = services.orm.em.fork();
  const id = randomUUID();
  const patient = em.create(Patient, { id, createdAt: new Date(), updatedAt: new Date() } as never);
  const values = {
    mrn: `MRN-${tag}`,
    firstName: `Ada${tag}`,
    lastName: 'Testperson',
    dateOfBirth: '1980-01-02',
    sex: 'FEMALE',
    email: `ada.${tag}@example.test`,
    address: { line1: '1 Fictional Way', city: 'Nowhere', postalCode: '00000', country: 'ZZ' },
  };
  await services.vault.assign(em, patient, values);
  await em.flush();
  return { id, values: { ssn: null, phone: null, insuranceMemberId: null, ...values } };
}

async function seedEncounter(services: Services, patientId: string, reason: string): Promise<string> {
  const em = services.orm.em.fork();
  const id = randomUUID();
  const encounter = em.create(Encounter, { id, patientId, startedAt: new Date(), createdAt: new Date() } as never);
  await services.vault.assign(em, encounter, { reason, notes: `notes on ${reason}`, diagnosisCodes: ['Z00.0'] });
  await em.flush();
  return id;
}

async function seedUser(services: Services, email: string): Promise<string> {
  const em = services.orm.em.fork();
  const id = randomUUID();
  const now = new Date();
  const user = em.create(User, {
    id,
    passwordHash: 'not-a-real-hash',
    role: 'NURSE',
    displayName: 'Fictional Nurse',
    passwordChangedAt: now,
    createdAt: now,
    updatedAt: now,
  } as never);
  await services.vault.assign(em, user, { email });
  await em.flush();
  return id;
}

async function readPatient(services: Services, id: string): Promise<Record<string, unknown>> {
  const em = services.orm.em.fork();
  return services.vault.openAll(em, await em.findOneOrFail(Patient, id));
}

async function expectUnreadable(promise: Promise<unknown>): Promise<void> {
  const error = await promise.then(
    (value) => new Error(`expected a crypto failure, got ${typeof value}`),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(CryptoError);
  expect(['KEY_DESTROYED', 'DECRYPT_FAILED']).toContain((error as CryptoError).code);
}

async function liveKeysByVersion(app: TestApp): Promise<Record<number, number>> {
  const rows = await rawQuery<{ v: number; n: number }>(
    app.db.url,
    'SELECT master_version AS v, count(*)::int AS n FROM data_keys WHERE wrapped IS NOT NULL GROUP BY 1',
  );
  return Object.fromEntries(rows.map((r) => [r.v, r.n]));
}

function command(services: Services, name: string, args: string[], progress?: ProgressStream) {
  const lines: string[] = [];
  const sink = progress ?? { isTTY: false, write: () => true };
  return runKeyCommand(name, services, { args, out: (l) => lines.push(l) }, sink).then((code) => ({
    code,
    lines,
    text: lines.join('\n'),
  }));
}

function captureStream(isTTY: boolean): ProgressStream & { text: string } {
  const stream = { isTTY, text: '', write: (chunk: string) => ((stream.text += chunk), true) };
  return stream;
}

describe('master key rotation', () => {
  let app: TestApp;
  let rotator: Services;
  const patients: SeededPatient[] = [];

  beforeAll(async () => {
    app = await startTestApp({ MASTER_KEYS: `1:${K1},2:${K2}`, MASTER_KEY_ACTIVE: '1' });
    rotator = servicesWith(app, { MASTER_KEY_ACTIVE: '2' });
    for (let i = 0; i < 12; i++) {
      const batch = await Promise.all(Array.from({ length: 10 }, (_, j) => seedPatient(app.services, `r${i}-${j}`)));
      patients.push(...batch);
    }
    await seedEncounter(app.services, patients[0].id, 'Routine check');
    const shredded = await seedPatient(app.services, 'shredded');
    await app.services.dataKeys.shred(app.services.orm.em.fork(), shredded.id);
  });

  afterAll(async () => {
    await rotator?.close();
    await app?.close();
  });

  it('keys:status counts keys per master version and keys:retire refuses a version that still wraps keys', async () => {
    const status = await command(rotator, 'keys:status', []);
    const retireOld = await command(rotator, 'keys:retire', ['--version', '1']);
    const retireActive = await command(rotator, 'keys:retire', ['--version=2']);

    expect(status.code).toBe(0);
    expect(status.lines[0]).toBe('master key versions (active: 2)');
    expect(status.text).toMatch(/^ {2}1 +120 +1 {2}no: 120 data keys still wrapped by it: run keys:rotate$/m);
    expect(status.text).toMatch(/^ {2}2 +0 +0 {2}no: active/m);
    expect(status.text).toContain('data keys: 120 live, 1 destroyed, 0 superseded');
    expect(retireOld.code).toBe(1);
    expect(retireOld.text).toContain('still wraps 120 data keys');
    expect(retireActive.code).toBe(1);
    expect(retireActive.text).toContain('active master key version');
  });

  it('a wrong master key under version 1 fails loudly and changes nothing', async () => {
    const wrong = servicesWith(app, {
      MASTER_KEYS: `1:${randomBytes(32).toString('base64')},2:${K2}`,
      MASTER_KEY_ACTIVE: '2',
    });

    await expect(readPatient(wrong, patients[0].id)).rejects.toMatchObject({ code: 'DECRYPT_FAILED' });
    await expect(new KeyRotationService(wrong.orm, wrong.dataKeys).rewrapAll()).rejects.toMatchObject({
      code: 'DECRYPT_FAILED',
    });
    expect(await liveKeysByVersion(app)).toEqual({ 1: 120 });
    await wrong.close();
  });

  it('a run that stops or crashes midway leaves finished batches done and the rest for a rerun', async () => {
    const progress = captureStream(true);
    const rotation = new KeyRotationService(rotator.orm, rotator.dataKeys);

    const first = await command(rotator, 'keys:rotate', ['--batch-size', '10', '--max-batches', '1'], progress);
    const crash = rotation.rewrapAll({
      batchSize: 10,
      beforeCommit: async (batch) => {
        if (batch === 1) {
          // A writer touching a subject whose key row this open batch holds locked is not blocked.
          const [{ subject_id }] = await rawQuery<{ subject_id: string }>(
            app.db.url,
            'SELECT subject_id FROM data_keys WHERE master_version = 1 AND wrapped IS NOT NULL ORDER BY id LIMIT 1',
          );
          const target = patients.find((p) => p.id === subject_id) as SeededPatient;
          const em = app.services.orm.em.fork();
          await app.services.vault.assign(em, await em.findOneOrFail(Patient, target.id), { firstName: 'Renamed' });
          await em.flush();
          target.values.firstName = 'Renamed';
        }
        if (batch === 2) throw new Error('simulated crash');
      },
    });

    expect(first.code).toBe(0);
    expect(first.text).toContain('re-wrapped 10 data keys under master key version 2');
    expect(first.text).toContain('stopped after 1 batches as asked; 110 keys remain');
    expect(progress.text).toMatch(/\rre-wrapping data keys \[#+\.*\] 10\/120 8%/);
    await expect(crash).rejects.toThrow('simulated crash');
    expect(await liveKeysByVersion(app)).toEqual({ 1: 100, 2: 20 });
  });

  it('keys:rotate re-wraps every key under the active version while writes continue, and every value still decrypts', async () => {
    const upgraded = servicesWith(app, { MASTER_KEY_ACTIVE: '2' });
    const progress = captureStream(false);
    let rotating = true;
    const written: SeededPatient[] = [];
    let writesDuringRotation = 0;
    const writers = [0, 1].map(async (w) => {
      for (let i = 0; rotating || i < 3; i++) {
        written.push(await seedPatient(upgraded, `w${w}-${i}`));
        if (rotating) writesDuringRotation++;
      }
    });
    const updater = (async () => {
      for (let i = 0; rotating || i < 3; i++) {
        const target = patients[(i * 7) % patients.length];
        const em = upgraded.orm.em.fork();
        await upgraded.vault.assign(em, await em.findOneOrFail(Patient, target.id), { lastName: `Updated${i}` });
        await em.flush();
        target.values.lastName = `Updated${i}`;
        if (rotating) writesDuringRotation++;
      }
    })();

    const result = await command(rotator, 'keys:rotate', ['--batch-size', '5'], progress);
    rotating = false;
    await Promise.all([...writers, updater]);

    expect(result.code).toBe(0);
    expect(writesDuringRotation).toBeGreaterThan(0);
    expect(result.text).toMatch(/^keys:rotate: re-wrapped 100 data keys under master key version 2 in \d+\.\d s$/m);
    expect(result.lines).toContain('  from version 1: 100');
    expect(result.lines).toContain('  1 destroyed key skipped');
    expect(progress.text).toMatch(/^re-wrapping data keys: 100\/100 \(100%\)$/m);
    // The rotation is a security event (queryable, exported to the SIEM), with counts only.
    const events = await rawQuery<{ severity: string; details: Record<string, unknown> }>(
      app.db.url,
      "SELECT severity, details FROM security_events WHERE event_type = 'KEY_ROTATION' AND details->>'phase' = 'rewrap'",
    );
    expect(events.map((e) => e.details)).toContainEqual(
      expect.objectContaining({ activeVersion: 2, rewrapped: 100, remaining: 0 }),
    );
    expect(await liveKeysByVersion(app)).toEqual({ 2: 120 + written.length });
    const onlyVersion2 = servicesWith(app, { MASTER_KEYS: `2:${K2}`, MASTER_KEY_ACTIVE: undefined });
    for (const p of [...patients, ...written]) expect(await readPatient(onlyVersion2, p.id)).toEqual(p.values);
    await onlyVersion2.close();
    await upgraded.close();
  });

  it('a rerun with nothing left says so, and version 1 can then be retired', async () => {
    const rerun = await command(rotator, 'keys:rotate', []);
    const retire = await command(rotator, 'keys:retire', ['--version', '1']);
    const status = await command(rotator, 'keys:status', []);

    expect(rerun.code).toBe(0);
    expect(rerun.text).toBe(
      'keys:rotate: nothing to do: every live data key is wrapped by master key version 2 (1 destroyed key skipped)',
    );
    expect(retire.code).toBe(0);
    expect(retire.text).toContain('safe to remove it from MASTER_KEYS');
    expect(status.text).toMatch(/^ {2}1 +0 +1 {2}yes: no data key is wrapped by it$/m);
  });

  it('refuses to rotate from a process whose active version is older than keys already in the database', async () => {
    const stale = servicesWith(app, { MASTER_KEY_ACTIVE: '1' });

    const result = await command(stale, 'keys:rotate', ['--reencrypt-fields']);

    expect(result.code).toBe(1);
    expect(result.lines[0]).toMatch(/^keys:rotate: refusing: data keys are wrapped by a master key version newer than/);
    expect(await liveKeysByVersion(app)).toEqual({ 2: expect.any(Number) });
    await stale.close();
  });
});

describe('keys:rotate --reencrypt-fields', () => {
  let app: TestApp;
  let rotator: Services;
  const patients: SeededPatient[] = [];
  let userId: string;
  let before: Map<string, string>;

  const subjectKeys = async (subject: string) =>
    rawQuery<{ id: string; version: number; master_version: number; wrapped: Buffer | null }>(
      app.db.url,
      'SELECT id, version, master_version, wrapped FROM data_keys WHERE subject_id = $1 ORDER BY version',
      [subject],
    );
  const envelopes = async () =>
    new Map(
      (
        await rawQuery<{ id: string; v: string }>(
          app.db.url,
          `SELECT id::text || '.first_name' AS id, first_name AS v FROM patients
           UNION ALL SELECT id::text || '.mrn_bidx', mrn_bidx FROM patients
           UNION ALL SELECT id::text || '.reason', reason FROM encounters
           UNION ALL SELECT id::text || '.email', email FROM users`,
        )
      ).map((r) => [r.id, r.v]),
    );

  beforeAll(async () => {
    app = await startTestApp({ MASTER_KEYS: `1:${K1},2:${K2}`, MASTER_KEY_ACTIVE: '1' });
    rotator = servicesWith(app, { MASTER_KEY_ACTIVE: '2' });
    for (let i = 0; i < 12; i++) {
      const patient = await seedPatient(app.services, `f${i}`);
      await seedEncounter(app.services, patient.id, `Reason ${i}a`);
      await seedEncounter(app.services, patient.id, `Reason ${i}b`);
      patients.push(patient);
    }
    userId = await seedUser(app.services, `nurse.${randomUUID()}@example.test`);
    before = await envelopes();
  });

  afterAll(async () => {
    await rotator?.close();
    await app?.close();
  });

  it('a run stopped after one batch leaves every value readable and a rerun with the same cutoff finishes it', async () => {
    const rotation = new KeyRotationService(rotator.orm, rotator.dataKeys);
    const partial = await rotation.reencryptFields({ batchSize: 5, maxBatches: 1 });
    const lateName = 'Written by a server that had not noticed the new key';
    let lateEnvelopeKey = '';

    const full = await rotation.reencryptFields({
      batchSize: 5,
      createdBefore: partial.cutoff,
      graceMs: 1_000,
      // During the grace period a server still caching the old key id writes under it.
      sleep: async (ms) => {
        const em = app.services.orm.em.fork();
        await app.services.vault.assign(em, await em.findOneOrFail(Patient, patients[11].id), { firstName: lateName });
        await em.flush();
        patients[11].values.firstName = lateName;
        const [{ first_name }] = await rawQuery<{ first_name: string }>(
          app.db.url,
          'SELECT first_name FROM patients WHERE id = $1',
          [patients[11].id],
        );
        lateEnvelopeKey = first_name.slice(5, 41);
        await new Promise((resolve) => setTimeout(resolve, ms));
      },
    });

    expect(partial).toMatchObject({ subjects: 5, newVersions: 5, retired: 0, stoppedEarly: true });
    expect(full).toMatchObject({ subjects: 13, newVersions: 8, retired: 13, kept: 0, stoppedEarly: false });
    expect(full.unreadable.size).toBe(0);
    const [oldKey, newKey] = await subjectKeys(patients[11].id);
    expect(lateEnvelopeKey).toBe(oldKey.id);
    const [{ first_name }] = await rawQuery<{ first_name: string }>(
      app.db.url,
      'SELECT first_name FROM patients WHERE id = $1',
      [patients[11].id],
    );
    expect(first_name.slice(5, 41)).toBe(newKey.id);
  });

  it('every sealed value is under a new data key version, still decrypts, and blind indexes are unchanged', async () => {
    const after = await envelopes();
    const onlyVersion2 = servicesWith(app, { MASTER_KEYS: `2:${K2}`, MASTER_KEY_ACTIVE: undefined });

    for (const p of patients) {
      const [old, current] = await subjectKeys(p.id);
      expect(old).toMatchObject({ version: 1, wrapped: null });
      expect(current).toMatchObject({ version: 2, master_version: 2 });
      expect(after.get(`${p.id}.first_name`)).toMatch(new RegExp(`^phi1\\.${current.id}\\.`));
      expect(after.get(`${p.id}.first_name`)).not.toBe(before.get(`${p.id}.first_name`));
      expect(after.get(`${p.id}.mrn_bidx`)).toBe(before.get(`${p.id}.mrn_bidx`));
      expect(await readPatient(onlyVersion2, p.id)).toEqual(p.values);
    }
    const em = onlyVersion2.orm.em.fork();
    const encounters = await em.find(Encounter, { patientId: patients.map((p) => p.id) });
    expect(encounters).toHaveLength(24);
    for (const e of encounters) expect(await onlyVersion2.vault.open(em, e, 'reason')).toMatch(/^Reason \d+[ab]$/);
    const user = await em.findOneOrFail(User, userId);
    expect(await onlyVersion2.vault.open(em, user, 'email')).toMatch(/^nurse\..*@example\.test$/);
    await onlyVersion2.close();
  });

  it('no sealed column references a destroyed old data key', async () => {
    const old = await rawQuery<{ id: string }>(app.db.url, 'SELECT id FROM data_keys WHERE version = 1');
    const columns: [string, string[]][] = [
      [
        'patients',
        [
          'mrn',
          'first_name',
          'last_name',
          'date_of_birth',
          'sex',
          'ssn',
          'email',
          'phone',
          'address',
          'insurance_member_id',
        ],
      ],
      ['encounters', ['reason', 'notes', 'diagnosis_codes']],
      ['users', ['email', 'totp_secret', 'totp_pending_secret']],
    ];
    const patterns = old.map((k) => `phi1.${k.id}.%`);

    for (const [table, cols] of columns) {
      const where = cols.map((c) => `${c} LIKE ANY($1)`).join(' OR ');
      const [{ n }] = await rawQuery<{ n: number }>(
        app.db.url,
        `SELECT count(*)::int AS n FROM ${table} WHERE ${where}`,
        [patterns],
      );
      expect(n).toBe(0);
    }
    expect(old).toHaveLength(13);
  });

  it('a rerun with the same cutoff has nothing to do', async () => {
    const [{ cutoff }] = await rawQuery<{ cutoff: string }>(
      app.db.url,
      "SELECT (min(created_at) - interval '1 microsecond')::text AS cutoff FROM data_keys WHERE version = 2",
    );

    const rerun = await command(rotator, 'keys:rotate', [
      '--reencrypt-fields',
      '--created-before',
      cutoff,
      '--grace-seconds',
      '0',
    ]);

    expect(rerun.code).toBe(0);
    expect(rerun.lines[0]).toMatch(/^keys:rotate: nothing to do/);
    expect(rerun.lines[1]).toMatch(/^keys:rotate --reencrypt-fields: nothing to do/);
  });

  it('keeps an old key that a value it cannot re-encrypt still references, and says so', async () => {
    const victim = await seedPatient(app.services, 'tampered');
    const [row] = await rawQuery<{ first_name: string; last_name: string }>(
      app.db.url,
      'SELECT first_name, last_name FROM patients WHERE id = $1',
      [victim.id],
    );
    // Same key, valid format, but sealed for another column: authentication fails, as with tampering.
    await rawQuery(app.db.url, 'UPDATE patients SET first_name = $2 WHERE id = $1', [victim.id, row.last_name]);

    const result = await command(rotator, 'keys:rotate', ['--reencrypt-fields', '--grace-seconds', '0']);

    expect(result.code).toBe(1);
    expect(result.text).toContain('unreadable values left as they were: patients.first_name 1');
    expect(result.text).toContain('1 superseded versions kept');
    const [oldKey, newKey] = await subjectKeys(victim.id);
    expect(oldKey.wrapped).not.toBeNull();
    const [after] = await rawQuery<{ first_name: string; last_name: string }>(
      app.db.url,
      'SELECT first_name, last_name FROM patients WHERE id = $1',
      [victim.id],
    );
    expect(after.first_name).toBe(row.last_name);
    expect(after.last_name.slice(5, 41)).toBe(newKey.id);
    for (const p of patients) expect(await readPatient(rotator, p.id)).toEqual(p.values);
  });

  it('a process that invalidates its cached active key seals new writes under the new version', async () => {
    const em = app.services.orm.em.fork();
    app.services.dataKeys.invalidateSubject(patients[0].id);

    const active = await app.services.dataKeys.activeKey(em, patients[0].id);

    const keys = await subjectKeys(patients[0].id);
    expect(active.id).toBe(keys[keys.length - 1].id);
  });
});

describe('crypto-shredding', () => {
  let app: TestApp;
  let operator: Services;
  let shredded: SeededPatient;
  let kept: SeededPatient;
  let encounterId: string;

  beforeAll(async () => {
    app = await startTestApp();
    operator = servicesWith(app, { MASTER_KEYS: app.config.keys.masterKeys });
    shredded = await seedPatient(app.services, 'to-shred');
    encounterId = await seedEncounter(app.services, shredded.id, 'Sensitive visit');
    kept = await seedPatient(app.services, 'kept');
  });

  afterAll(async () => {
    await operator?.close();
    await app?.close();
  });

  it('keys:shred asks for --yes and destroys nothing without it', async () => {
    const refused = await command(operator, 'keys:shred', ['--subject', shredded.id]);

    expect(refused.code).toBe(1);
    expect(refused.text).toContain('Run again with --yes');
    expect(await readPatient(operator, shredded.id)).toEqual(shredded.values);
  });

  it("makes the subject's values undecryptable while other subjects still decrypt", async () => {
    expect(await readPatient(operator, shredded.id)).toEqual(shredded.values); // key now cached in this process

    const result = await command(operator, 'keys:shred', ['--subject', shredded.id, '--yes']);

    expect(result.code).toBe(0);
    expect(result.lines[0]).toBe(
      `keys:shred: destroyed 1 data key of subject ${shredded.id}; its sealed values can no longer be decrypted.`,
    );
    await expectUnreadable(readPatient(operator, shredded.id));
    const [event] = await rawQuery<{ severity: string; details: Record<string, unknown> }>(
      app.db.url,
      "SELECT severity, details FROM security_events WHERE event_type = 'KEY_SHRED'",
    );
    expect(event).toEqual({ severity: 'HIGH', details: { subjectId: shredded.id, destroyed: 1 } });
    const fresh = servicesWith(app, { MASTER_KEYS: app.config.keys.masterKeys });
    await expectUnreadable(readPatient(fresh, shredded.id));
    const em = fresh.orm.em.fork();
    await expectUnreadable(fresh.vault.open(em, await em.findOneOrFail(Encounter, encounterId), 'reason'));
    expect(await readPatient(fresh, kept.id)).toEqual(kept.values);
    await fresh.close();
  });

  it('leaves only a NULL wrapped key and ciphertext in the database', async () => {
    const keys = await rawQuery<{ wrapped: Buffer | null; destroyed_at: Date | null }>(
      app.db.url,
      'SELECT wrapped, destroyed_at FROM data_keys WHERE subject_id = $1',
      [shredded.id],
    );
    const [row] = await rawQuery<Record<string, unknown>>(app.db.url, 'SELECT * FROM patients WHERE id = $1', [
      shredded.id,
    ]);

    expect(keys).toHaveLength(1);
    expect(keys[0].wrapped).toBeNull();
    expect(keys[0].destroyed_at).toBeInstanceOf(Date);
    expect(JSON.stringify(row)).not.toMatch(/to-shred|Testperson|1980-01-02|Fictional/);
  });

  it('refuses new writes for the shredded subject, answers a repeat, and rejects unknown subjects', async () => {
    const em = operator.orm.em.fork();
    const patient = await em.findOneOrFail(Patient, shredded.id);

    await expect(operator.vault.assign(em, patient, { firstName: 'Again' })).rejects.toMatchObject({
      code: 'KEY_DESTROYED',
    });
    const again = await command(operator, 'keys:shred', ['--subject', shredded.id, '--yes']);
    const unknown = await command(operator, 'keys:shred', ['--subject', randomUUID(), '--yes']);
    const malformed = await command(operator, 'keys:shred', ['--subject', 'not-a-uuid', '--yes']);

    expect(again).toMatchObject({ code: 0, text: `keys:shred: subject ${shredded.id} was already shredded` });
    expect(unknown.code).toBe(1);
    expect(unknown.text).toContain('has no data keys');
    expect(malformed.code).toBe(2);
  });
});

describe('data key loads', () => {
  let app: TestApp;
  let patient: SeededPatient;

  async function waitingOnLocks(): Promise<number> {
    const [{ n }] = await rawQuery<{ n: number }>(
      app.db.url,
      'SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted',
    );
    return n;
  }

  beforeAll(async () => {
    app = await startTestApp();
    patient = await seedPatient(app.services, 'loads');
  });

  afterAll(async () => {
    await app?.close();
  });

  it('callers that miss the same key while it is being read share one query, and a later miss reads again', async () => {
    const cold = servicesWith(app, { MASTER_KEYS: app.config.keys.masterKeys });
    const [{ id }] = await rawQuery<{ id: string }>(app.db.url, 'SELECT id FROM data_keys WHERE subject_id = $1', [
      patient.id,
    ]);
    const em = cold.orm.em.fork();
    const execute = jest.spyOn(em.getConnection(), 'execute');
    const keyReads = (): number => execute.mock.calls.filter(([sql]) => String(sql).includes('data_keys')).length;
    // Another connection locks the table, so the first read waits in PostgreSQL until the second caller has come.
    const holder = new Client({ connectionString: app.db.url });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE data_keys IN ACCESS EXCLUSIVE MODE');
      const first = cold.dataKeys.keyById(em, id);
      for (let i = 0; i < 200 && (await waitingOnLocks()) === 0; i++) await new Promise((r) => setTimeout(r, 25));
      expect(keyReads()).toBe(1);
      const second = cold.dataKeys.keyById(em, id);
      await holder.query('COMMIT');
      const [a, b] = await Promise.all([first, second]);

      expect(Buffer.from(b)).toEqual(Buffer.from(a));
      expect(keyReads()).toBe(1);
      cold.dataKeys.cache.clear();
      await cold.dataKeys.keyById(em, id);
      expect(keyReads()).toBe(2);
    } finally {
      execute.mockRestore();
      await holder.end();
      await cold.close();
    }
  });

  it('a key that is not there fails every caller waiting for it, and the failure is not remembered', async () => {
    const em = app.services.orm.em.fork();
    const execute = jest.spyOn(em.getConnection(), 'execute');
    const missing = randomUUID();
    const holder = new Client({ connectionString: app.db.url });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE data_keys IN ACCESS EXCLUSIVE MODE');
      const first = app.services.dataKeys.keyById(em, missing);
      for (let i = 0; i < 200 && (await waitingOnLocks()) === 0; i++) await new Promise((r) => setTimeout(r, 25));
      const second = app.services.dataKeys.keyById(em, missing);
      await holder.query('COMMIT');

      await expect(first).rejects.toMatchObject({ code: 'KEY_DESTROYED' });
      await expect(second).rejects.toMatchObject({ code: 'KEY_DESTROYED' });
      await expect(app.services.dataKeys.keyById(em, missing)).rejects.toMatchObject({ code: 'KEY_DESTROYED' });
      expect(execute.mock.calls.filter(([sql]) => String(sql).includes('data_keys'))).toHaveLength(2);
    } finally {
      execute.mockRestore();
      await holder.end();
    }
  });
});
