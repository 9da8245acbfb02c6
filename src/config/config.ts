import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';

import { parseMasterKeys } from '../crypto/master-key-ring';
import { ROLES, type Role } from './roles';
import { resolveSecrets, SecretProviderError, type LiveSecrets } from './secret-providers';
import { isWeakSecret, loadOrCreateDevSecrets, readSecret, type GeneratedSecretName } from './secrets';

/** The validated configuration: parsed once at start, then passed explicitly. */
export interface Config {
  env: 'production' | 'development' | 'test';
  isProduction: boolean;
  port: number;
  host: string;
  dataDir: string;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** migrateOnStart: false when the server connects as a restricted role that cannot change the schema (`db:grant-app-role`). */
  database: { url?: string; password?: string; embeddedPassword?: string; logSql: boolean; migrateOnStart: boolean };
  http: { corsOrigins: string[]; bodyLimitBytes: number; trustProxy: string[]; graphiqlEnabled: boolean };
  keys: { masterKeys: string; masterKeyActive?: number; blindIndexKey: Buffer; auditHmacKey: Buffer };
  tokens: { signingSecret: string; accessTokenTtlSeconds: number; refreshTokenTtlSeconds: number };
  redis: { url?: string; password?: string };
  /** Scales every rate limit's `max` (benchmarks raise it); namespaces the store's keys. */
  rateLimit: { multiplier: number; keyPrefix: string };
  auth: {
    argon2: { memoryKiB: number; timeCost: number; parallelism: number };
    sessionIdleSeconds: number;
    sessionAbsoluteSeconds: number;
    lockoutThreshold: number;
    lockoutSeconds: number;
    mfaRequiredRoles: Role[];
    mfaIssuer: string;
    bootstrapAdmin?: { email: string; password: string };
  };
  /** How long a break-glass grant lasts, in minutes. */
  access: { breakGlassMinutes: number };
  /** How recent a second factor (login or stepUpMfa) must be for data exports and erasure run by staff. */
  stepUp: { maxAgeSeconds: number };
  /** SIEM export from the outbox (README, "SIEM export"); with neither sink set, the outbox fills and is pruned. */
  siem: {
    endpoint?: string;
    format: 'json' | 'ocsf';
    authToken?: string;
    syslog?: { url: string; caFile?: string; framing: 'octet' | 'newline' };
    batchSize: number;
    retryBaseMs: number;
    retryMaxMs: number;
    pollMs: number;
    timeoutMs: number;
    retentionHours: number;
  };
  /** Seconds between signed audit-chain checkpoints (0: only on demand, `audit:checkpoint`). */
  audit: { checkpointSeconds: number };
  /** The payment processor (README, "Billing and card data"); `stripeApiUrl` points the adapter at a Stripe-compatible server. */
  billing: { processor: 'sandbox' | 'stripe'; stripeSecretKey?: string; stripeApiUrl?: string };
  /** Abuse limits on every GraphQL request, and which persisted queries are accepted (README, "Abuse limits"). */
  graphql: {
    limits: { maxDepth: number; maxAliases: number; maxCost: number; maxTokens: number; maxBytes: number };
    persistedQueries: 'apq' | 'only' | 'off';
    persistedQueriesManifest?: string;
  };
  /** Names of development secrets generated on this start, for a warning (never their values). */
  generatedSecrets: GeneratedSecretName[];
  /** The secret provider's live values, refreshed on an interval (loadConfigAsync with a provider or `_FILE` mounts). */
  secrets?: LiveSecrets;
  /** HTTPS (and mutual TLS with `clientCaFile`) served by the API itself; the files are re-read on SIGHUP. */
  tls?: { certFile: string; keyFile: string; clientCaFile?: string };
  /** Behaviour analytics: how often the in-process scan runs (0: never) and the zone of its days and hours. */
  ueba: { scanIntervalSeconds: number; timeZone: string };
  /** Retention per data category (src/privacy/retention.policy.ts) and the sweep's batch size. */
  retention: {
    medicalRecordYears: number;
    hipaaDocumentationYears: number;
    billingYears: number;
    securityEventDays: number;
    sessionDays: number;
    sweepBatchSize: number;
  };
}

