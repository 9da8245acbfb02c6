import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { MikroORM } from '@mikro-orm/postgresql';
import { Client } from 'pg';

import { AuditChain, type AuditRow, type RawSession } from '../../src/audit/audit-chain';
import { AuditService, type SystemAuditEntry } from '../../src/audit/audit.service';
import { checkpointStatement } from '../../src/audit/audit-integrity';
import { StatementSigner } from '../../src/crypto';
import { ormOptions } from '../../src/db/orm.config';
import { codeOf, createAccount, signIn } from '../support/accounts';
import { startTestApp, testEnv, type TestApp } from '../support/app';
import { rawQuery } from '../support/database';

const run = promisify(execFile);
const tag = randomBytes(3).toString('hex');
const CREATE = `mutation Create($input: PatientInput!) { createPatient(input: $input) { id } }`;
const READ = `query Read($id: ID!) { patient(id: $id) { id lastName } }`;

let app: TestApp;
let physician: string;
let patientId: string;

/** Runs SQL as the database superuser with the append-only trigger switched off: what an intruder with DBA rights does. */
async function tamper(statement: string, params: unknown[] = []): Promise<void> {
  await rawQuery(app.db.url, 'ALTER TABLE audit_events DISABLE TRIGGER USER');
  try {
    await rawQuery(app.db.url, statement, params);
  } finally {
    await rawQuery(app.db.url, 'ALTER TABLE audit_events ENABLE TRIGGER USER');
  }
}

function verify(expect?: { seq: string; hash: string }) {
  return app.services.auditIntegrity.verify(app.services.orm.em.fork(), { expect, batchSize: 7 });
}

function entry(i: number): SystemAuditEntry {
  return { action: 'test.append', outcome: 'ALLOWED', purpose: 'OPERATIONS', fields: [`f${i}`], actorRole: 'ADMIN' };
}

/** The operator command itself, as `npm run cli -- audit:verify` runs it, against the test's database and key. */
async function cliVerify(...args: string[]): Promise<{ code: number; out: string }> {
  const env = {
    ...testEnv(app.db.url),
    AUDIT_HMAC_KEY: app.config.keys.auditHmacKey.toString('base64'),
    MASTER_KEYS: `1:${randomBytes(32).toString('base64')}`,
    LOG_LEVEL: 'silent',
    PATH: process.env.PATH,
  };
  const script = join(__dirname, '..', '..', 'src', 'cli', 'main.ts');
  const register = join(__dirname, '..', 'setup', 'swc-register.js');
  try {
    const { stdout } = await run(process.execPath, ['-r', register, script, 'audit:verify', ...args], { env });
    return { code: 0, out: stdout };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, out: failed.stdout + failed.stderr };
  }
}

beforeAll(async () => {
  app = await startTestApp();
  const account = await createAccount(app, 'PHYSICIAN');
  physician = (await signIn(app, account)).accessToken;
  const input = {
    firstName: `Chain${tag}`,
    lastName: `Ledger${tag}`,
    dateOfBirth: '1970-01-01',
    sex: 'FEMALE',
  };
  const created = await app.gql(CREATE, { input }, physician);
  patientId = created.body.data!.createPatient.id;
});

afterAll(async () => {
  await app?.close();
});

