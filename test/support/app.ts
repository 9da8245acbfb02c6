import { randomBytes } from 'node:crypto';
import { MikroORM } from '@mikro-orm/postgresql';
import { Writable } from 'node:stream';

import { loadConfig, type Config } from '../../src/config/config';
import { initCrypto } from '../../src/crypto';
import { ormOptions } from '../../src/db/orm.config';
import { startHttpServer, type RunningServer } from '../../src/http/server';
import { createLogger, type Logger } from '../../src/logging/logger';
import { createServices, type Services } from '../../src/services';
import { createTestDatabase, type TestDatabase } from './database';

/**
 * Environment for a test server: fresh random secrets, the given database, quiet logs. Rate limits
 * are raised a thousandfold, since every test signs in from 127.0.0.1; test/ratelimit sets them back.
 */
export function testEnv(databaseUrl: string, overrides: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  return {
    NODE_ENV: 'test',
    DATABASE_URL: databaseUrl,
    TOKEN_SIGNING_SECRET: randomBytes(32).toString('base64url'),
    MASTER_KEYS: `1:${randomBytes(32).toString('base64')}`,
    BLIND_INDEX_KEY: randomBytes(32).toString('base64'),
    AUDIT_HMAC_KEY: randomBytes(32).toString('base64'),
    LOG_LEVEL: 'info',
    RATE_LIMIT_MULTIPLIER: '1000',
    ...overrides,
  };
}

/**
 * What a production test server needs beyond testEnv: NODE_ENV, a strong database password when the test URL
 * carries none, and the Stripe processor with a live-shaped key (production refuses the sandbox; no test here
 * charges a card through it).
 */
export function productionOverrides(): Record<string, string> {
  const admin = new URL(process.env.HMS_TEST_ADMIN_URL ?? 'postgresql://localhost');
  return {
    NODE_ENV: 'production',
    ...(admin.password ? {} : { DATABASE_PASSWORD: randomBytes(24).toString('base64url') }),
    PAYMENT_PROCESSOR: 'stripe',
    STRIPE_SECRET_KEY: `sk_live_${randomBytes(18).toString('hex')}`,
  };
}

/** Every log line a test server wrote, parsed, so tests can assert what never reaches a log. */
export class CapturedLogs {
  readonly lines: string[] = [];
  readonly stream = new Writable({
    write: (chunk, _encoding, callback) => {
      this.lines.push(...String(chunk).split('\n').filter(Boolean));
      callback();
    },
  });

  text(): string {
    return this.lines.join('\n');
  }
}

/** A running API on a real HTTP port over its own real database. */
export interface TestApp {
  url: string;
  config: Config;
  services: Services;
  logs: CapturedLogs;
  logger: Logger;
  db: TestDatabase;
  server: RunningServer;
  /** POSTs a GraphQL request and returns status and parsed body. */
  gql(
    query: string,
    variables?: Record<string, unknown>,
    token?: string,
    headers?: Record<string, string>,
  ): Promise<GqlResponse>;
  close(): Promise<void>;
}

export interface GqlResponse {
  status: number;
  body: {
    data?: Record<string, any> | null;
    errors?: { message: string; path?: string[]; extensions?: Record<string, any> }[];
  };
  headers: Headers;
}

/** Where a test app keeps its data: by default a new database; `databaseUrl` shares another app's (never dropped here). */
export interface TestAppOptions {
  databaseUrl?: string;
}

/** Starts the API for a test file: new database from the template, random keys, real HTTP server. */
export async function startTestApp(
  overrides: Record<string, string | undefined> = {},
  options: TestAppOptions = {},
): Promise<TestApp> {
  await initCrypto();
  const shared = options.databaseUrl;
  const db: TestDatabase = shared
    ? { url: shared, name: new URL(shared).pathname.slice(1), drop: async () => undefined }
    : await createTestDatabase();
  const config = loadConfig(testEnv(db.url, overrides));
  const logs = new CapturedLogs();
  const logger = createLogger({ level: 'info' }, logs.stream);
  const orm = await MikroORM.init(ormOptions({ url: db.url, logger }));
  const services = createServices(config, orm, logger);
  await services.bootstrap();
  services.siem.start();
  const server = await startHttpServer(services, 0, '127.0.0.1');
  const gql: TestApp['gql'] = async (query, variables, token, headers = {}) => {
    const response = await fetch(`${server.url}/graphql`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...headers,
      },
      body: JSON.stringify({ query, variables }),
    });
    return { status: response.status, body: (await response.json()) as GqlResponse['body'], headers: response.headers };
  };
  return {
    url: server.url,
    config,
    services,
    logs,
    logger,
    db,
    server,
    gql,
    async close() {
      await server.stop();
      await services.close();
      await orm.close(true);
      await db.drop();
    },
  };
}