/** Start-up refused: `problems` names each bad variable, never its value. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

/** Roles that read PHI or can open it to others (consent, audit): in production they always need MFA. */
const MFA_MINIMUM_ROLES: Role[] = [
  'ADMIN',
  'PHYSICIAN',
  'NURSE',
  'RECEPTIONIST',
  'BILLING',
  'INTEGRATOR',
  'PRIVACY_OFFICER',
  'AUDITOR',
];

const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const list = z.string().transform((v) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
);

const plainSchema = z.object({
  NODE_ENV: z.enum(['production', 'development', 'test']).default('development'),
  PORT: int(0, 65535).default(4000),
  HOST: z.string().min(1).default('0.0.0.0'),
  HMS_DATA_DIR: z.string().min(1).default('.data'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).optional(),
  DATABASE_LOG_SQL: bool.default(false),
  MIGRATE_ON_START: bool.default(true),
  CORS_ORIGINS: list.default([]),
  BODY_LIMIT_BYTES: int(1024, 10 * 1024 * 1024).default(256 * 1024),
  TRUST_PROXY: list.default([]),
  GRAPHIQL_ENABLED: bool.optional(),
  ACCESS_TOKEN_TTL_SECONDS: int(60, 3600).default(900),
  REFRESH_TOKEN_TTL_SECONDS: int(300, 30 * 24 * 3600).default(12 * 3600),
  REDIS_URL: z.url({ protocol: /^rediss?$/ }).optional(),
  RATE_LIMIT_MULTIPLIER: z.coerce.number().positive().max(1_000_000).default(1),
  RATE_LIMIT_KEY_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9:._-]{1,64}$/)
    .default('hms:rl:'),
  ARGON2_MEMORY_KIB: int(19456, 4 * 1024 * 1024).default(19456),
  ARGON2_TIME_COST: int(2, 20).default(2),
  ARGON2_PARALLELISM: int(1, 16).default(1),
  SESSION_IDLE_SECONDS: int(60, 24 * 3600).default(900),
  SESSION_ABSOLUTE_SECONDS: int(300, 7 * 24 * 3600).default(12 * 3600),
  LOGIN_LOCKOUT_THRESHOLD: int(3, 100).default(5),
  LOGIN_LOCKOUT_SECONDS: int(30, 24 * 3600).default(900),
  MFA_REQUIRED_ROLES: list.optional(),
  MFA_ISSUER: z.string().min(1).max(64).default('HMS'),
  BREAK_GLASS_MINUTES: int(5, 1440).default(60),
  STEP_UP_MAX_AGE_SECONDS: int(30, 3600).default(300),
  SIEM_ENDPOINT: z.url({ protocol: /^https?$/ }).optional(),
  SIEM_FORMAT: z.enum(['json', 'ocsf']).default('json'),
  SIEM_SYSLOG_URL: z.url({ protocol: /^(tcp|tls)$/ }).optional(),
  SIEM_SYSLOG_CA_FILE: z.string().min(1).optional(),
  SIEM_SYSLOG_FRAMING: z.enum(['octet', 'newline']).default('octet'),
  SIEM_BATCH_SIZE: int(1, 1000).default(100),
  SIEM_RETRY_BASE_MS: int(10, 60_000).default(1000),
  SIEM_RETRY_MAX_MS: int(10, 3_600_000).default(300_000),
  SIEM_POLL_MS: int(50, 600_000).default(5000),
  SIEM_TIMEOUT_MS: int(100, 120_000).default(10_000),
  SIEM_OUTBOX_RETENTION_HOURS: int(1, 24 * 366).default(168),
  AUDIT_CHECKPOINT_SECONDS: int(0, 24 * 3600).default(300),
  QUERY_MAX_DEPTH: int(2, 50).default(8),
  QUERY_MAX_ALIASES: int(0, 500).default(15),
  QUERY_MAX_COST: int(10, 10_000_000).default(5000),
  QUERY_MAX_TOKENS: int(100, 100_000).default(2000),
  QUERY_MAX_BYTES: int(1024, 1024 * 1024).default(20 * 1024),
  PERSISTED_QUERIES: z.enum(['apq', 'only', 'off']).default('apq'),
  PERSISTED_QUERIES_MANIFEST: z.string().min(1).optional(),
  MASTER_KEY_ACTIVE: int(1, 1_000_000).optional(),
  HMS_BOOTSTRAP_ADMIN_EMAIL: z.email().optional(),
  // Read by loadConfigAsync with the provider's own variables (src/config/secret-providers/secret-source.ts).
  SECRETS_PROVIDER: z.enum(['env', 'aws', 'vault']).default('env'),
  PAYMENT_PROCESSOR: z.enum(['sandbox', 'stripe']).default('sandbox'),
  STRIPE_API_URL: z.url({ protocol: /^https?$/ }).optional(),
  TLS_CERT_FILE: z.string().min(1).optional(),
  TLS_KEY_FILE: z.string().min(1).optional(),
  TLS_CLIENT_CA_FILE: z.string().min(1).optional(),
  UEBA_SCAN_INTERVAL_SECONDS: int(0, 7 * 24 * 3600).optional(),
  UEBA_TIMEZONE: z
    .string()
    .refine((zone) => isTimeZone(zone), 'must be an IANA time zone such as Europe/Berlin')
    .default('UTC'),
  // Retention minimums: HIPAA documentation is kept at least six years (45 CFR 164.316(b)(2)).
  RETENTION_MEDICAL_RECORD_YEARS: int(1, 100).default(10),
  RETENTION_HIPAA_DOCUMENTATION_YEARS: int(6, 100).default(6),
  RETENTION_BILLING_YEARS: int(1, 100).default(7),
  RETENTION_SECURITY_EVENT_DAYS: int(30, 36_500).default(2190),
  RETENTION_SESSION_DAYS: int(1, 3650).default(30),
  RETENTION_SWEEP_BATCH_SIZE: int(1, 10_000).default(500),
});

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

