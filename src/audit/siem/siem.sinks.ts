import { readFileSync } from 'node:fs';
import { request as httpRequest, type ClientRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

import {
  frameSyslog,
  toJsonEvent,
  toOcsfEvent,
  toSyslogMessage,
  type OutboxEvent,
  type SyslogFraming,
} from './siem.formats';

/** A failed delivery. `code` is an HTTP status or a network error code: the only thing logged or stored. */
export class SiemDeliveryError extends Error {
  constructor(readonly code: string) {
    super(`SIEM delivery failed: ${code}`);
    this.name = 'SiemDeliveryError';
  }
}

/** Where events go. `column` is the outbox column that records delivery to this sink. */
export interface SiemSink {
  readonly name: 'http' | 'syslog';
  readonly column: 'delivered_at' | 'syslog_delivered_at';
  /** Resolves once the sink accepted every event, in order; rejects with SiemDeliveryError otherwise. */
  send(events: OutboxEvent[]): Promise<void>;
  close(): void;
}

function errorCode(error: unknown): string {
  const code = (error as { code?: unknown })?.code;
  return typeof code === 'string' && /^[A-Z0-9_]{1,40}$/.test(code) ? code : 'NETWORK_ERROR';
}

/**
 * POSTs a batch as one JSON array (JSON or OCSF documents) with the bearer token. Any 2xx accepts the whole batch;
 * anything else, redirects included (they would carry the token elsewhere), fails it.
 */
export class HttpSink implements SiemSink {
  readonly name = 'http';
  readonly column = 'delivered_at';
  private readonly inFlight = new Set<ClientRequest>();

  constructor(
    private readonly options: { endpoint: string; format: 'json' | 'ocsf'; authToken?: string; timeoutMs: number },
  ) {}

  send(events: OutboxEvent[]): Promise<void> {
    const format = this.options.format === 'ocsf' ? toOcsfEvent : toJsonEvent;
    const body = Buffer.from(JSON.stringify(events.map(format)), 'utf8');
    const url = new URL(this.options.endpoint);
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method: 'POST',
          timeout: this.options.timeoutMs,
          headers: {
            'content-type': 'application/json',
            'content-length': body.length,
            'user-agent': 'hms-siem-exporter',
            ...(this.options.authToken ? { authorization: `Bearer ${this.options.authToken}` } : {}),
          },
        },
        (res) => {
          res.resume();
          const status = res.statusCode ?? 0;
          res.on('end', () =>
            status >= 200 && status < 300 ? resolve() : reject(new SiemDeliveryError(`HTTP_${status}`)),
          );
          res.on('error', (error) => reject(new SiemDeliveryError(errorCode(error))));
        },
      );
      this.inFlight.add(req);
      req.on('close', () => this.inFlight.delete(req));
      req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
      req.on('error', (error) => reject(new SiemDeliveryError(errorCode(error))));
      req.end(body);
    });
  }

  /** Aborts requests in flight (shutdown): their batches stay undelivered and go out after the next start. */
  close(): void {
    for (const req of this.inFlight) req.destroy(Object.assign(new Error('closed'), { code: 'CLOSED' }));
  }
}

/**
 * CEF records in RFC 5424 messages over one long-lived TCP or TLS connection. A batch counts as delivered once the
 * kernel accepted the bytes: syslog has no acknowledgement, so a connection that breaks right after a write can lose
 * what was in flight (RELP or the HTTP sink would be needed for a receipt). Known shortcoming, documented in README.
 */
export class SyslogSink implements SiemSink {
  readonly name = 'syslog';
  readonly column = 'syslog_delivered_at';
  private socket?: Socket;
  private readonly ca?: Buffer;

  constructor(private readonly options: { url: string; caFile?: string; framing: SyslogFraming; timeoutMs: number }) {
    this.ca = options.caFile ? readFileSync(options.caFile) : undefined;
  }

  async send(events: OutboxEvent[]): Promise<void> {
    const socket = await this.connection();
    const payload = events.map((e) => frameSyslog(toSyslogMessage(e), this.options.framing)).join('');
    await new Promise<void>((resolve, reject) => {
      const onClose = () => reject(new SiemDeliveryError('ECONNRESET'));
      socket.once('close', onClose);
      socket.write(payload, 'utf8', (error) => {
        socket.off('close', onClose);
        if (error) {
          this.drop();
          reject(new SiemDeliveryError(errorCode(error)));
        } else resolve();
      });
    });
  }

  private connection(): Promise<Socket> {
    if (this.socket && !this.socket.destroyed) return Promise.resolve(this.socket);
    const url = new URL(this.options.url);
    const port = Number(url.port || (url.protocol === 'tls:' ? 6514 : 601));
    const host = url.hostname.replace(/^\[|\]$/g, '');
    return new Promise((resolve, reject) => {
      const socket =
        url.protocol === 'tls:'
          ? tlsConnect({
              host,
              port,
              ca: this.ca,
              servername: isIP(host) ? undefined : host,
              timeout: this.options.timeoutMs,
            })
          : netConnect({ host, port, timeout: this.options.timeoutMs });
      const ready = url.protocol === 'tls:' ? 'secureConnect' : 'connect';
      const fail = (error: unknown) => {
        socket.destroy();
        reject(new SiemDeliveryError(errorCode(error)));
      };
      socket.once('error', fail);
      socket.once('timeout', () => fail(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
      socket.once(ready, () => {
        socket.off('error', fail);
        socket.setTimeout(0);
        socket.setKeepAlive(true);
        // Errors on an idle connection only close it; the next batch reconnects.
        socket.on('error', () => this.drop());
        socket.on('close', () => {
          if (this.socket === socket) this.socket = undefined;
        });
        // The receiver sends nothing; reading keeps a half-closed peer from going unnoticed.
        socket.resume();
        socket.on('end', () => this.drop());
        this.socket = socket;
        resolve(socket);
      });
    });
  }

  private drop(): void {
    this.socket?.destroy();
    this.socket = undefined;
  }

  close(): void {
    this.drop();
  }
}
