import { randomBytes, randomUUID } from 'node:crypto';
import { MikroORM } from '@mikro-orm/postgresql';

import { SiemExporter } from '../../src/audit/siem/siem.exporter';
import { ormOptions } from '../../src/db/orm.config';
import { createLogger } from '../../src/logging/logger';
import { LOGIN, codeOf, sql, testEmail } from '../support/accounts';
import { startTestApp, type TestApp } from '../support/app';
import { HttpReceiver, waitFor } from './siem-receivers';

/** Short retry settings: a dead SIEM is retried within tens of milliseconds, capped well under a second. */
const FAST = { SIEM_POLL_MS: '100', SIEM_RETRY_BASE_MS: '40', SIEM_RETRY_MAX_MS: '300', SIEM_BATCH_SIZE: '5' };
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** Raises `count` security events one after another (each committed), returning their ids in order. */
async function raise(app: TestApp, count: number, eventType = 'TEST_EVENT', tag = 'a'): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i += 1) {
    ids.push(
      await app.services.audit.securityEvent(app.services.orm.em.fork(), {
        eventType,
        severity: 'MEDIUM',
        details: { index: i, tag },
      }),
    );
  }
  return ids;
}

const outbox = (app: TestApp) =>
  sql<{ event_id: string; delivered_at: Date | null; attempts: number; last_error: string | null }>(
    app,
    'SELECT event_id, delivered_at, attempts, last_error FROM siem_outbox ORDER BY id',
  );

describe('SIEM export over HTTP (JSON)', () => {
  const receiver = new HttpReceiver();
  const token = randomBytes(24).toString('base64url');
  let app: TestApp;

  beforeAll(async () => {
    await receiver.start();
    app = await startTestApp({ SIEM_ENDPOINT: receiver.url, SIEM_AUTH_TOKEN: token, ...FAST });
  });
  afterAll(async () => {
    await app?.close();
    await receiver.stop();
  });

  it('delivers security events in order with the documented shape, the bearer token and a stable id', async () => {
    const actorId = randomUUID();
    const patientId = randomUUID();
    const first = await app.services.audit.securityEvent(app.services.orm.em.fork(), {
      eventType: 'BREAK_GLASS',
      severity: 'HIGH',
      actorId,
      patientId,
      details: { grantId: patientId, minutes: 60 },
    });
    const rest = await raise(app, 11);
    await waitFor('12 events at the receiver', () => receiver.accepted.length >= 12);

    expect(receiver.accepted.map((e) => e.id)).toEqual([first, ...rest]);
    expect(receiver.accepted[0]).toEqual({
      id: first,
      event_type: 'BREAK_GLASS',
      severity: 'HIGH',
      source: 'HMS',
      timestamp: expect.stringMatching(ISO),
      stream: 'security',
      sequence: expect.stringMatching(/^\d+$/),
      actor_id: actorId,
      patient_id: patientId,
      details: { grantId: patientId, minutes: 60 },
    });
    const sequences = receiver.accepted.map((e) => BigInt(e.sequence));
    expect(sequences.every((s, i) => i === 0 || s > sequences[i - 1])).toBe(true);
    expect(new Set(receiver.authorizations)).toEqual(new Set([`Bearer ${token}`]));
    // Batches of at most SIEM_BATCH_SIZE: 12 events need at least 3 requests.
    expect(receiver.answers.length).toBeGreaterThanOrEqual(3);
    expect((await outbox(app)).every((row) => row.delivered_at !== null)).toBe(true);
  });

  it('puts audit checkpoints on their own stream and carries their digests and counters unredacted', async () => {
    const details = {
      checkpointId: randomUUID(),
      seq: '12345678901',
      hash: randomBytes(32).toString('hex'),
      rowCount: '12345678901',
      at: new Date().toISOString(),
      signature: randomBytes(64).toString('base64url'),
      publicKey: randomBytes(32).toString('base64url'),
    };
    const id = await app.services.audit.securityEvent(app.services.orm.em.fork(), {
      eventType: 'AUDIT_CHECKPOINT',
      severity: 'LOW',
      details,
    });
    await waitFor('the checkpoint', () => receiver.accepted.some((e) => e.id === id));
    const event = receiver.accepted.find((e) => e.id === id);
    expect(event?.stream).toBe('checkpoint');
    expect(event?.details).toEqual(details);
  });

  it('writes no outbox row when the transaction of the event rolls back', async () => {
    const before = receiver.accepted.length;
    let rolledBackId = '';
    await expect(
      app.services.orm.em.fork().transactional(async (em) => {
        rolledBackId = await app.services.audit.securityEvent(em, { eventType: 'ROLLED_BACK', severity: 'LOW' });
        throw new Error('abort the transaction');
      }),
    ).rejects.toThrow('abort the transaction');
    const [committed] = await raise(app, 1, 'AFTER_ROLLBACK');
    await waitFor('the committed event', () => receiver.accepted.some((e) => e.id === committed));
    expect(receiver.accepted.slice(before).map((e) => e.id)).toEqual([committed]);
    expect(await sql(app, 'SELECT 1 FROM siem_outbox WHERE event_id = $1', [rolledBackId])).toHaveLength(0);
  });
});

