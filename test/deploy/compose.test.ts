import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Redis from 'ioredis';

import { loadConfig } from '../../src/config/config';
import { SECRET_NAMES } from '../../src/config/secrets';
import { initCrypto } from '../../src/crypto';
import { freePort } from '../../src/db/embedded-postgres';
import { startTestApp } from '../support/app';

// Docker is not available where the tests run, so these read the deployment files instead of starting them.
// js-yaml is not a dependency of ours: it arrives with jest (through istanbul), version 3, hence `safeLoad`.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const yaml = require('js-yaml') as { safeLoad(text: string): unknown };

const ROOT = join(__dirname, '..', '..');
const read = (file: string): string => readFileSync(join(ROOT, file), 'utf8');

interface Service {
  image?: string;
  build?: unknown;
  user?: string;
  ports?: unknown[];
  expose?: unknown[];
  network_mode?: string;
  privileged?: boolean;
  read_only?: boolean;
  cap_drop?: string[];
  cap_add?: string[];
  security_opt?: string[];
  tmpfs?: string[] | string;
  command?: string[] | string;
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: unknown };
}

const composeText = read('docker-compose.yml');
const compose = yaml.safeLoad(composeText) as { services: Record<string, Service> };
const { postgres, redis, api } = compose.services;

/** Variables that hold a secret in the compose file. */
const COMPOSE_SECRETS = [
  'POSTGRES_PASSWORD',
  'REDIS_PASSWORD',
  'TOKEN_SIGNING_SECRET',
  'MASTER_KEYS',
  'BLIND_INDEX_KEY',
  'AUDIT_HMAC_KEY',
  'STRIPE_SECRET_KEY',
];

/** A value for every secret, as an operator's .env would hold them. */
function secretValues(): Record<string, string> {
  return {
    POSTGRES_PASSWORD: randomBytes(24).toString('base64'),
    REDIS_PASSWORD: randomBytes(24).toString('base64'),
    TOKEN_SIGNING_SECRET: randomBytes(32).toString('base64url'),
    MASTER_KEYS: `1:${randomBytes(32).toString('base64')}`,
    BLIND_INDEX_KEY: randomBytes(32).toString('base64'),
    AUDIT_HMAC_KEY: randomBytes(32).toString('base64'),
    STRIPE_SECRET_KEY: `sk_live_${randomBytes(18).toString('hex')}`,
  };
}

/**
 * Compose's interpolation, applied as compose applies it: to each string value after the YAML is parsed. Covers the
 * forms this file uses: ${NAME:?message}, ${NAME:-default}, ${NAME} and $$.
 */
function interpolate(value: unknown, values: Record<string, string>): unknown {
  if (typeof value === 'string') {
    return value.replace(
      /\$\$|\$\{([A-Z0-9_]+)(?:(:\?|:-)([^}]*))?\}/g,
      (whole, name: string | undefined, operator, rest: string) => {
        if (whole === '$$') return '$';
        const given = values[name as string];
        if (given !== undefined && given !== '') return given;
        if (operator === ':?') throw new Error(`compose would stop: ${rest}`);
        return operator === ':-' ? rest : '';
      },
    );
  }
  if (Array.isArray(value)) return value.map((item) => interpolate(item, values));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, interpolate(item, values)]));
  }
  return value;
}