describe('the audit hash chain', () => {
  it('chains the rows of concurrent readers and of two replicas into one gapless sequence', async () => {
    // A second "replica": its own ORM and pool, its own writer, the same key, the same table.
    const other = await MikroORM.init(ormOptions({ url: app.db.url, logger: app.logger }));
    const replica = new AuditService({ orm: other, hmacKey: app.config.keys.auditHmacKey });
    try {
      const reads = Array.from({ length: 40 }, () => app.gql(READ, { id: patientId }, physician));
      const appends = Array.from({ length: 40 }, (_, i) =>
        (i % 2 ? app.services.audit : replica).append(other.em.fork(), [entry(i), entry(i + 100)]),
      );
      const inTransactions = Array.from({ length: 10 }, (_, i) =>
        other.em.fork().transactional((em) => replica.append(em, [entry(i + 200)])),
      );
      const responses = await Promise.all(reads);
      await Promise.all([...appends, ...inTransactions]);
      expect(responses.every((r) => r.body.data?.patient?.id === patientId)).toBe(true);
    } finally {
      await other.close(true);
    }

    const [{ count, max, distinct }] = await rawQuery<{ count: string; max: string; distinct: string }>(
      app.db.url,
      'SELECT count(*)::text AS count, max(seq)::text AS max, count(DISTINCT prev_hash)::text AS distinct FROM audit_events',
    );
    expect(max).toBe(count); // gapless from 1
    expect(distinct).toBe(count); // no two rows claim the same predecessor: no fork
    const report = await verify();
    expect(report).toMatchObject({ ok: true, rows: Number(count), legacyRows: 0 });
    expect(report.head?.seq).toBe(count);
  });

  it('appends in one round trip while it writes alone, and links to the real head once another writer moved it', async () => {
    const client = new Client({ connectionString: app.db.url });
    await client.connect();
    let roundTrips = 0;
    const session: RawSession = {
      query: async (sql) => {
        roundTrips += 1;
        const results: unknown = await client.query(sql);
        return (Array.isArray(results) ? results : [results]).map((result: { rows: unknown[] }) => result.rows);
      },
    };
    const chain = new AuditChain(app.config.keys.auditHmacKey);
    const row = (i: number): AuditRow => ({
      id: randomUUID(),
      at: new Date(),
      action: 'test.alone',
      actorId: null,
      actorRole: 'ADMIN',
      sessionId: null,
      patientId: null,
      purpose: 'OPERATIONS',
      outcome: 'ALLOWED',
      fields: [`g${i}`],
      requestId: null,
      ip: null,
      userAgent: null,
    });
    const tripsOf = async (rows: AuditRow[]): Promise<number> => {
      const before = roundTrips;
      await chain.appendAlone(session, rows);
      return roundTrips - before;
    };
    try {
      expect(await tripsOf([row(1)])).toBe(2); // nothing known yet: BEGIN + lock + head, then INSERT + COMMIT
      expect(await tripsOf([row(2)])).toBe(2); // the head is where this process left it: from now on it links there
      expect(await tripsOf([row(3), row(4)])).toBe(1);
      expect(await tripsOf([row(5)])).toBe(1);

      await app.services.audit.append(app.services.orm.em.fork(), [entry(1)]); // another writer moves the head
      expect(await tripsOf([row(6)])).toBe(3); // the guarded insert inserts nothing; then head, then INSERT
      expect(await tripsOf([row(7)])).toBe(2);
      expect(await tripsOf([row(8)])).toBe(1);
    } finally {
      await client.end();
    }

    const rows = await rawQuery<{ fields: string[] }>(
      app.db.url,
      "SELECT fields FROM audit_events WHERE action = 'test.alone' ORDER BY seq",
    );
    expect(rows.map((r) => r.fields[0])).toEqual(['g1', 'g2', 'g3', 'g4', 'g5', 'g6', 'g7', 'g8']);
    expect(await verify()).toMatchObject({ ok: true });
  });

  it('stores every column of a batch that mixes requests, purposes, fields and system rows as given', async () => {
    const at = new Date('2026-12-04T10:00:00.000Z');
    const base: AuditRow = {
      id: randomUUID(),
      at,
      action: 'patient.read',
      actorId: randomUUID(),
      actorRole: 'PHYSICIAN',
      sessionId: randomUUID(),
      patientId: randomUUID(),
      purpose: 'TREATMENT',
      outcome: 'ALLOWED',
      fields: ['id', 'lastName'],
      requestId: `req-${tag}-mixed`,
      ip: '10.0.0.7',
      userAgent: 'ward-tablet/3.1',
    };
    const rows: AuditRow[] = [
      base,
      { ...base, id: randomUUID(), patientId: randomUUID(), fields: ['id', 'lastName'] }, // equal, not the same array
      { ...base, id: randomUUID(), patientId: randomUUID(), purpose: 'EMERGENCY' },
      { ...base, id: randomUUID(), fields: ['id'] },
      { ...base, id: randomUUID(), at: new Date(at.getTime() + 1) },
      { ...base, id: randomUUID(), requestId: `req-${tag}-other`, actorId: randomUUID(), sessionId: randomUUID() },
      {
        ...base,
        id: randomUUID(),
        action: 'keys.rotate',
        actorId: null,
        actorRole: null,
        sessionId: null,
        patientId: null,
        purpose: null,
        fields: [],
        ip: null,
        userAgent: null,
      },
    ];
    const chained = await app.services.orm.em.fork().transactional((em) => app.services.audit.chain.append(em, rows));

    const stored = await rawQuery<Record<string, unknown>>(
      app.db.url,
      `SELECT id, seq::text AS seq, prev_hash, hash, at, action, actor_id, actor_role, session_id, patient_id, purpose,
              outcome, fields, request_id, ip, user_agent FROM audit_events WHERE id = ANY($1::uuid[]) ORDER BY seq`,
      [rows.map((r) => r.id)],
    );
    expect(stored).toEqual(
      chained.map((r) => ({
        id: r.id,
        seq: r.seq.toString(),
        prev_hash: r.prevHash,
        hash: r.hash,
        at: r.at,
        action: r.action,
        actor_id: r.actorId,
        actor_role: r.actorRole,
        session_id: r.sessionId,
        patient_id: r.patientId,
        purpose: r.purpose,
        outcome: r.outcome,
        fields: r.fields,
        request_id: r.requestId,
        ip: r.ip,
        user_agent: r.userAgent,
      })),
    );
    expect(await verify()).toMatchObject({ ok: true });
  });

  it('links to the real head after a transaction that appended was rolled back', async () => {
    const chain = new AuditService({ orm: app.services.orm, hmacKey: app.config.keys.auditHmacKey });
    const inTransaction = (i: number, rollBack = false) =>
      app.services.orm.em.fork().transactional(async (em) => {
        await chain.append(em, [entry(300 + i)]);
        if (rollBack) throw new Error('rolled back on purpose');
      });
    await inTransaction(1);
    await inTransaction(2);
    await expect(inTransaction(3, true)).rejects.toThrow('rolled back on purpose');
    await inTransaction(4);
    await inTransaction(5);

    const rows = await rawQuery<{ fields: string[] }>(
      app.db.url,
      "SELECT fields FROM audit_events WHERE action = 'test.append' AND fields[1] IN ('f301','f302','f303','f304','f305') ORDER BY seq",
    );
    expect(rows.map((r) => r.fields[0])).toEqual(['f301', 'f302', 'f304', 'f305']);
    expect(await verify()).toMatchObject({ ok: true });
  });

  it('fails an append that waits too long for the chain, instead of hanging every writer behind it', async () => {
    const impatient = new AuditService({
      orm: app.services.orm,
      hmacKey: app.config.keys.auditHmacKey,
      lockWaitMs: 200,
    });
    await app.services.orm.em.fork().transactional(async (em) => {
      await impatient.append(em, [entry(1)]); // holds the chain lock until this transaction ends
      // A write outside that transaction, awaited inside it: without the bound this would never return.
      await expect(impatient.append(app.services.orm.em.fork(), [entry(2)])).rejects.toThrow(/lock timeout/);
    });
    // The failed transaction was rolled back: the pooled connections it used take the next appends.
    await Promise.all(
      Array.from({ length: 4 }, (_, i) => impatient.append(app.services.orm.em.fork(), [entry(i + 3)])),
    );
    expect((await verify()).ok).toBe(true);
  });

  it('stores quotes, backslashes and dollar patterns in a row exactly as given (the batch goes in as base64 text)', async () => {
    const userAgent = `O'Brien \\ \\' $' $& $$ $1 $rows '); DROP TABLE audit_events; -- "é"`;
    const requestId = `req-${tag}-quoted`;
    await app.services.audit.append(app.services.orm.em.fork(), [
      { ...entry(1), userAgent, requestId, fields: ["it's", '$&'] },
    ]);

    const [row] = await rawQuery<{ user_agent: string; fields: string[] }>(
      app.db.url,
      'SELECT user_agent, fields FROM audit_events WHERE request_id = $1',
      [requestId],
    );
    expect(row).toEqual({ user_agent: userAgent, fields: ["it's", '$&'] });
    expect((await verify()).ok).toBe(true);
  });

  it('records a read only once it is committed, and returns no data when the record cannot be written', async () => {
    const before = await rawQuery<{ n: string }>(
      app.db.url,
      "SELECT count(*)::text AS n FROM audit_events WHERE action = 'patient.read' AND patient_id = $1",
      [patientId],
    );
    const ok = await app.gql(READ, { id: patientId }, physician);
    expect(ok.body.data?.patient?.id).toBe(patientId);
    const after = await rawQuery<{ n: string }>(
      app.db.url,
      "SELECT count(*)::text AS n FROM audit_events WHERE action = 'patient.read' AND patient_id = $1",
      [patientId],
    );
    expect(Number(after[0].n)).toBe(Number(before[0].n) + 1);

    // The table refuses the next patient.read row: the read must fail closed, revealing nothing.
    await rawQuery(
      app.db.url,
      "ALTER TABLE audit_events ADD CONSTRAINT refuse_reads_for_test CHECK (action <> 'patient.read') NOT VALID",
    );
    try {
      const refused = await app.gql(READ, { id: patientId }, physician);
      expect(refused.body.data?.patient ?? null).toBeNull();
      expect(codeOf(refused)).toBe('INTERNAL_SERVER_ERROR');
      expect(JSON.stringify(refused.body)).not.toContain(`Ledger${tag}`);
      expect(JSON.stringify(refused.body)).not.toMatch(/refuse_reads_for_test|audit_events|INSERT/);
    } finally {
      await rawQuery(app.db.url, 'ALTER TABLE audit_events DROP CONSTRAINT refuse_reads_for_test');
    }
    expect((await verify()).ok).toBe(true);
  });

  it('refuses UPDATE, DELETE and TRUNCATE on the audit table, even from the table owner', async () => {
    await expect(rawQuery(app.db.url, "UPDATE audit_events SET action = 'x' WHERE seq = 1")).rejects.toThrow(
      /append-only/,
    );
    await expect(rawQuery(app.db.url, 'DELETE FROM audit_events WHERE seq = 1')).rejects.toThrow(/append-only/);
    await expect(rawQuery(app.db.url, 'TRUNCATE audit_events')).rejects.toThrow(/append-only/);
    await expect(
      rawQuery(
        app.db.url,
        "INSERT INTO audit_events (id, seq, at, action, outcome) VALUES (gen_random_uuid(), 999999, now(), 'x', 'ALLOWED')",
      ),
    ).rejects.toThrow(/must be chained/);
    expect((await verify()).ok).toBe(true);
  });

  it('names the row a superuser edited, and the CLI exits non-zero with it', async () => {
    const clean = await cliVerify();
    expect(clean).toMatchObject({ code: 0 });
    expect(clean.out).toMatch(/audit chain intact: \d+ rows/);

    const [victim] = await rawQuery<{ id: string; seq: string }>(
      app.db.url,
      'SELECT id, seq::text AS seq FROM audit_events ORDER BY seq OFFSET 10 LIMIT 1',
    );
    await tamper('UPDATE audit_events SET actor_role = $1 WHERE id = $2', ['AUDITOR', victim.id]);
    const report = await verify();
    expect(report.ok).toBe(false);
    expect(report.broken).toEqual({ seq: victim.seq, id: victim.id, reason: expect.stringMatching(/edited/) });

    const cli = await cliVerify();
    expect(cli.code).toBe(1);
    expect(cli.out).toContain(`BROKEN at row ${victim.seq} (id ${victim.id})`);

    // Recomputing the row's hash without the key is not possible; with the wrong key it is not accepted either.
    await tamper('UPDATE audit_events SET hash = md5(hash) || md5(hash) WHERE id = $1', [victim.id]);
    expect((await verify()).broken?.seq).toBe(victim.seq);
  });
});