describe('SIEM outage', () => {
  it('loses nothing while the receiver is down and then failing: every event arrives once, in order', async () => {
    const receiver = new HttpReceiver();
    await receiver.start();
    const app = await startTestApp({ SIEM_ENDPOINT: receiver.url, ...FAST });
    try {
      const expected = await raise(app, 3, 'BEFORE_OUTAGE');
      await waitFor('the first events', () => receiver.accepted.length === 3);

      // Down: the port is closed, connections are refused.
      await receiver.stop();
      expected.push(...(await raise(app, 8, 'WHILE_DOWN')));
      await waitFor('refused attempts', async () => (await outbox(app)).some((r) => r.last_error === 'ECONNREFUSED'));
      const refused = (await outbox(app)).find((r) => r.last_error === 'ECONNREFUSED');
      expect(refused?.delivered_at).toBeNull();

      // Back on the same port, but answering 503, then 500.
      receiver.mode = { kind: 'status', status: 503 };
      await receiver.start();
      expected.push(...(await raise(app, 4, 'WHILE_503')));
      await waitFor('503 answers', () => receiver.answers.filter((a) => a === 503).length >= 3);
      receiver.mode = { kind: 'status', status: 500 };
      expected.push(...(await raise(app, 4, 'WHILE_500')));
      await waitFor('500 answers', () => receiver.answers.filter((a) => a === 500).length >= 2);
      expect(receiver.accepted).toHaveLength(3);

      // Healthy again: the backlog drains, in order, each event once.
      receiver.mode = { kind: 'ok' };
      expected.push(...(await raise(app, 3, 'AFTER')));
      await waitFor('the backlog to drain', () => receiver.accepted.length >= expected.length);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(receiver.accepted.map((e) => e.id)).toEqual(expected);
      expect(new Set(receiver.accepted.map((e) => e.id)).size).toBe(expected.length);
      const rows = await outbox(app);
      expect(rows.every((r) => r.delivered_at !== null)).toBe(true);
      // Failures were retried on the head only: the first undelivered row counts the attempts.
      expect(rows.reduce((n, r) => n + r.attempts, 0)).toBeGreaterThanOrEqual(5);
      // The log names status codes, never a payload.
      const log = app.logs.text();
      expect(log).toContain('HTTP_503');
      expect(log).toContain('ECONNREFUSED');
      for (const id of expected) expect(log).not.toContain(id);
      expect(log).not.toContain('WHILE_DOWN');
    } finally {
      await app.close();
      await receiver.stop();
    }
  });

  it('answers a request that raises a security event while the SIEM hangs', async () => {
    const receiver = new HttpReceiver();
    await receiver.start();
    const app = await startTestApp({
      SIEM_ENDPOINT: receiver.url,
      ...FAST,
      SIEM_TIMEOUT_MS: '60000',
      RATE_LIMIT_MULTIPLIER: '1',
    });
    try {
      receiver.mode = { kind: 'hang' };
      const [stuck] = await raise(app, 1, 'BEFORE_THE_REQUEST');
      await waitFor('the exporter to be stuck on the SIEM', () => receiver.heldCount === 1);

      // Sign-in attempts until the rate limit refuses one; the refusal stores a RATE_LIMIT security event.
      const email = testEmail('siem');
      const started = Date.now();
      let last;
      for (let i = 0; i < 6; i += 1) last = await app.gql(LOGIN, { email, password: 'not-the-password' });
      const elapsed = Date.now() - started;
      expect(codeOf(last!)).toBe('RATE_LIMITED');
      // The responses came back while the SIEM still held the exporter's request, unanswered.
      expect(receiver.heldCount).toBe(1);
      expect(receiver.accepted).toHaveLength(0);
      expect(elapsed).toBeLessThan(30_000);
      // Every security event the requests raised (the refusal's RATE_LIMIT, and any sign-in failures).
      const events = await sql<{ id: string; event_type: string }>(
        app,
        'SELECT id, event_type FROM security_events WHERE id <> $1',
        [stuck],
      );
      expect(events.map((e) => e.event_type)).toContain('RATE_LIMIT');
      const queued = await sql(app, 'SELECT 1 FROM siem_outbox WHERE event_id = ANY($1) AND delivered_at IS NULL', [
        events.map((e) => e.id),
      ]);
      expect(queued).toHaveLength(events.length);

      // The SIEM answers 503 to the held request, then recovers: everything arrives once, the stuck event first.
      receiver.mode = { kind: 'ok' };
      receiver.release(503);
      await waitFor('the backlog', () => receiver.accepted.length >= 1 + events.length);
      expect(receiver.accepted[0].id).toBe(stuck);
      expect(receiver.accepted.map((e) => e.id).sort()).toEqual([stuck, ...events.map((e) => e.id)].sort());
      // A real producer's details: ids and codes only, nothing redacted.
      const rateLimit = receiver.accepted.find((e) => e.event_type === 'RATE_LIMIT');
      expect(JSON.stringify(rateLimit?.details)).not.toContain('[redacted]');
      expect(JSON.stringify(rateLimit)).not.toContain(email);
    } finally {
      receiver.release(503);
      await app.close();
      await receiver.stop();
    }
  });
});