const STRIPE_SECRET_KEY = /^(sk|rk)_(test|live)_[A-Za-z0-9]{16,}$/;

/** Payment processor settings: production takes Stripe with a live key over https, never the sandbox. */
function checkBilling(
  processor: 'sandbox' | 'stripe',
  key: string | undefined,
  apiUrl: string | undefined,
  isProduction: boolean,
  problems: string[],
): void {
  if (isProduction && processor === 'sandbox') {
    problems.push('PAYMENT_PROCESSOR: the sandbox processor is refused in production (set it to stripe)');
  }
  if (processor === 'stripe' && !key) problems.push('STRIPE_SECRET_KEY: required with PAYMENT_PROCESSOR=stripe');
  if (key && !STRIPE_SECRET_KEY.test(key)) problems.push('STRIPE_SECRET_KEY: is not a Stripe secret or restricted key');
  else if (key && isProduction && key.includes('_test_')) {
    problems.push('STRIPE_SECRET_KEY: a test-mode key is refused in production');
  }
  if (apiUrl && isProduction && !apiUrl.startsWith('https:'))
    problems.push('STRIPE_API_URL: must be https in production');
}

function issuesToProblems(error: z.ZodError): string[] {
  return error.issues.map((issue) => `${String(issue.path[0] ?? 'environment')}: ${issue.message}`);
}

function key32(name: string, value: string | undefined, problems: string[]): Buffer {
  const bytes = value ? Buffer.from(value, 'base64') : Buffer.alloc(0);
  if (bytes.length !== 32) problems.push(`${name}: must be 32 bytes, base64-encoded`);
  return bytes;
}

/**
 * True for 32 bytes with fewer than 16 distinct values: zeros, a repeated pattern or encoded text, not random
 * key material (random bytes have about 30 distinct values; fewer than 16 practically never happens).
 */
