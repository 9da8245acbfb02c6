import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { backoffMs } from '../../src/audit/siem/siem.exporter';
import { REDACTED, sanitizeSiemDetails } from '../../src/audit/siem/siem.outbox';
import { SIEM_COMMANDS } from '../../src/cli/siem.commands';
import { ConfigError, loadConfig } from '../../src/config/config';
import { sql } from '../support/accounts';
import { startTestApp, type TestApp } from '../support/app';
import { HttpReceiver, waitFor } from './siem-receivers';

describe('SIEM details guard', () => {
  it('keeps ids, codes, addresses, digests, time stamps, counters and small numbers', () => {
    const details = {
      grantId: randomUUID(),
      limit: 'login.ip',
      field: 'Mutation.login',
      subject: 'account:AbC-12_xyz',
      ip: '::ffff:127.0.0.1',
      window: '15m',
      max: 5,
      ok: true,
      none: null,
      seq: '12345678901',
      hash: randomBytes(32).toString('hex'),
      at: new Date().toISOString(),
      nested: { types: ['TREATMENT', 'DATA_SHARING'] },
    };
    expect(sanitizeSiemDetails(details)).toEqual({ details, redacted: [] });
  });

  it('redacts free text, e-mail addresses, number strings and anything under a key that names PHI', () => {
    const { details, redacted } = sanitizeSiemDetails({
      note: 'Patient Jane Roe complained of chest pain',
      contact: 'jane.roe@example.test',
      ssnLike: '123-45-6789',
      card: '4111111111111111',
      phoneNumber: 5551234567,
      lastName: 'Roe',
      email: 'CODE_SHAPED',
      nested: { mrn: 'MRN0042', inner: ['ok', 'two words'] },
      'bad key': 'x',
      seq: 'not-a-counter value',
    });
    expect(redacted.sort()).toEqual(
      [
        'note',
        'contact',
        'ssnLike',
        'card',
        'phoneNumber',
        'lastName',
        'email',
        'nested.mrn',
        'nested.inner[1]',
        'bad key',
        'seq',
      ].sort(),
    );
    expect(details).toMatchObject({
      note: REDACTED,
      contact: REDACTED,
      ssnLike: REDACTED,
      card: REDACTED,
      phoneNumber: REDACTED,
      lastName: REDACTED,
      email: REDACTED,
      nested: { mrn: REDACTED, inner: ['ok', REDACTED] },
      seq: REDACTED,
    });
    expect(JSON.stringify(details)).not.toMatch(/Jane|Roe|example\.test|6789|4111|5551234567|bad key/);
  });
});

describe('retry backoff', () => {
  it('doubles from the base, with jitter between half and all of it, and stops at the cap', () => {
    expect(backoffMs(1, 100, 10_000, () => 0)).toBe(50);
    expect(backoffMs(1, 100, 10_000, () => 1)).toBe(100);
    expect(backoffMs(4, 100, 10_000, () => 1)).toBe(800);
    expect(backoffMs(4, 100, 10_000, () => 0)).toBe(400);
    expect(backoffMs(30, 100, 10_000, () => 1)).toBe(10_000);
    expect(backoffMs(500, 100, 10_000, () => 0.5)).toBe(7_500);
    const samples = Array.from({ length: 200 }, () => backoffMs(3, 100, 10_000));
    expect(Math.min(...samples)).toBeGreaterThanOrEqual(200);
    expect(Math.max(...samples)).toBeLessThanOrEqual(400);
    expect(new Set(samples).size).toBeGreaterThan(10);
  });
});