describe('SIEM export in OCSF', () => {
  it('maps events to Detection Finding and sign-in failures to Authentication', async () => {
    const receiver = new HttpReceiver();
    await receiver.start();
    const app = await startTestApp({ SIEM_ENDPOINT: receiver.url, SIEM_FORMAT: 'ocsf', ...FAST });
    try {
      const actorId = randomUUID();
      const [finding] = await raise(app, 1, 'BREAK_GLASS');
      const failure = await app.services.audit.securityEvent(app.services.orm.em.fork(), {
        eventType: 'SIGN_IN_FAILED',
        severity: 'LOW',
        actorId,
        details: { code: 'BAD_PASSWORD' },
      });
      await waitFor('two OCSF events', () => receiver.accepted.length >= 2);
      const [a, b] = receiver.accepted;
      expect(a).toMatchObject({
        class_uid: 2004,
        class_name: 'Detection Finding',
        category_uid: 2,
        type_uid: 200401,
        activity_id: 1,
        severity_id: 3,
        severity: 'Medium',
        time: expect.any(Number),
        metadata: { version: '1.1.0', uid: finding, product: { name: 'HMS' }, log_name: 'security' },
        finding_info: { uid: finding, title: 'BREAK_GLASS', types: ['BREAK_GLASS'] },
        unmapped: { event_type: 'BREAK_GLASS', details: { index: 0, tag: 'a' } },
      });
      expect(b).toMatchObject({
        class_uid: 3002,
        class_name: 'Authentication',
        category_uid: 3,
        type_uid: 300201,
        status_id: 2,
        severity_id: 2,
        user: { uid: actorId },
        metadata: { uid: failure },
      });
    } finally {
      await app.close();
      await receiver.stop();
    }
  });
});

describe('SIEM exporters on several replicas', () => {
  it('never deliver the same event twice, and never two batches of one stream at once', async () => {
    const receiver = new HttpReceiver();
    receiver.delayMs = 30;
    await receiver.start();
    const app = await startTestApp({ SIEM_ENDPOINT: receiver.url, ...FAST });
    // Two replicas, each with its own ORM (own connection pool) and exporter, over the same database.
    const orm = await MikroORM.init(ormOptions({ url: app.db.url, logger: createLogger({ level: 'silent' }) }));
    const quiet = createLogger({ level: 'silent' });
    const replicaA = new SiemExporter(app.services.orm, app.config.siem, quiet);
    const replicaB = new SiemExporter(orm, app.config.siem, quiet);
    try {
      await app.services.siem.stop();
      const expected = await raise(app, 60, 'REPLICAS');
      replicaA.start();
      replicaB.start();
      // Manual passes on top of both loops, as `siem:flush` from an operator would add.
      const manual = await Promise.all([replicaB.drainOnce(), replicaA.drainOnce(), replicaB.drainOnce()]);
      await waitFor('all 60 events', () => receiver.accepted.length >= 60);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(receiver.accepted.map((e) => e.id)).toEqual(expected);
      expect(receiver.maxInFlight).toBe(1);
      // At least one pass found a lane held by the other exporter.
      expect(manual.some((report) => report.busy.length > 0)).toBe(true);
    } finally {
      await replicaA.stop();
      await replicaB.stop();
      await orm.close(true);
      await app.close();
      await receiver.stop();
    }
  });
});