function isWeakKey(bytes: Uint8Array): boolean {
  return new Set(bytes).size < 16;
}

function strongSecret(name: string, value: string | undefined, minLength: number, problems: string[]): void {
  if (!value) problems.push(`${name}: required in production`);
  else if (value.length < minLength) problems.push(`${name}: must be at least ${minLength} characters`);
  else if (isWeakSecret(value)) problems.push(`${name}: is a known or guessable value`);
}

function passwordOf(url: string | undefined): string | undefined {
  if (!url) return undefined;
  const password = new URL(url).password;
  return password ? decodeURIComponent(password) : undefined;
}

/** Production's rule: every secret given, long enough and not guessable. Problems name variables only. */
function checkProductionSecrets(
  given: Record<
    | 'TOKEN_SIGNING_SECRET'
    | 'MASTER_KEYS'
    | 'BLIND_INDEX_KEY'
    | 'AUDIT_HMAC_KEY'
    | 'DATABASE_PASSWORD'
    | 'REDIS_PASSWORD',
    string | undefined
  >,
  databaseUrl: string | undefined,
  redisUrl: string | undefined,
  problems: string[],
): void {
  if (!databaseUrl) problems.push('DATABASE_URL: required in production (the embedded database is for development)');
  strongSecret('TOKEN_SIGNING_SECRET', given.TOKEN_SIGNING_SECRET, 32, problems);
  if (!given.MASTER_KEYS) problems.push('MASTER_KEYS: required in production');
  if (!given.BLIND_INDEX_KEY) problems.push('BLIND_INDEX_KEY: required in production');
  if (!given.AUDIT_HMAC_KEY) problems.push('AUDIT_HMAC_KEY: required in production');
  strongSecret('DATABASE_PASSWORD', given.DATABASE_PASSWORD ?? passwordOf(databaseUrl), 16, problems);
  if (redisUrl) strongSecret('REDIS_PASSWORD', given.REDIS_PASSWORD ?? passwordOf(redisUrl), 16, problems);
}

/**
 * TLS files: all or nothing, readable, PEM, and a key that belongs to the certificate. Problems name the variable;
 * neither the file's content nor OpenSSL's message (which can quote it) is repeated.
 */
function checkTls(
  p: { TLS_CERT_FILE?: string; TLS_KEY_FILE?: string; TLS_CLIENT_CA_FILE?: string },
  problems: string[],
): Config['tls'] {
  if (!p.TLS_CERT_FILE && !p.TLS_KEY_FILE && !p.TLS_CLIENT_CA_FILE) return undefined;
  if (!p.TLS_CERT_FILE) problems.push('TLS_CERT_FILE: required with TLS_KEY_FILE or TLS_CLIENT_CA_FILE');
  if (!p.TLS_KEY_FILE) problems.push('TLS_KEY_FILE: required with TLS_CERT_FILE or TLS_CLIENT_CA_FILE');
  if (p.TLS_CLIENT_CA_FILE && (!p.TLS_CERT_FILE || !p.TLS_KEY_FILE)) {
    problems.push('TLS_CLIENT_CA_FILE: mutual TLS needs TLS_CERT_FILE and TLS_KEY_FILE as well');
  }
  const read = (name: string, file: string | undefined): Buffer | undefined => {
    if (!file) return undefined;
    try {
      return readFileSync(file);
    } catch {
      problems.push(`${name}: cannot read the file it names`);
      return undefined;
    }
  };
  const cert = read('TLS_CERT_FILE', p.TLS_CERT_FILE);
  const key = read('TLS_KEY_FILE', p.TLS_KEY_FILE);
  const ca = read('TLS_CLIENT_CA_FILE', p.TLS_CLIENT_CA_FILE);
  let certificate: X509Certificate | undefined;
  let privateKey: KeyObject | undefined;
  try {
    if (cert) certificate = new X509Certificate(cert);
  } catch {
    problems.push('TLS_CERT_FILE: is not a PEM certificate');
  }
  try {
    if (key) privateKey = createPrivateKey(key);
  } catch {
    problems.push('TLS_KEY_FILE: is not an unencrypted PEM private key');
  }
  if (certificate && privateKey && !certificate.checkPrivateKey(privateKey)) {
    problems.push('TLS_KEY_FILE: does not belong to the certificate of TLS_CERT_FILE');
  }
  try {
    if (ca) new X509Certificate(ca);
  } catch {
    problems.push('TLS_CLIENT_CA_FILE: is not a PEM certificate');
  }
  if (!p.TLS_CERT_FILE || !p.TLS_KEY_FILE) return undefined;
  return {
    certFile: resolve(p.TLS_CERT_FILE),
    keyFile: resolve(p.TLS_KEY_FILE),
    clientCaFile: p.TLS_CLIENT_CA_FILE ? resolve(p.TLS_CLIENT_CA_FILE) : undefined,
  };
}

