import { execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes, X509Certificate } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request, type RequestOptions } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  connect,
  createServer as createTlsServer,
  type ConnectionOptions,
  type Server as TlsServer,
  type TLSSocket,
} from 'node:tls';

import { ConfigError, loadConfig } from '../../src/config/config';
import { plainHttpWarning, tlsServerOptions } from '../../src/http/tls';
import { startTestApp, testEnv, type TestApp } from '../support/app';
import { startChildApp, stopChildApp, type ChildApp } from '../support/child-app';

// Every certificate here is made by /usr/bin/openssl for this run: two CAs, two server certificates for
// 127.0.0.1/localhost (the second one for the reload), a client certificate of each CA and an expired client
// certificate of the first CA (`openssl ca -startdate/-enddate`: `x509 -req -days` cannot backdate).
const dir = mkdtempSync(join(tmpdir(), 'hms-tls-'));
const path = (name: string): string => join(dir, name);

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}

function ecKey(name: string): void {
  openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', path(`${name}.key`));
}

function makeCa(name: string): void {
  ecKey(name);
  openssl(
    'req', '-x509', '-new', '-key', path(`${name}.key`), '-out', path(`${name}.crt`), '-days', '2',
    '-subj', `/CN=HMS test ${name} ${randomBytes(3).toString('hex')}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ); // prettier-ignore
}

/** A leaf certificate signed by `ca`, valid now; `usage` picks server (SAN 127.0.0.1, localhost) or client. */
function makeLeaf(name: string, ca: string, usage: 'server' | 'client'): void {
  ecKey(name);
  openssl('req', '-new', '-key', path(`${name}.key`), '-out', path(`${name}.csr`), '-subj', `/CN=hms-${name}`);
  const extensions =
    usage === 'server'
      ? 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n'
      : 'extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n';
  writeFileSync(path(`${name}.ext`), extensions);
  openssl(
    'x509', '-req', '-in', path(`${name}.csr`), '-CA', path(`${ca}.crt`), '-CAkey', path(`${ca}.key`),
    '-set_serial', `0x${randomBytes(8).toString('hex')}`, '-days', '2', '-sha256',
    '-extfile', path(`${name}.ext`), '-out', path(`${name}.crt`),
  ); // prettier-ignore
}

/** A client certificate of `ca` that expired in 2020. */
function makeExpiredClient(name: string, ca: string): void {
  ecKey(name);
  openssl('req', '-new', '-key', path(`${name}.key`), '-out', path(`${name}.csr`), '-subj', `/CN=hms-${name}`);
  writeFileSync(path('index.txt'), '');
  writeFileSync(path('serial'), `${randomBytes(8).toString('hex')}\n`);
  writeFileSync(
    path('ca.cnf'),
    [
      '[ca]', 'default_ca = test_ca',
      '[test_ca]', `database = ${path('index.txt')}`, `new_certs_dir = ${dir}`, `serial = ${path('serial')}`,
      'default_md = sha256', 'policy = any', 'unique_subject = no', 'copy_extensions = none',
      '[any]', 'commonName = supplied',
      '[client_ext]', 'basicConstraints = CA:FALSE', 'extendedKeyUsage = clientAuth',
    ].join('\n'),
  ); // prettier-ignore
  openssl(
    'ca', '-batch', '-notext', '-config', path('ca.cnf'), '-cert', path(`${ca}.crt`), '-keyfile', path(`${ca}.key`),
    '-in', path(`${name}.csr`), '-out', path(`${name}.crt`), '-extensions', 'client_ext',
    '-startdate', '20200101000000Z', '-enddate', '20200102000000Z',
  ); // prettier-ignore
}

const pem = (name: string): Buffer => readFileSync(path(name));

beforeAll(() => {
  makeCa('ca');
  makeCa('other-ca');
  makeLeaf('server', 'ca', 'server');
  makeLeaf('server2', 'ca', 'server');
  makeLeaf('client', 'ca', 'client');
  makeLeaf('client2', 'other-ca', 'client');
  makeLeaf('other-client', 'other-ca', 'client');
  makeExpiredClient('expired-client', 'ca');
}, 60_000);

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  peerFingerprint: string;
  localPort: number;
}

/** One HTTPS request trusting our CA for the server; `client` names the client certificate to present, if any. */
function get(
  url: string,
  pathname: string,
  options: { client?: string; agent?: Agent; body?: string } & RequestOptions = {},
): Promise<Answer> {
  const { client, agent, body, ...rest } = options;
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}${pathname}`,
      {
        method: body ? 'POST' : 'GET',
        headers: body ? { 'content-type': 'application/json' } : {},
        ca: pem('ca.crt'),
        ...(client ? { cert: pem(`${client}.crt`), key: pem(`${client}.key`) } : {}),
        agent: agent ?? false,
        ...rest,
      },
      (res) => {
        const socket = res.socket as TLSSocket;
        const peerFingerprint = socket.getPeerCertificate().fingerprint256;
        const localPort = socket.localPort ?? 0;
        let text = '';
        res.on('data', (chunk: Buffer) => (text += String(chunk)));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text, peerFingerprint, localPort }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** A bare TLS handshake: whether it completed, or the error that ended it. */
function handshake(url: string, options: ConnectionOptions): Promise<{ completed: boolean; error?: string }> {
  const { port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port: Number(port), ca: pem('ca.crt'), ...options }, () => {
      socket.end();
      resolve({ completed: true });
    });
    socket.on('error', (error: NodeJS.ErrnoException) => resolve({ completed: false, error: error.code }));
  });
}