describe('docker-compose.yml', () => {
  it('requires every secret with ${NAME:?message}: no default, no plain ${NAME}', () => {
    // `$${NAME}` is compose's escape for the container's own shell, not an interpolation.
    const uses = [...composeText.matchAll(/(?<!\$)\$\{([A-Z0-9_]+)([^}]*)\}/g)];
    for (const name of COMPOSE_SECRETS) {
      const forName = uses.filter((use) => use[1] === name);
      expect(forName.length).toBeGreaterThan(0);
      for (const use of forName) expect(use[2]).toMatch(/^:\?\S/);
    }
  });

  it('stops with the message of the first missing secret', () => {
    const complete = Object.fromEntries(COMPOSE_SECRETS.map((name) => [name, 'x']));
    expect(() => interpolate(compose, complete)).not.toThrow();
    for (const name of COMPOSE_SECRETS) {
      expect(() => interpolate(compose, { ...complete, [name]: '' })).toThrow(name);
    }
  });

  it('hands the API a production configuration that loadConfig accepts, with every secret it reads', async () => {
    await initCrypto();
    const values = secretValues();
    const resolved = interpolate(compose, values) as { services: Record<string, Service> };
    const env = resolved.services.api.environment ?? {};

    const config = loadConfig(env);

    expect(config.isProduction).toBe(true);
    expect(config.database.password).toBe(values.POSTGRES_PASSWORD);
    expect(config.redis.password).toBe(values.REDIS_PASSWORD);
    expect(config.redis.url).toBe('redis://redis:6379');
    for (const name of SECRET_NAMES) expect(env[name] ?? env[`${name}_FILE`]).toBeDefined();
  });

  it('publishes no port of the database or Redis, and keeps them off the host network', () => {
    for (const service of [postgres, redis]) {
      expect(service.ports).toBeUndefined();
      expect(service.network_mode).toBeUndefined();
    }
  });

  it('has PostgreSQL use scram-sha-256 and never trust', () => {
    const env = postgres.environment ?? {};
    expect(env.POSTGRES_HOST_AUTH_METHOD).toBe('scram-sha-256');
    expect(env.POSTGRES_INITDB_ARGS).toContain('--auth-host=scram-sha-256');
    expect(composeText).not.toMatch(/(AUTH_METHOD|--auth(-\w+)?)[:=]\s*trust/i);
    expect(postgres.image).toMatch(/^postgres:15/);
  });

  it('puts no secret on any command line, where `ps` on the host would show it', () => {
    const values = secretValues();
    const resolved = interpolate(compose, values) as { services: Record<string, Service> };
    for (const service of Object.values(resolved.services)) {
      const command = JSON.stringify(service.command ?? '') + JSON.stringify(service.healthcheck?.test ?? '');
      for (const value of Object.values(values)) expect(command).not.toContain(value);
    }
    expect(JSON.stringify(redis.command)).not.toMatch(/--requirepass/);
  });

  it('has Redis require the password, read from its configuration on standard input', () => {
    const [shell, flag, script] = redis.command as string[];
    expect([shell, flag]).toEqual(['sh', '-c']);
    expect(script).toMatch(/^exec redis-server - <<EOF\n/);
    expect(script).toContain('requirepass "$${REDIS_PASSWORD}"\n');
    expect(redis.environment?.REDIS_PASSWORD).toMatch(/^\$\{REDIS_PASSWORD:\?/);
    // The image steps down from root only when the command is `redis-server` itself: with a shell, compose must.
    expect(redis.user).toBe('redis');
  });

  // Runs the compose file's own Redis command (as compose hands it to the container's shell) with a real
  // redis-server, on a free loopback port the test adds. Skipped, with a note, where redis-server is not installed.
  const hasRedisServer = spawnSync('redis-server', ['--version']).status === 0;
  (hasRedisServer ? it : it.skip)(
    'starts a Redis that refuses clients without the password and hides it from ps',
    async () => {
      const values = secretValues();
      const [, , script] = (interpolate(compose, values) as { services: Record<string, Service> }).services.redis
        .command as string[];
      const port = await freePort();
      const child = spawn(
        'sh',
        ['-c', script.replace('redis-server -', `redis-server - --port ${port} --bind 127.0.0.1`)],
        {
          env: { PATH: process.env.PATH, REDIS_PASSWORD: values.REDIS_PASSWORD },
          stdio: 'ignore',
        },
      );
      const exited = new Promise((resolve) => child.once('exit', resolve));
      const client = (password?: string) =>
        new Redis({
          host: '127.0.0.1',
          port,
          password,
          lazyConnect: true,
          // No INFO on connect: without the password it would fail and close the connection under the test.
          enableReadyCheck: false,
          maxRetriesPerRequest: 0,
          retryStrategy: () => null,
        });
      try {
        let authed: Redis | undefined;
        for (let attempt = 0; attempt < 50 && !authed; attempt++) {
          const candidate = client(values.REDIS_PASSWORD);
          try {
            await candidate.connect();
            authed = candidate;
          } catch {
            candidate.disconnect();
            await new Promise((resolve) => setTimeout(resolve, 100));
          }
        }
        expect(authed).toBeDefined();
        expect(await authed!.ping()).toBe('PONG');
        expect(await authed!.config('GET', 'save')).toEqual(['save', '']);
        expect(await authed!.config('GET', 'appendonly')).toEqual(['appendonly', 'no']);
        authed!.disconnect();

        const anonymous = client();
        await anonymous.connect();
        await expect(anonymous.ping()).rejects.toThrow(/NOAUTH/);
        await expect(anonymous.call('AUTH', randomBytes(24).toString('base64'))).rejects.toThrow(/WRONGPASS/);
        await expect(anonymous.ping()).rejects.toThrow(/NOAUTH/);
        anonymous.disconnect();

        // exec: the shell became redis-server, and its command line carries no password.
        const cmdline = readFileSync(`/proc/${child.pid}/cmdline`, 'utf8');
        expect(cmdline).toMatch(/^redis-server/);
        expect(cmdline).not.toContain(values.REDIS_PASSWORD);
      } finally {
        child.kill('SIGTERM');
        await exited;
      }
    },
  );

  it('runs the API without privileges: all capabilities dropped, read-only root, no new privileges, not root', () => {
    expect(api.cap_drop).toEqual(['ALL']);
    expect(api.cap_add).toBeUndefined();
    expect(api.privileged).toBeUndefined();
    expect(api.read_only).toBe(true);
    expect(api.security_opt).toContain('no-new-privileges:true');
    expect(api.tmpfs).toEqual(['/tmp']);
    expect(api.user === undefined || !['root', '0', '0:0'].includes(api.user)).toBe(true);
  });

  it('starts the API only once the database and Redis are healthy', () => {
    expect(api.depends_on).toEqual({
      postgres: { condition: 'service_healthy' },
      redis: { condition: 'service_healthy' },
    });
    expect(postgres.healthcheck).toBeDefined();
    expect(redis.healthcheck).toBeDefined();
  });

  it('publishes the API on port 4000', () => {
    expect((api.ports ?? []).map(String).some((port) => port.endsWith(':4000:4000') || port === '4000:4000')).toBe(
      true,
    );
    expect(api.build).toBe('.');
  });
});

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile');
  const finalStage = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));

  it('builds on node:20-bookworm-slim in stages and installs with npm ci', () => {
    expect(dockerfile.match(/^FROM node:20-bookworm-slim\b/gm)?.length).toBeGreaterThanOrEqual(2);
    expect(dockerfile).toMatch(/RUN npm ci\b/);
    expect(dockerfile).toMatch(/npm prune --omit=dev/);
  });

  it('runs in production as the node user, exposes 4000 and checks /healthz', () => {
    expect(finalStage).toMatch(/^ENV NODE_ENV=production\b/m);
    expect(finalStage).toMatch(/^USER node$/m);
    expect(finalStage).toMatch(/^EXPOSE 4000$/m);
    expect(finalStage).toMatch(/^HEALTHCHECK [^\n]*\\\n\s+CMD \["node", "-e", "[^\n]*\/healthz/m);
    expect(finalStage).toMatch(/^CMD \["node", "dist\/src\/main\.js"\]$/m);
  });

  it('has a HEALTHCHECK that passes against a serving API and fails where nothing listens', async () => {
    const command = JSON.parse(/^\s+CMD (\["node", "-e", .*\])$/m.exec(finalStage)![1]) as string[];
    // Asynchronously: the server answering it runs in this process.
    const probe = (port: number) =>
      new Promise<number | null>((resolve) => {
        const child = spawn(process.execPath, command.slice(1), {
          env: { PATH: process.env.PATH, PORT: String(port) },
          timeout: 10_000,
        });
        child.on('exit', (code) => resolve(code));
      });
    const app = await startTestApp();
    try {
      expect(await probe(Number(new URL(app.url).port))).toBe(0);
    } finally {
      await app.close();
    }
    expect(await probe(await freePort())).toBe(1);
  }, 60_000);

  it('bakes in no secret', () => {
    for (const name of [...SECRET_NAMES, 'POSTGRES_PASSWORD', 'HMS_BOOTSTRAP_ADMIN_PASSWORD']) {
      expect(dockerfile).not.toMatch(new RegExp(`^(ENV|ARG)\\b.*\\b${name}\\b`, 'm'));
    }
    expect(dockerfile).not.toMatch(/COPY[^\n]*\.env\b/);
  });
});