/**
 * SIEM export: production sends over https (SIEM_ENDPOINT, with a strong SIEM_AUTH_TOKEN) and tls:// syslog only;
 * plain http and tcp are for development and tests. The CA file must be readable; its content is never repeated.
 */
function checkSiem(
  p: z.infer<typeof plainSchema>,
  authToken: string | undefined,
  isProduction: boolean,
  problems: string[],
): Config['siem'] {
  if (isProduction && p.SIEM_ENDPOINT && !p.SIEM_ENDPOINT.startsWith('https:')) {
    problems.push('SIEM_ENDPOINT: must be https in production');
  }
  if (isProduction && p.SIEM_ENDPOINT) strongSecret('SIEM_AUTH_TOKEN', authToken, 16, problems);
  if (isProduction && p.SIEM_SYSLOG_URL && !p.SIEM_SYSLOG_URL.startsWith('tls:')) {
    problems.push('SIEM_SYSLOG_URL: must be tls:// in production');
  }
  if (p.SIEM_SYSLOG_URL && !new URL(p.SIEM_SYSLOG_URL).port) problems.push('SIEM_SYSLOG_URL: must name a port');
  if (p.SIEM_SYSLOG_CA_FILE) {
    if (!p.SIEM_SYSLOG_URL?.startsWith('tls:')) {
      problems.push('SIEM_SYSLOG_CA_FILE: only read with a tls:// SIEM_SYSLOG_URL');
    }
    try {
      readFileSync(p.SIEM_SYSLOG_CA_FILE);
    } catch {
      problems.push('SIEM_SYSLOG_CA_FILE: cannot read the file it names');
    }
  }
  if (p.SIEM_RETRY_MAX_MS < p.SIEM_RETRY_BASE_MS) {
    problems.push('SIEM_RETRY_MAX_MS: must not be below SIEM_RETRY_BASE_MS');
  }
  return {
    endpoint: p.SIEM_ENDPOINT,
    format: p.SIEM_FORMAT,
    authToken,
    syslog: p.SIEM_SYSLOG_URL
      ? {
          url: p.SIEM_SYSLOG_URL,
          caFile: p.SIEM_SYSLOG_CA_FILE ? resolve(p.SIEM_SYSLOG_CA_FILE) : undefined,
          framing: p.SIEM_SYSLOG_FRAMING,
        }
      : undefined,
    batchSize: p.SIEM_BATCH_SIZE,
    retryBaseMs: p.SIEM_RETRY_BASE_MS,
    retryMaxMs: p.SIEM_RETRY_MAX_MS,
    pollMs: p.SIEM_POLL_MS,
    timeoutMs: p.SIEM_TIMEOUT_MS,
    retentionHours: p.SIEM_OUTBOX_RETENTION_HOURS,
  };
}

/** A URL string when it parses, else undefined (its own problem is reported by the schema). */
function urlOrUndefined(value: string | undefined): string | undefined {
  if (!value) return undefined;
  try {
    new URL(value);
    return value;
  } catch {
    return undefined;
  }
}