async function listen(server: TlsServer): Promise<{ server: TlsServer; url: string }> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `https://127.0.0.1:${(server.address() as { port: number }).port}` };
}

const fingerprint = (name: string): string => new X509Certificate(pem(name)).fingerprint256;
const HEALTH = JSON.stringify({ query: '{ health }' });

describe('TLS configuration', () => {
  const env = (tls: Record<string, string>) => testEnv('postgresql://postgres@127.0.0.1:5432/unused', tls);
  const problemsOf = (tls: Record<string, string>): string[] => {
    try {
      loadConfig(env(tls));
    } catch (error) {
      if (error instanceof ConfigError) return error.problems;
      throw error;
    }
    return [];
  };

  it('accepts a certificate and its key, with or without a client CA', () => {
    const config = loadConfig(
      env({ TLS_CERT_FILE: path('server.crt'), TLS_KEY_FILE: path('server.key'), TLS_CLIENT_CA_FILE: path('ca.crt') }),
    );
    expect(config.tls).toEqual({
      certFile: path('server.crt'),
      keyFile: path('server.key'),
      clientCaFile: path('ca.crt'),
    });
    expect(loadConfig(env({})).tls).toBeUndefined();
  });

  it('refuses a certificate without a key, a key without a certificate, and a client CA alone, naming the variable', () => {
    expect(problemsOf({ TLS_CERT_FILE: path('server.crt') })).toEqual([
      expect.stringMatching(/^TLS_KEY_FILE: required/),
    ]);
    expect(problemsOf({ TLS_KEY_FILE: path('server.key') })).toEqual([
      expect.stringMatching(/^TLS_CERT_FILE: required/),
    ]);
    expect(problemsOf({ TLS_CLIENT_CA_FILE: path('ca.crt') })).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^TLS_CERT_FILE: required/),
        expect.stringMatching(/^TLS_KEY_FILE: required/),
        expect.stringMatching(/^TLS_CLIENT_CA_FILE: mutual TLS needs TLS_CERT_FILE and TLS_KEY_FILE/),
      ]),
    );
  });

  it('refuses unreadable files, a key of another certificate and non-PEM content, without echoing content', () => {
    expect(
      problemsOf({
        TLS_CERT_FILE: path('missing.crt'),
        TLS_KEY_FILE: path('server.key'),
        TLS_CLIENT_CA_FILE: path('missing-ca.crt'),
      }),
    ).toEqual(['TLS_CERT_FILE: cannot read the file it names', 'TLS_CLIENT_CA_FILE: cannot read the file it names']);
    expect(problemsOf({ TLS_CERT_FILE: path('server.crt'), TLS_KEY_FILE: path('client.key') })).toEqual([
      'TLS_KEY_FILE: does not belong to the certificate of TLS_CERT_FILE',
    ]);

    writeFileSync(path('garbage.pem'), 'not-a-pem-5f1c9e');
    const problems = problemsOf({
      TLS_CERT_FILE: path('garbage.pem'),
      TLS_KEY_FILE: path('garbage.pem'),
      TLS_CLIENT_CA_FILE: path('garbage.pem'),
    });
    expect(problems).toEqual([
      'TLS_CERT_FILE: is not a PEM certificate',
      'TLS_KEY_FILE: is not an unencrypted PEM private key',
      'TLS_CLIENT_CA_FILE: is not a PEM certificate',
    ]);
    expect(problems.join('\n')).not.toContain('5f1c9e');
  });

  it('warns about plain HTTP in production without TRUST_PROXY, and only then', () => {
    const config = loadConfig(env({}));
    const production = { ...config, isProduction: true };
    expect(plainHttpWarning(production)).toMatch(/PLAIN HTTP IN PRODUCTION/);
    expect(plainHttpWarning(config)).toBeUndefined();
    expect(plainHttpWarning({ ...production, http: { ...config.http, trustProxy: ['10.0.0.0/8'] } })).toBeUndefined();
    expect(
      plainHttpWarning({ ...production, tls: { certFile: path('server.crt'), keyFile: path('server.key') } }),
    ).toBeUndefined();
  });
});

