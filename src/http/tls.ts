import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { ServerOptions } from 'node:https';
import { createSecureContext, type SecureContextOptions, type Server as TlsServer } from 'node:tls';

import type { Config } from '../config/config';
import type { Logger } from '../logging/logger';

export type TlsConfig = NonNullable<Config['tls']>;

/** TLS 1.2 is the floor (HIPAA guidance points at NIST SP 800-52r2); Node's default cipher list applies above it. */
export const TLS_MIN_VERSION = 'TLSv1.2';

const HANDSHAKE_TIMEOUT_MS = 10_000;

/**
 * The secure context from the files, read afresh on every call so a reload picks up renewed certificates.
 * With a client CA, that CA replaces the default roots for verifying clients: only its certificates pass.
 */
export function secureContextOptions(tls: TlsConfig): SecureContextOptions {
  return {
    cert: readFileSync(tls.certFile),
    key: readFileSync(tls.keyFile),
    ...(tls.clientCaFile ? { ca: readFileSync(tls.clientCaFile) } : {}),
    minVersion: TLS_MIN_VERSION,
  };
}

/**
 * Options of the HTTPS server. Under mutual TLS a client without a certificate is refused by OpenSSL in the
 * handshake; one whose certificate fails verification (another CA, expired) is refused by Node as the handshake
 * completes, before 'secureConnection': no HTTP is read either way, probes included.
 * Shortcoming: client certificates are not checked for revocation (no CRL, no OCSP); Node would need a CRL file
 * kept current by someone, which this deployment has no source for yet. Withdrawing one means re-issuing the CA.
 */
export function tlsServerOptions(tls: TlsConfig): ServerOptions {
  const mutual = Boolean(tls.clientCaFile);
  return {
    ...secureContextOptions(tls),
    requestCert: mutual,
    rejectUnauthorized: mutual,
    // Node's default is 120 s. A connection still in its handshake holds up `server.close()` on shutdown and is
    // a cheap way to tie up sockets; 10 s matches the drain's grace period.
    handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
  };
}

/** Public facts of the served certificate, for logs: never the key, never the PEM. */
export function certificateFacts(tls: TlsConfig): { fingerprint256: string; validTo: string; expired: boolean } {
  const certificate = new X509Certificate(readFileSync(tls.certFile));
  return {
    fingerprint256: certificate.fingerprint256,
    validTo: new Date(certificate.validTo).toISOString(),
    expired: new Date(certificate.validTo).getTime() < Date.now(),
  };
}

/**
 * Re-reads certificate, key and client CA and swaps them into the running server: connections already open keep
 * their session, new handshakes get the new files. A file that is missing, unreadable or mismatched leaves the
 * previous certificate in service and returns false; the log names the failure's code, not its text.
 */
export function reloadTls(server: TlsServer, tls: TlsConfig, log: Logger): boolean {
  try {
    const options = secureContextOptions(tls);
    // Built once first: setSecureContext assigns some fields before it fails, so it must never see bad input.
    createSecureContext(options);
    server.setSecureContext(options);
  } catch (error) {
    log.error(
      { code: (error as NodeJS.ErrnoException).code ?? 'unknown' },
      'TLS reload failed; the previous certificate stays in service',
    );
    return false;
  }
  log.info({ certificate: certificateFacts(tls), mutualTls: Boolean(tls.clientCaFile) }, 'TLS certificates reloaded');
  return true;
}

/** Calls `reload` on each SIGHUP; returns the function that removes the handler. */
export function reloadOnSighup(reload: () => void): () => void {
  const handler = (): void => reload();
  process.on('SIGHUP', handler);
  return () => {
    process.off('SIGHUP', handler);
  };
}

/**
 * The production warning for plain HTTP with no trusted proxy: PHI would cross the network in clear unless a
 * TLS-terminating proxy or mesh sidecar sits in front, which is a valid deployment, so this warns and does not refuse.
 */
export function plainHttpWarning(config: Config): string | undefined {
  if (!config.isProduction || config.tls || config.http.trustProxy.length > 0) return undefined;
  return 'PLAIN HTTP IN PRODUCTION: neither TLS_CERT_FILE/TLS_KEY_FILE nor TRUST_PROXY is set; PHI and tokens cross the network unencrypted unless a TLS-terminating proxy or mesh sidecar sits in front of every replica';
}