/**
 * Parses and validates the environment. In production every secret must be given and strong;
 * elsewhere missing secrets are generated once into the data directory.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // An empty variable counts as unset: templates and compose files produce `NAME=` for "not given", and
  // an empty MFA_REQUIRED_ROLES must not turn off production's second factor.
  const nonEmpty = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== ''));
  const parsed = plainSchema.safeParse(nonEmpty);
  const problems = parsed.success ? [] : issuesToProblems(parsed.error);
  const secret = (name: string): string | undefined => {
    const { value, error } = readSecret(env, name);
    if (error) problems.push(error);
    return value;
  };
  const given = {
    TOKEN_SIGNING_SECRET: secret('TOKEN_SIGNING_SECRET'),
    MASTER_KEYS: secret('MASTER_KEYS'),
    BLIND_INDEX_KEY: secret('BLIND_INDEX_KEY'),
    AUDIT_HMAC_KEY: secret('AUDIT_HMAC_KEY'),
    DATABASE_PASSWORD: secret('DATABASE_PASSWORD'),
    REDIS_PASSWORD: secret('REDIS_PASSWORD'),
    HMS_BOOTSTRAP_ADMIN_PASSWORD: secret('HMS_BOOTSTRAP_ADMIN_PASSWORD'),
    SIEM_AUTH_TOKEN: secret('SIEM_AUTH_TOKEN'),
    STRIPE_SECRET_KEY: secret('STRIPE_SECRET_KEY'),
  };
  if (!parsed.success) {
    // Report the secrets too, so one failed start lists every bad variable.
    if (nonEmpty.NODE_ENV === 'production')
      checkProductionSecrets(
        given,
        urlOrUndefined(nonEmpty.DATABASE_URL),
        urlOrUndefined(nonEmpty.REDIS_URL),
        problems,
      );
    throw new ConfigError([...new Set(problems)]);
  }
  const p = parsed.data;
  const isProduction = p.NODE_ENV === 'production';
  const dataDir = resolve(p.HMS_DATA_DIR);

  let generatedSecrets: GeneratedSecretName[] = [];
  let embeddedPassword: string | undefined;
  if (isProduction) {
    checkProductionSecrets(given, p.DATABASE_URL, p.REDIS_URL, problems);
  } else {
    const missing = (['TOKEN_SIGNING_SECRET', 'MASTER_KEYS', 'BLIND_INDEX_KEY', 'AUDIT_HMAC_KEY'] as const).filter(
      (name) => !given[name],
    );
    if (missing.length > 0 || !p.DATABASE_URL) {
      const dev = loadOrCreateDevSecrets(dataDir);
      for (const name of missing) given[name] = dev.secrets[name];
      embeddedPassword = dev.secrets.EMBEDDED_DB_PASSWORD;
      generatedSecrets = dev.created;
    }
  }

  if (given.MASTER_KEYS) {
    try {
      const versions = parseMasterKeys(given.MASTER_KEYS);
      if (p.MASTER_KEY_ACTIVE !== undefined && !versions.has(p.MASTER_KEY_ACTIVE)) {
        problems.push('MASTER_KEY_ACTIVE: names a version that MASTER_KEYS does not contain');
      }
      for (const [version, key] of versions) {
        if (isProduction && isWeakKey(key)) problems.push(`MASTER_KEYS: the key of version ${version} is not random`);
        key.fill(0);
      }
    } catch (error) {
      problems.push(`MASTER_KEYS: ${(error as Error).message}`);
    }
  }
  const blindIndexKey = key32('BLIND_INDEX_KEY', given.BLIND_INDEX_KEY, problems);
  const auditHmacKey = key32('AUDIT_HMAC_KEY', given.AUDIT_HMAC_KEY, problems);
  if (isProduction && blindIndexKey.length === 32 && isWeakKey(blindIndexKey)) {
    problems.push('BLIND_INDEX_KEY: is not random');
  }
  if (isProduction && auditHmacKey.length === 32 && isWeakKey(auditHmacKey)) {
    problems.push('AUDIT_HMAC_KEY: is not random');
  }
  if (given.TOKEN_SIGNING_SECRET && given.TOKEN_SIGNING_SECRET.length < 32) {
    problems.push('TOKEN_SIGNING_SECRET: must be at least 32 characters');
  }

  const mfaRequiredRoles = (p.MFA_REQUIRED_ROLES ?? (isProduction ? MFA_MINIMUM_ROLES : [])) as Role[];
  // The variable may add roles (PATIENT) in production, never drop one: a typo must not turn MFA off.
  if (isProduction && MFA_MINIMUM_ROLES.some((role) => !mfaRequiredRoles.includes(role))) {
    problems.push(`MFA_REQUIRED_ROLES: in production it must include ${MFA_MINIMUM_ROLES.join(', ')}`);
  }
  for (const role of mfaRequiredRoles) {
    if (!ROLES.includes(role)) problems.push(`MFA_REQUIRED_ROLES: unknown role in the list`);
  }
  let bootstrapAdmin: Config['auth']['bootstrapAdmin'];
  if (p.HMS_BOOTSTRAP_ADMIN_EMAIL || given.HMS_BOOTSTRAP_ADMIN_PASSWORD) {
    if (!p.HMS_BOOTSTRAP_ADMIN_EMAIL || !given.HMS_BOOTSTRAP_ADMIN_PASSWORD) {
      problems.push('HMS_BOOTSTRAP_ADMIN_EMAIL: set together with HMS_BOOTSTRAP_ADMIN_PASSWORD');
    } else {
      bootstrapAdmin = { email: p.HMS_BOOTSTRAP_ADMIN_EMAIL, password: given.HMS_BOOTSTRAP_ADMIN_PASSWORD };
    }
  }
  if (p.SESSION_ABSOLUTE_SECONDS < p.SESSION_IDLE_SECONDS) {
    problems.push('SESSION_ABSOLUTE_SECONDS: must not be shorter than SESSION_IDLE_SECONDS');
  }
  if (p.PERSISTED_QUERIES === 'only' && !p.PERSISTED_QUERIES_MANIFEST) {
    problems.push('PERSISTED_QUERIES_MANIFEST: required with PERSISTED_QUERIES=only');
  }
  if (p.SECRETS_PROVIDER !== 'env') {
    problems.push(`SECRETS_PROVIDER: ${p.SECRETS_PROVIDER} is read at start by loadConfigAsync, not loadConfig`);
  }
  if (p.PERSISTED_QUERIES !== 'only' && p.PERSISTED_QUERIES_MANIFEST) {
    problems.push('PERSISTED_QUERIES_MANIFEST: only read with PERSISTED_QUERIES=only');
  }
  const siem = checkSiem(p, given.SIEM_AUTH_TOKEN, isProduction, problems);
  const tls = checkTls(p, problems);
  checkBilling(p.PAYMENT_PROCESSOR, given.STRIPE_SECRET_KEY, p.STRIPE_API_URL, isProduction, problems);
  // A variable can fail two checks with the same words (length in production and everywhere): say it once.
  if (problems.length > 0) throw new ConfigError([...new Set(problems)]);

  return {
    env: p.NODE_ENV,
    isProduction,
    port: p.PORT,
    host: p.HOST,
    dataDir,
    logLevel: p.LOG_LEVEL,
    database: {
      url: p.DATABASE_URL,
      password: given.DATABASE_PASSWORD,
      embeddedPassword,
      logSql: p.DATABASE_LOG_SQL && !isProduction,
      migrateOnStart: p.MIGRATE_ON_START,
    },
    http: {
      corsOrigins: p.CORS_ORIGINS,
      bodyLimitBytes: p.BODY_LIMIT_BYTES,
      trustProxy: p.TRUST_PROXY,
      graphiqlEnabled: p.GRAPHIQL_ENABLED ?? !isProduction,
    },
    keys: {
      masterKeys: given.MASTER_KEYS as string,
      masterKeyActive: p.MASTER_KEY_ACTIVE,
      blindIndexKey,
      auditHmacKey,
    },
    tokens: {
      signingSecret: given.TOKEN_SIGNING_SECRET as string,
      accessTokenTtlSeconds: p.ACCESS_TOKEN_TTL_SECONDS,
      refreshTokenTtlSeconds: p.REFRESH_TOKEN_TTL_SECONDS,
    },
    redis: { url: p.REDIS_URL, password: given.REDIS_PASSWORD },
    rateLimit: { multiplier: p.RATE_LIMIT_MULTIPLIER, keyPrefix: p.RATE_LIMIT_KEY_PREFIX },
    auth: {
      argon2: { memoryKiB: p.ARGON2_MEMORY_KIB, timeCost: p.ARGON2_TIME_COST, parallelism: p.ARGON2_PARALLELISM },
      sessionIdleSeconds: p.SESSION_IDLE_SECONDS,
      sessionAbsoluteSeconds: p.SESSION_ABSOLUTE_SECONDS,
      lockoutThreshold: p.LOGIN_LOCKOUT_THRESHOLD,
      lockoutSeconds: p.LOGIN_LOCKOUT_SECONDS,
      mfaRequiredRoles,
      mfaIssuer: p.MFA_ISSUER,
      bootstrapAdmin,
    },
    access: { breakGlassMinutes: p.BREAK_GLASS_MINUTES },
    stepUp: { maxAgeSeconds: p.STEP_UP_MAX_AGE_SECONDS },
    siem,
    audit: { checkpointSeconds: p.AUDIT_CHECKPOINT_SECONDS },
    billing: {
      processor: p.PAYMENT_PROCESSOR,
      stripeSecretKey: given.STRIPE_SECRET_KEY,
      stripeApiUrl: p.STRIPE_API_URL,
    },
    graphql: {
      limits: {
        maxDepth: p.QUERY_MAX_DEPTH,
        maxAliases: p.QUERY_MAX_ALIASES,
        maxCost: p.QUERY_MAX_COST,
        maxTokens: p.QUERY_MAX_TOKENS,
        maxBytes: p.QUERY_MAX_BYTES,
      },
      persistedQueries: p.PERSISTED_QUERIES,
      persistedQueriesManifest: p.PERSISTED_QUERIES_MANIFEST ? resolve(p.PERSISTED_QUERIES_MANIFEST) : undefined,
    },
    generatedSecrets,
    tls,
    ueba: {
      // Off by default in tests, which run scans themselves; hourly elsewhere.
      scanIntervalSeconds: p.UEBA_SCAN_INTERVAL_SECONDS ?? (p.NODE_ENV === 'test' ? 0 : 3600),
      timeZone: p.UEBA_TIMEZONE,
    },
    retention: {
      medicalRecordYears: p.RETENTION_MEDICAL_RECORD_YEARS,
      hipaaDocumentationYears: p.RETENTION_HIPAA_DOCUMENTATION_YEARS,
      billingYears: p.RETENTION_BILLING_YEARS,
      securityEventDays: p.RETENTION_SECURITY_EVENT_DAYS,
      sessionDays: p.RETENTION_SESSION_DAYS,
      sweepBatchSize: p.RETENTION_SWEEP_BATCH_SIZE,
    },
  };
}

/**
 * loadConfig for every secret provider: with SECRETS_PROVIDER=aws or vault the named secrets are read first and
 * validated exactly as if they had been in the environment. The server and the CLI start through this.
 */
export async function loadConfigAsync(env: NodeJS.ProcessEnv = process.env): Promise<Config> {
  let resolved;
  try {
    resolved = await resolveSecrets(env);
  } catch (error) {
    // Shortcoming: a provider failure is reported alone; the other variables are checked on the next start.
    throw error instanceof SecretProviderError ? new ConfigError(error.problems) : error;
  }
  try {
    const config = loadConfig(resolved.environment);
    return resolved.live ? { ...config, secrets: resolved.live } : config;
  } catch (error) {
    resolved.live?.stop();
    throw error;
  }
}
