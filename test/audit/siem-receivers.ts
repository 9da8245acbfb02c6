import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';

/** How the loopback SIEM answers: accept (200), fail with a status, or hold the request without answering. */
export type ReceiverMode = { kind: 'ok' } | { kind: 'status'; status: number } | { kind: 'hang' };

/** A real HTTP SIEM receiver on 127.0.0.1 that can be stopped (connection refused) and restarted on the same port. */
export class HttpReceiver {
  /** Events of every batch it accepted (2xx), in arrival order. */
  readonly accepted: Record<string, any>[] = [];
  /** Every request's outcome: the status sent, or 'hang'. */
  readonly answers: (number | 'hang')[] = [];
  readonly authorizations: (string | undefined)[] = [];
  mode: ReceiverMode = { kind: 'ok' };
  delayMs = 0;
  inFlight = 0;
  maxInFlight = 0;
  port = 0;
  private server?: Server;
  private readonly held = new Set<ServerResponse>();

  get url(): string {
    return `http://127.0.0.1:${this.port}/ingest`;
  }

  async start(): Promise<void> {
    const server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Closes the port: the exporter then meets ECONNREFUSED. Held requests are dropped. */
  async stop(): Promise<void> {
    for (const res of this.held) res.destroy();
    this.held.clear();
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Answers every held request with `status`. */
  release(status: number): void {
    for (const res of this.held) res.writeHead(status).end();
    this.held.clear();
  }

  get heldCount(): number {
    return this.held.size;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    res.on('close', () => (this.inFlight -= 1));
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    this.authorizations.push(req.headers.authorization);
    if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    const mode = this.mode;
    if (mode.kind === 'hang') {
      this.answers.push('hang');
      this.held.add(res);
      return;
    }
    if (mode.kind === 'status') {
      this.answers.push(mode.status);
      res.writeHead(mode.status).end();
      return;
    }
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, any>[];
    this.accepted.push(...body);
    this.answers.push(200);
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
  }
}

/** Splits an RFC 6587 octet-counted stream into messages; returns them and the unparsed rest. */
export function parseOctetFrames(buffer: string): { messages: string[]; rest: string } {
  const messages: string[] = [];
  let rest = buffer;
  for (;;) {
    const match = /^(\d+) /.exec(rest);
    if (!match) break;
    const length = Number(match[1]);
    const bytes = Buffer.from(rest.slice(match[0].length), 'utf8');
    if (bytes.length < length) break;
    messages.push(bytes.subarray(0, length).toString('utf8'));
    rest = bytes.subarray(length).toString('utf8');
  }
  return { messages, rest };
}

/** A real syslog receiver over TCP or TLS on 127.0.0.1, octet-counting or newline framing. */
export class SyslogReceiver {
  readonly messages: string[] = [];
  port = 0;
  private server?: TcpServer;
  private readonly sockets = new Set<Socket>();

  constructor(
    private readonly framing: 'octet' | 'newline',
    private readonly tls?: { cert: Buffer; key: Buffer },
  ) {}

  async start(): Promise<void> {
    const onSocket = (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      socket.on('error', () => undefined);
      let buffer = '';
      socket.setEncoding('utf8');
      socket.on('data', (data: string) => {
        buffer += data;
        if (this.framing === 'octet') {
          const parsed = parseOctetFrames(buffer);
          this.messages.push(...parsed.messages);
          buffer = parsed.rest;
        } else {
          const lines = buffer.split('\n');
          buffer = lines.pop() ?? '';
          this.messages.push(...lines);
        }
      });
    };
    const server = this.tls
      ? createTlsServer({ cert: this.tls.cert, key: this.tls.key }, onSocket)
      : createTcpServer(onSocket);
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** Polls `condition` every 25 ms until it holds or `timeoutMs` passes (then throws with `what`). */
export async function waitFor(
  what: string,
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
