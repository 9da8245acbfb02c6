import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import {
  cefExtensionEscape,
  cefHeaderEscape,
  frameSyslog,
  toCef,
  toSyslogMessage,
  type OutboxEvent,
} from '../../src/audit/siem/siem.formats';
import { sql } from '../support/accounts';
import { startTestApp, type TestApp } from '../support/app';
import { parseOctetFrames, SyslogReceiver, waitFor } from './siem-receivers';

const FAST = { SIEM_POLL_MS: '100', SIEM_RETRY_BASE_MS: '40', SIEM_RETRY_MAX_MS: '300', SIEM_BATCH_SIZE: '4' };

function event(overrides: Partial<OutboxEvent> = {}): OutboxEvent {
  return {
    sequence: '7',
    id: randomUUID(),
    stream: 'security',
    eventType: 'BREAK_GLASS',
    severity: 'HIGH',
    at: new Date('2026-12-04T10:00:00.000Z'),
    actorId: randomUUID(),
    patientId: null,
    details: {},
    ...overrides,
  };
}

/** Splits a CEF record into its 7 header fields and the extension, honouring the header's escapes. */
function splitCef(record: string): { header: string[]; extension: string } {
  const header: string[] = [];
  let current = '';
  let i = 0;
  for (; i < record.length && header.length < 7; i += 1) {
    const c = record[i];
    if (c === '\\' && (record[i + 1] === '|' || record[i + 1] === '\\')) {
      current += record[i + 1];
      i += 1;
    } else if (c === '|') {
      header.push(current);
      current = '';
    } else current += c;
  }
  return { header, extension: record.slice(i) };
}

/** Parses a CEF extension into key/value pairs, honouring `\=`, `\\`, `\n` and `\r`. */
function parseExtension(extension: string): Record<string, string> {
  const out: Record<string, string> = {};
  const keys = [...extension.matchAll(/(?:^| )([A-Za-z0-9]+)=/g)].filter((m) => {
    // A key's '=' is unescaped: count the backslashes before it.
    let backslashes = 0;
    for (let j = m.index! + m[0].length - 2; j >= 0 && extension[j] === '\\'; j -= 1) backslashes += 1;
    return backslashes % 2 === 0;
  });
  keys.forEach((m, k) => {
    const start = m.index! + m[0].length;
    const end = k + 1 < keys.length ? keys[k + 1].index! : extension.length;
    out[m[1]] = extension
      .slice(start, end)
      .replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c === 'r' ? '\r' : c));
  });
  return out;
}

describe('CEF records', () => {
  it('escapes pipes and backslashes in the header, and breaks no line', () => {
    expect(cefHeaderEscape('a|b\\c\nd')).toBe('a\\|b\\\\c d');
    const record = toCef(event({ eventType: 'WEIRD|TYPE\\X\nY' }));
    expect(record).not.toMatch(/[\r\n]/);
    const { header } = splitCef(record);
    expect(header).toEqual(['CEF:0', 'HMS', 'HMS API', '1.0', 'WEIRD|TYPE\\X Y', 'WEIRD|TYPE\\X Y', '8']);
  });

  it('escapes equals signs, backslashes and line breaks in extension values, and they read back exactly', () => {
    expect(cefExtensionEscape('a=b\\c\nd\re|f')).toBe('a\\=b\\\\c\\nd\\re|f');
    const details = { path: 'x=y\\z', note: 'line1\nline2', pipe: 'a|b' };
    const e = event({ details, patientId: randomUUID() });
    const record = toCef(e);
    expect(record).not.toMatch(/[\r\n]/);
    const ext = parseExtension(splitCef(record).extension);
    expect(JSON.parse(ext.msg)).toEqual(details);
    expect(ext).toMatchObject({
      rt: String(e.at.getTime()),
      externalId: e.id,
      suid: e.actorId,
      cs1Label: 'patientId',
      cs1: e.patientId,
      cs2: 'security',
      cn1: '7',
    });
  });

  it('frames RFC 5424 messages by octet count (UTF-8 bytes) or by line', () => {
    const message = toSyslogMessage(event({ details: { city: 'Zürich' } }));
    expect(message).toMatch(/^<107>1 2026-12-04T10:00:00\.000Z \S+ hms-api \d+ BREAK_GLASS - CEF:0\|/);
    const framed = frameSyslog(message, 'octet');
    expect(framed.startsWith(`${Buffer.byteLength(message)} `)).toBe(true);
    expect(Buffer.byteLength(message)).toBeGreaterThan(message.length);
    expect(parseOctetFrames(framed + framed)).toEqual({ messages: [message, message], rest: '' });
    expect(frameSyslog(message, 'newline')).toBe(`${message}\n`);
  });
});