describe('HTTPS without client certificates', () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp({ TLS_CERT_FILE: path('server.crt'), TLS_KEY_FILE: path('server.key') });
  });

  afterAll(async () => {
    await app?.close();
  });

  it('serves GraphQL and the probes over HTTPS only, with HSTS', async () => {
    expect(app.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const graphql = await get(app.url, '/graphql', { body: HEALTH });
    expect(graphql.status).toBe(200);
    expect(JSON.parse(graphql.body)).toEqual({ data: { health: expect.anything() } });
    expect(graphql.headers['strict-transport-security']).toBe('max-age=63072000; includeSubDomains');
    expect(graphql.peerFingerprint).toBe(fingerprint('server.crt'));
    expect((await get(app.url, '/healthz')).status).toBe(200);

    const plain = fetch(`${app.url.replace('https:', 'http:')}/healthz`);
    await expect(plain).rejects.toThrow();
  });

  it('speaks TLS 1.2 and 1.3 but refuses TLS 1.1, which the same client can speak to a lax server', async () => {
    expect(await handshake(app.url, { maxVersion: 'TLSv1.2' })).toEqual({ completed: true });
    expect(await handshake(app.url, { minVersion: 'TLSv1.3' })).toEqual({ completed: true });

    // The system OpenSSL may refuse TLS 1.1 on its own (security level 2); SECLEVEL=0 takes that floor away, so
    // the second server below refuses only because of the API's own options.
    const old: ConnectionOptions = { minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' };
    const tls = { certFile: path('server.crt'), keyFile: path('server.key') };
    const lax = await listen(createTlsServer({ ...tlsServerOptions(tls), minVersion: 'TLSv1', ciphers: old.ciphers }));
    const ours = await listen(createTlsServer({ ...tlsServerOptions(tls), ciphers: old.ciphers }));
    try {
      expect(await handshake(lax.url, old)).toEqual({ completed: true });
      expect(await handshake(ours.url, old)).toEqual({ completed: false, error: expect.any(String) });
    } finally {
      lax.server.close();
      ours.server.close();
    }
    expect(await handshake(app.url, old)).toEqual({ completed: false, error: expect.any(String) });
  });
});

describe('mutual TLS', () => {
  let app: TestApp;
  const live = (name: string): string => path(`live-${name}`);

  beforeAll(async () => {
    // The server reads copies, so the reload test can replace them.
    copyFileSync(path('server.crt'), live('server.crt'));
    copyFileSync(path('server.key'), live('server.key'));
    copyFileSync(path('ca.crt'), live('ca.crt'));
    app = await startTestApp({
      TLS_CERT_FILE: live('server.crt'),
      TLS_KEY_FILE: live('server.key'),
      TLS_CLIENT_CA_FILE: live('ca.crt'),
    });
  });

  afterAll(async () => {
    await app?.close();
  });

  it('serves a client presenting a valid certificate of the client CA', async () => {
    const res = await get(app.url, '/graphql', { client: 'client', body: HEALTH });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ data: { health: expect.anything() } });
    expect((await get(app.url, '/readyz', { client: 'client' })).status).toBe(200);
    expect(app.server.tls).toEqual({ enabled: true, mutual: true });
  });

  it('refuses a client without a certificate at the handshake, probes included', async () => {
    await expect(get(app.url, '/graphql', { body: HEALTH })).rejects.toThrow();
    await expect(get(app.url, '/healthz')).rejects.toThrow();
    // Under TLS 1.2 the client learns of the refusal before the handshake completes.
    expect(await handshake(app.url, { maxVersion: 'TLSv1.2' })).toEqual({
      completed: false,
      error: expect.any(String),
    });
    expect(app.logs.text()).toContain('TLS handshake refused');
  });

  it('refuses a certificate of another CA at the handshake', async () => {
    await expect(get(app.url, '/graphql', { client: 'other-client', body: HEALTH })).rejects.toThrow();
    const tls12 = { maxVersion: 'TLSv1.2' as const, cert: pem('other-client.crt'), key: pem('other-client.key') };
    expect(await handshake(app.url, tls12)).toEqual({ completed: false, error: expect.any(String) });
  });

  it('refuses an expired certificate of the right CA at the handshake', async () => {
    const expired = new X509Certificate(pem('expired-client.crt'));
    expect(expired.checkIssued(new X509Certificate(pem('ca.crt')))).toBe(true);
    expect(new Date(expired.validTo).getTime()).toBeLessThan(Date.now());

    await expect(get(app.url, '/graphql', { client: 'expired-client', body: HEALTH })).rejects.toThrow();
    const tls12 = { maxVersion: 'TLSv1.2' as const, cert: pem('expired-client.crt'), key: pem('expired-client.key') };
    expect(await handshake(app.url, tls12)).toEqual({ completed: false, error: expect.any(String) });
    expect(app.logs.text()).toContain('CERT_HAS_EXPIRED');
  });

  it('reloads a new certificate and client CA into the running server: old CA refused, certificate still demanded', async () => {
    copyFileSync(path('server2.crt'), live('server.crt'));
    copyFileSync(path('server2.key'), live('server.key'));
    copyFileSync(path('other-ca.crt'), live('ca.crt'));

    expect(app.server.reloadTls()).toBe(true);

    const fresh = await get(app.url, '/graphql', { client: 'client2', body: HEALTH });
    expect(fresh.status).toBe(200);
    expect(fresh.peerFingerprint).toBe(fingerprint('server2.crt'));
    await expect(get(app.url, '/graphql', { client: 'client', body: HEALTH })).rejects.toThrow();
    await expect(get(app.url, '/graphql', { body: HEALTH })).rejects.toThrow();
    expect(app.logs.text()).toContain('TLS certificates reloaded');
  });

  it('keeps the previous certificate when the reloaded files are bad, and logs no key material', async () => {
    const serving = (await get(app.url, '/healthz', { client: 'client2' })).peerFingerprint;
    copyFileSync(path('client.key'), live('server.key'));

    expect(app.server.reloadTls()).toBe(false);
    const after = await get(app.url, '/healthz', { client: 'client2' });
    expect(after.status).toBe(200);
    expect(after.peerFingerprint).toBe(serving);
    expect(app.logs.text()).toContain('TLS reload failed');
    expect(app.logs.text()).not.toContain('PRIVATE KEY');
    expect(app.logs.text()).not.toContain('BEGIN CERTIFICATE');
  });
});