describe('.dockerignore', () => {
  it('keeps dependencies, builds, local data, history and .env out of the build context', () => {
    const entries = read('.dockerignore')
      .split('\n')
      .map((line) => line.trim());
    for (const entry of ['node_modules', 'dist', '.data', '.git', '.env']) expect(entries).toContain(entry);
  });
});

describe('.env.template', () => {
  const template = read('.env.template');
  const config = read('src/config/config.ts');
  const schemaBlock = config.slice(
    config.indexOf('const plainSchema = z.object({'),
    config.indexOf('});', config.indexOf('const plainSchema')),
  );
  const plainNames = [...schemaBlock.matchAll(/^\s+([A-Z][A-Z0-9_]+):/gm)].map((match) => match[1]);
  const secretNames = [...new Set([...config.matchAll(/secret\('([A-Z][A-Z0-9_]+)'\)/g)].map((match) => match[1]))];

  it('names every variable config.ts reads', () => {
    expect(plainNames.length).toBeGreaterThan(20);
    for (const name of [...plainNames, ...secretNames]) expect(template).toMatch(new RegExp(`^#? ?${name}=`, 'm'));
  });

  it('leaves every secret empty and mentions its _FILE form', () => {
    expect(secretNames).toEqual(expect.arrayContaining([...SECRET_NAMES]));
    for (const name of secretNames) {
      expect(template).toMatch(new RegExp(`^${name}=$`, 'm'));
      expect(template).toContain(`${name}_FILE`);
    }
  });

  it('sets no variable other than the empty secrets', () => {
    const assignments = template.split('\n').filter((line) => /^[A-Z]/.test(line));
    for (const line of assignments) expect(line).toMatch(/^[A-Z0-9_]+=$/);
  });
});