describe('deleted, inserted and truncated rows', () => {
  let local: TestApp;

  beforeAll(async () => {
    local = await startTestApp();
  });
  afterAll(async () => {
    await local?.close();
  });

  const check = (expect?: { seq: string; hash: string }) =>
    local.services.auditIntegrity.verify(local.services.orm.em.fork(), { expect });
  const tamperLocal = async (statement: string, params: unknown[] = []) => {
    await rawQuery(local.db.url, 'ALTER TABLE audit_events DISABLE TRIGGER USER');
    try {
      await rawQuery(local.db.url, statement, params);
    } finally {
      await rawQuery(local.db.url, 'ALTER TABLE audit_events ENABLE TRIGGER USER');
    }
  };

  it('names the gap a deleted row leaves, and a row slipped in between', async () => {
    await local.services.audit.append(
      local.services.orm.em.fork(),
      Array.from({ length: 30 }, (_, i) => entry(i)),
    );
    expect((await check()).ok).toBe(true);

    const [row] = await rawQuery<{ id: string; seq: string }>(
      local.db.url,
      'SELECT id, seq::text AS seq FROM audit_events WHERE seq = 12',
    );
    await tamperLocal('DELETE FROM audit_events WHERE seq = 12');
    const gap = await check();
    expect(gap.broken).toMatchObject({ seq: '13', reason: 'rows 12 to 12 are missing (deleted)' });

    // Put a forged row in its place: the chain link gives it away.
    await tamperLocal(
      `INSERT INTO audit_events (id, seq, prev_hash, hash, at, action, outcome, fields)
       SELECT $1, 12, prev_hash, hash, at, 'forged', outcome, fields FROM audit_events WHERE seq = 11`,
      [row.id],
    );
    const forged = await check();
    expect(forged.broken).toMatchObject({ seq: '12', id: row.id });
  });

  it('signs checkpoints, and catches a tail cut off after one', async () => {
    const fresh = await startTestApp();
    try {
      const em = () => fresh.services.orm.em.fork();
      await fresh.services.audit.append(
        em(),
        Array.from({ length: 20 }, (_, i) => entry(i)),
      );
      const checkpoint = await fresh.services.auditIntegrity.checkpoint(em());
      expect(checkpoint).toMatchObject({ seq: '20', rowCount: '20' });
      expect(await fresh.services.auditIntegrity.checkpoint(em())).toBeNull(); // nothing new
      // The statement verifies with the public key alone, as a SIEM would check it.
      const verifier = new StatementSigner(randomBytes(32), 'unrelated');
      expect(
        verifier.verify(
          checkpointStatement(checkpoint!),
          checkpoint!.signature,
          fresh.services.auditIntegrity.publicKey,
        ),
      ).toBe(true);
      expect(
        verifier.verify(
          checkpointStatement({ ...checkpoint!, rowCount: '19' }),
          checkpoint!.signature,
          fresh.services.auditIntegrity.publicKey,
        ),
      ).toBe(false);
      // It went out as a security event (the SIEM export carries those off the machine).
      const events = await rawQuery<{ details: Record<string, string> }>(
        fresh.db.url,
        "SELECT details FROM security_events WHERE event_type = 'AUDIT_CHECKPOINT'",
      );
      expect(events.map((e) => e.details.hash)).toEqual([checkpoint!.hash]);

      await fresh.services.audit.append(
        em(),
        Array.from({ length: 5 }, (_, i) => entry(i)),
      );
      const whole = await fresh.services.auditIntegrity.verify(em());
      expect(whole).toMatchObject({ ok: true, rows: 25, checkpointsChecked: 1 });

      // The intruder removes everything from row 18 on: the checkpoint at 20 no longer matches.
      await rawQuery(fresh.db.url, 'ALTER TABLE audit_events DISABLE TRIGGER USER');
      await rawQuery(fresh.db.url, 'DELETE FROM audit_events WHERE seq >= 18');
      await rawQuery(fresh.db.url, 'ALTER TABLE audit_events ENABLE TRIGGER USER');
      const cut = await fresh.services.auditIntegrity.verify(em());
      expect(cut.ok).toBe(false);
      expect(cut.broken?.reason).toMatch(/ends at row 17, before checkpoint .* at row 20 \(truncated\)/);

      // ... and the checkpoint table too: the head the SIEM holds still tells.
      await rawQuery(fresh.db.url, 'ALTER TABLE audit_checkpoints DISABLE TRIGGER USER');
      await rawQuery(fresh.db.url, 'DELETE FROM audit_checkpoints');
      await rawQuery(fresh.db.url, 'ALTER TABLE audit_checkpoints ENABLE TRIGGER USER');
      expect((await fresh.services.auditIntegrity.verify(em())).ok).toBe(true);
      const held = await fresh.services.auditIntegrity.verify(em(), {
        expect: { seq: checkpoint!.seq, hash: checkpoint!.hash },
      });
      expect(held.broken?.reason).toMatch(/before the expected head at row 20 \(truncated\)/);
    } finally {
      await fresh.close();
    }
  });

  it('reports a checkpoint whose signature does not verify', async () => {
    const fresh = await startTestApp();
    try {
      await fresh.services.audit.append(fresh.services.orm.em.fork(), [entry(1), entry(2)]);
      const checkpoint = await fresh.services.auditIntegrity.checkpoint(fresh.services.orm.em.fork());
      await rawQuery(fresh.db.url, 'ALTER TABLE audit_checkpoints DISABLE TRIGGER USER');
      await rawQuery(fresh.db.url, 'UPDATE audit_checkpoints SET row_count = 1 WHERE id = $1', [checkpoint!.id]);
      await rawQuery(fresh.db.url, 'ALTER TABLE audit_checkpoints ENABLE TRIGGER USER');
      const report = await fresh.services.auditIntegrity.verify(fresh.services.orm.em.fork());
      expect(report.broken?.reason).toBe(`checkpoint ${checkpoint!.id} has an invalid signature`);
    } finally {
      await fresh.close();
    }
  });
});