/**
 * A TLS server in a process of its own, wired to SIGHUP as src/main.ts wires it: jest's sandbox has its own
 * `process` object, so a signal sent to the jest process would not reach a handler installed from a test.
 */
function startSighupChild(databaseUrl: string, env: Record<string, string>): Promise<ChildApp> {
  const script = `
    require('reflect-metadata');
    const { startTestApp } = require(${JSON.stringify(join(__dirname, '..', 'support', 'app.ts'))});
    const { reloadOnSighup } = require(${JSON.stringify(join(__dirname, '..', '..', 'src', 'http', 'tls.ts'))});
    startTestApp(JSON.parse(process.env.HMS_CHILD_OVERRIDES), { databaseUrl: process.argv[1] }).then((app) => {
      reloadOnSighup(() => app.server.reloadTls());
      process.on('SIGTERM', () => app.close().then(() => process.exit(0), () => process.exit(1)));
      process.stdout.write(JSON.stringify({ url: app.url }) + '\\n');
    }, (error) => { process.stderr.write(String(error && error.message)); process.exit(1); });`;
  return startChildApp(['-e', script, databaseUrl], env, 'TLS server process');
}

describe('certificate reload on SIGHUP, in a server process', () => {
  let app: TestApp;
  let child: ChildProcess | undefined;
  let url: string;
  const live = (name: string): string => path(`sighup-${name}`);

  beforeAll(async () => {
    copyFileSync(path('server.crt'), live('server.crt'));
    copyFileSync(path('server.key'), live('server.key'));
    app = await startTestApp();
    const started = await startSighupChild(app.db.url, {
      TLS_CERT_FILE: live('server.crt'),
      TLS_KEY_FILE: live('server.key'),
    });
    child = started.child;
    url = started.url;
  }, 120_000);

  afterAll(async () => {
    await stopChildApp(child);
    await app?.close();
  });

  it('keeps a connection opened before the signal working, and presents the new certificate to new handshakes', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const before = await get(url, '/graphql', { body: HEALTH, agent });
    expect(before.status).toBe(200);
    expect(before.peerFingerprint).toBe(fingerprint('server.crt'));

    copyFileSync(path('server2.crt'), live('server.crt'));
    copyFileSync(path('server2.key'), live('server.key'));
    child!.kill('SIGHUP');
    let fresh = await get(url, '/healthz');
    for (let i = 0; i < 100 && fresh.peerFingerprint !== fingerprint('server2.crt'); i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      fresh = await get(url, '/healthz');
    }
    expect(fresh.peerFingerprint).toBe(fingerprint('server2.crt'));
    expect(child!.exitCode).toBeNull();

    const sameConnection = await get(url, '/graphql', { body: HEALTH, agent });
    expect(sameConnection.status).toBe(200);
    expect(sameConnection.localPort).toBe(before.localPort);
    expect(sameConnection.peerFingerprint).toBe(fingerprint('server.crt'));
    agent.destroy();
  });
});