describe('SIEM configuration', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

  function problems(env: Record<string, string>): string[] {
    const dir = mkdtempSync(join(tmpdir(), 'hms-siem-config-'));
    dirs.push(dir);
    const key = () => randomBytes(32).toString('base64');
    try {
      loadConfig({
        HMS_DATA_DIR: dir,
        DATABASE_URL: 'postgresql://hms@db.hospital.test:5432/hms',
        DATABASE_PASSWORD: randomBytes(24).toString('base64url'),
        TOKEN_SIGNING_SECRET: randomBytes(32).toString('base64url'),
        MASTER_KEYS: `1:${key()}`,
        BLIND_INDEX_KEY: key(),
        AUDIT_HMAC_KEY: key(),
        ...env,
      });
      return [];
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      return error.problems.filter((p) => p.startsWith('SIEM_'));
    }
  }

  it('refuses plain http, plain tcp and a missing or weak token in production', () => {
    expect(
      problems({
        NODE_ENV: 'production',
        SIEM_ENDPOINT: 'http://siem.hospital.test/ingest',
        SIEM_SYSLOG_URL: 'tcp://siem.hospital.test:601',
      }),
    ).toEqual([
      'SIEM_ENDPOINT: must be https in production',
      'SIEM_AUTH_TOKEN: required in production',
      'SIEM_SYSLOG_URL: must be tls:// in production',
    ]);
    const weak = problems({
      NODE_ENV: 'production',
      SIEM_ENDPOINT: 'https://siem.hospital.test/ingest',
      SIEM_AUTH_TOKEN: 'changeme-changeme',
    });
    expect(weak).toEqual(['SIEM_AUTH_TOKEN: is a known or guessable value']);
    expect(weak.join()).not.toContain('changeme-changeme');
  });

  it('accepts https and tls:// in production, http and tcp elsewhere, and rejects other schemes', () => {
    expect(
      problems({
        NODE_ENV: 'production',
        SIEM_ENDPOINT: 'https://siem.hospital.test/ingest',
        SIEM_AUTH_TOKEN: randomBytes(24).toString('base64url'),
        SIEM_SYSLOG_URL: 'tls://siem.hospital.test:6514',
      }),
    ).toEqual([]);
    expect(
      problems({ NODE_ENV: 'test', SIEM_ENDPOINT: 'http://127.0.0.1:9/x', SIEM_SYSLOG_URL: 'tcp://127.0.0.1:9' }),
    ).toEqual([]);
    expect(problems({ NODE_ENV: 'test', SIEM_SYSLOG_URL: 'udp://127.0.0.1:514' })).toHaveLength(1);
    expect(problems({ NODE_ENV: 'test', SIEM_SYSLOG_URL: 'tcp://127.0.0.1' })).toEqual([
      'SIEM_SYSLOG_URL: must name a port',
    ]);
    expect(problems({ NODE_ENV: 'test', SIEM_RETRY_BASE_MS: '500', SIEM_RETRY_MAX_MS: '100' })).toEqual([
      'SIEM_RETRY_MAX_MS: must not be below SIEM_RETRY_BASE_MS',
    ]);
  });

  it('has sane defaults: JSON, batches of 100, retries from 1 s capped at 5 min, a week of retention', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hms-siem-config-'));
    dirs.push(dir);
    const config = loadConfig({ NODE_ENV: 'test', HMS_DATA_DIR: dir, DATABASE_URL: 'postgresql://hms@127.0.0.1/hms' });
    expect(config.siem).toEqual({
      endpoint: undefined,
      format: 'json',
      authToken: undefined,
      syslog: undefined,
      batchSize: 100,
      retryBaseMs: 1000,
      retryMaxMs: 300_000,
      pollMs: 5000,
      timeoutMs: 10_000,
      retentionHours: 168,
    });
  });
});

