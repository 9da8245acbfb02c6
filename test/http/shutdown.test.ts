import { connect, type Socket } from 'node:net';
import { Client } from 'pg';

import { CHAIN_LOCK } from '../../src/audit/audit-chain';
import { createAccount, signIn } from '../support/accounts';
import { startTestApp, type TestApp } from '../support/app';
import { rawQuery } from '../support/database';

// Graceful shutdown as src/main.ts runs it on SIGTERM: `server.stop()` closes the listener, lets requests in
// flight finish and closes idle keep-alive connections. A request is held "in flight" by sending its headers and
// only half of its body: the server has accepted it, and cannot answer before the rest arrives.

const BODY = JSON.stringify({ query: '{ health }' });

/** Opens a raw connection to the server; rejects with the socket error (ECONNREFUSED once the listener is closed). */
function open(url: string): Promise<Socket> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Everything the server sends on `socket` until it closes the connection. */
function readAll(socket: Socket): Promise<string> {
  let text = '';
  socket.on('data', (chunk: Buffer) => (text += String(chunk)));
  return new Promise((resolve, reject) => {
    socket.once('end', () => resolve(text));
    socket.once('error', reject);
  });
}

function requestHead(url: string): string {
  return [
    'POST /graphql HTTP/1.1',
    `Host: ${new URL(url).host}`,
    'Content-Type: application/json',
    `Content-Length: ${Buffer.byteLength(BODY)}`,
    'Connection: keep-alive',
    '',
    '',
  ].join('\r\n');
}

describe('graceful shutdown', () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp();
  });

  const sockets: Socket[] = [];

  afterAll(async () => {
    // Only when a test failed half-way: a held request would keep the drain waiting for its grace period.
    for (const socket of sockets) socket.destroy();
    await app?.close();
  });

  it('finishes a request in flight while stopping, refuses new connections and closes idle ones', async () => {
    const idle = await open(app.url);
    const idleClosed = new Promise<void>((resolve) => idle.once('close', () => resolve()));

    const slow = await open(app.url);
    sockets.push(idle, slow);
    const answer = readAll(slow);
    const received = new Promise<void>((resolve) => app.server.httpServer.once('request', () => resolve()));
    slow.write(requestHead(app.url) + BODY.slice(0, 5));
    await received;

    let stopped = false;
    const stopping = app.server.stop().then(() => {
      stopped = true;
    });

    // The listener closes as soon as the stop begins (one tick); from then on connections are refused outright,
    // while the request above is still unanswered.
    for (let i = 0; i < 100 && app.server.httpServer.listening; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await expect(open(app.url)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await idleClosed;
    expect(stopped).toBe(false);

    slow.write(BODY.slice(5));
    const response = await answer;
    expect(response).toMatch(/^HTTP\/1\.1 200 /);
    expect(response).toContain('"data":{"health"');
    await stopping;
    expect(stopped).toBe(true);
  });
});

describe('graceful shutdown after a client has hung up', () => {
  let app: TestApp;
  let holder: Client | undefined;

  beforeAll(async () => {
    app = await startTestApp();
  });

  afterAll(async () => {
    await holder?.end().catch(() => undefined);
    await app?.close();
  });

  it('lets the operation finish and commit its audit row before the keys are destroyed', async () => {
    const { accessToken } = await signIn(app, await createAccount(app, 'RECEPTIONIST'));
    const lastName = `Hangup${Date.now()}`;
    const body = JSON.stringify({
      query: 'mutation($input: PatientInput!) { createPatient(input: $input) { id firstName } }',
      variables: { input: { firstName: 'Dora', lastName, dateOfBirth: '1981-03-04', sex: 'FEMALE' } },
    });
    // Another connection holds the audit chain lock, so the mutation runs up to its audit append and waits there.
    holder = new Client({ connectionString: app.db.url });
    await holder.connect();
    await holder.query('BEGIN');
    await holder.query('SELECT pg_advisory_xact_lock(hashtext($1))', [CHAIN_LOCK]);

    const socket = await open(app.url);
    socket.on('error', () => undefined);
    socket.write(
      [
        'POST /graphql HTTP/1.1',
        `Host: ${new URL(app.url).host}`,
        'Content-Type: application/json',
        `Authorization: Bearer ${accessToken}`,
        `Content-Length: ${Buffer.byteLength(body)}`,
        '',
        body,
      ].join('\r\n'),
    );
    const waiting = async () =>
      (
        await rawQuery<{ n: number }>(
          app.db.url,
          "SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted",
        )
      )[0].n;
    for (let i = 0; i < 200 && (await waiting()) === 0; i++) await new Promise((resolve) => setTimeout(resolve, 25));
    expect(await waiting()).toBe(1);
    socket.destroy(); // the client hangs up: for the HTTP drain, nothing is in flight any more

    let stopped = false;
    const stopping = app.server.stop().then(() => {
      stopped = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(stopped).toBe(false);

    await holder.query('COMMIT');
    await stopping;
    const rows = await rawQuery<{ action: string; outcome: string }>(
      app.db.url,
      "SELECT action, outcome FROM audit_events WHERE action = 'patient.create'",
    );
    expect(rows).toEqual([{ action: 'patient.create', outcome: 'ALLOWED' }]);
    expect(await rawQuery(app.db.url, 'SELECT id FROM patients')).toHaveLength(1);
    expect(app.logs.text()).not.toMatch(/KEY_DESTROYED|operations still running/);
  });
});