/** Raises `count` committed security events and returns their ids in order. */
async function raise(app: TestApp, count: number, eventType: string): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i += 1) {
    ids.push(
      await app.services.audit.securityEvent(app.services.orm.em.fork(), {
        eventType,
        severity: 'MEDIUM',
        details: { index: i },
      }),
    );
  }
  return ids;
}

const idsOf = (messages: string[]) => messages.map((m) => /externalId=([0-9a-f-]{36})/.exec(m)?.[1]);

describe('CEF over syslog TCP', () => {
  it.each(['octet', 'newline'] as const)(
    'delivers in order with %s framing, and again after the receiver was down',
    async (framing) => {
      const receiver = new SyslogReceiver(framing);
      await receiver.start();
      const app = await startTestApp({
        SIEM_SYSLOG_URL: `tcp://127.0.0.1:${receiver.port}`,
        SIEM_SYSLOG_FRAMING: framing,
        ...FAST,
      });
      try {
        const expected = await raise(app, 6, 'SYSLOG_TEST');
        await waitFor('6 syslog messages', () => receiver.messages.length >= 6);
        expect(idsOf(receiver.messages)).toEqual(expected);
        expect(receiver.messages.every((m) => m.includes('CEF:0|HMS|HMS API|1.0|SYSLOG_TEST|SYSLOG_TEST|5|'))).toBe(
          true,
        );

        await receiver.stop();
        expected.push(...(await raise(app, 5, 'SYSLOG_DOWN')));
        await waitFor('a refused connection', async () => {
          const rows = await sql(app, `SELECT 1 FROM siem_outbox WHERE last_error IS NOT NULL`);
          return rows.length > 0;
        });
        await receiver.start();
        await waitFor('the backlog', () => receiver.messages.length >= expected.length);
        await new Promise((resolve) => setTimeout(resolve, 200));
        expect(idsOf(receiver.messages)).toEqual(expected);
        const pending = await sql(app, 'SELECT 1 FROM siem_outbox WHERE syslog_delivered_at IS NULL');
        expect(pending).toHaveLength(0);
      } finally {
        await app.close();
        await receiver.stop();
      }
    },
  );
});

describe('CEF over syslog TLS', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'hms-siem-tls-'));
    writeFileSync(join(dir, 'san.cnf'), '[req]\ndistinguished_name=dn\n[dn]\n[ext]\nsubjectAltName=IP:127.0.0.1\n');
    execFileSync(
      '/usr/bin/openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=siem.test',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
        '-config',
        join(dir, 'san.cnf'),
        '-extensions',
        'ext',
      ],
      { stdio: 'ignore' },
    );
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('delivers to a receiver whose certificate the CA file vouches for', async () => {
    const tls = { cert: readFileSync(join(dir, 'cert.pem')), key: readFileSync(join(dir, 'key.pem')) };
    const receiver = new SyslogReceiver('octet', tls);
    await receiver.start();
    const app = await startTestApp({
      SIEM_SYSLOG_URL: `tls://127.0.0.1:${receiver.port}`,
      SIEM_SYSLOG_CA_FILE: join(dir, 'cert.pem'),
      ...FAST,
    });
    try {
      const expected = await raise(app, 3, 'SYSLOG_TLS');
      await waitFor('3 messages over TLS', () => receiver.messages.length >= 3);
      expect(idsOf(receiver.messages)).toEqual(expected);
    } finally {
      await app.close();
      await receiver.stop();
    }
  });

  it('refuses a receiver whose certificate is not trusted, and keeps the events', async () => {
    const tls = { cert: readFileSync(join(dir, 'cert.pem')), key: readFileSync(join(dir, 'key.pem')) };
    const receiver = new SyslogReceiver('octet', tls);
    await receiver.start();
    const app = await startTestApp({ SIEM_SYSLOG_URL: `tls://127.0.0.1:${receiver.port}`, ...FAST });
    try {
      await raise(app, 2, 'SYSLOG_UNTRUSTED');
      await waitFor('a refused handshake', async () => {
        const rows = await sql<{ last_error: string | null }>(
          app,
          'SELECT last_error FROM siem_outbox WHERE last_error IS NOT NULL',
        );
        return rows.length > 0;
      });
      const [row] = await sql<{ last_error: string }>(
        app,
        'SELECT last_error FROM siem_outbox WHERE last_error IS NOT NULL',
      );
      expect(row.last_error).toMatch(/CERT|SELF_SIGNED/);
      expect(receiver.messages).toHaveLength(0);
      expect(await sql(app, 'SELECT 1 FROM siem_outbox WHERE syslog_delivered_at IS NULL')).toHaveLength(2);
    } finally {
      await app.close();
      await receiver.stop();
    }
  });
});