describe('SIEM outbox retention', () => {
  let app: TestApp;
  afterEach(async () => app?.close());

  it('fills with no SIEM configured, and prunes past the retention window only', async () => {
    app = await startTestApp({ SIEM_OUTBOX_RETENTION_HOURS: '24' });
    const em = () => app.services.orm.em.fork();
    const old = await app.services.audit.securityEvent(em(), { eventType: 'OLD', severity: 'LOW' });
    const recent = await app.services.audit.securityEvent(em(), { eventType: 'RECENT', severity: 'LOW' });
    await sql(app, `UPDATE siem_outbox SET created_at = now() - interval '25 hours' WHERE event_id = $1`, [old]);
    expect(app.services.siem.sinkNames).toEqual([]);

    expect(await app.services.siem.prune()).toBe(1);
    const left = await sql<{ event_id: string }>(app, 'SELECT event_id FROM siem_outbox');
    expect(left.map((r) => r.event_id)).toEqual([recent]);
  });

  it('never prunes an old event the configured SIEM has not received, and prunes it once delivered', async () => {
    const receiver = new HttpReceiver();
    await receiver.start();
    await receiver.stop();
    app = await startTestApp({
      SIEM_ENDPOINT: receiver.url,
      SIEM_OUTBOX_RETENTION_HOURS: '24',
      SIEM_POLL_MS: '100',
      SIEM_RETRY_BASE_MS: '40',
      SIEM_RETRY_MAX_MS: '200',
    });
    try {
      const id = await app.services.audit.securityEvent(app.services.orm.em.fork(), {
        eventType: 'KEPT',
        severity: 'LOW',
      });
      await sql(app, `UPDATE siem_outbox SET created_at = now() - interval '30 days' WHERE event_id = $1`, [id]);
      expect(await app.services.siem.prune()).toBe(0);

      await receiver.start();
      await waitFor('delivery', () => receiver.accepted.length === 1);
      await waitFor(
        'the delivered mark',
        async () => (await sql(app, 'SELECT 1 FROM siem_outbox WHERE delivered_at IS NOT NULL')).length === 1,
      );
      expect(await app.services.siem.prune()).toBe(1);
    } finally {
      await receiver.stop();
    }
  });

  it('redacts PHI-shaped details before they are stored, and logs neither the value nor the payload', async () => {
    const receiver = new HttpReceiver();
    await receiver.start();
    app = await startTestApp({ SIEM_ENDPOINT: receiver.url, SIEM_POLL_MS: '100' });
    try {
      const email = `pat.${randomBytes(4).toString('hex')}@example.test`;
      const id = await app.services.audit.securityEvent(app.services.orm.em.fork(), {
        eventType: 'CARELESS_PRODUCER',
        severity: 'LOW',
        details: { contact: email, code: 'OK_CODE' },
      });
      await waitFor('delivery', () => receiver.accepted.length === 1);
      expect(receiver.accepted[0]).toMatchObject({ id, details: { contact: REDACTED, code: 'OK_CODE' } });
      const [row] = await sql<{ details: unknown }>(app, 'SELECT details FROM siem_outbox WHERE event_id = $1', [id]);
      expect(JSON.stringify(row.details)).not.toContain(email);
      expect(app.logs.text()).not.toContain(email);
    } finally {
      await receiver.stop();
    }
  });
});

describe('siem:flush', () => {
  it('drains the outbox once, in order, and exits 1 while the SIEM refuses', async () => {
    const receiver = new HttpReceiver();
    await receiver.start();
    // The server has no SIEM configured; the operator's command has one.
    const app = await startTestApp();
    const saved = { ...process.env };
    try {
      const ids: string[] = [];
      for (let i = 0; i < 3; i += 1) {
        ids.push(
          await app.services.audit.securityEvent(app.services.orm.em.fork(), { eventType: 'FLUSHED', severity: 'LOW' }),
        );
      }
      Object.assign(process.env, {
        DATABASE_URL: app.db.url,
        TOKEN_SIGNING_SECRET: app.config.tokens.signingSecret,
        MASTER_KEYS: app.config.keys.masterKeys,
        BLIND_INDEX_KEY: app.config.keys.blindIndexKey.toString('base64'),
        AUDIT_HMAC_KEY: app.config.keys.auditHmacKey.toString('base64'),
        SIEM_ENDPOINT: receiver.url,
      });
      const lines: string[] = [];
      const flush = () => SIEM_COMMANDS['siem:flush'].run({ args: [], out: (line) => lines.push(line) });

      expect(await flush()).toBe(0);
      expect(receiver.accepted.map((e) => e.id)).toEqual(ids);
      expect(lines).toContain('delivered 3 to http:security');

      await receiver.stop();
      await app.services.audit.securityEvent(app.services.orm.em.fork(), { eventType: 'STUCK', severity: 'LOW' });
      lines.length = 0;
      expect(await flush()).toBe(1);
      expect(lines).toContain('failed http:security: ECONNREFUSED');
      expect(lines.join('\n')).toMatch(/security\s+undelivered: http 1 oldest \S+ last error ECONNREFUSED/);
    } finally {
      process.env = saved;
      await app.close();
      await receiver.stop();
    }
  });
});
