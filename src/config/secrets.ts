import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Names of the secrets the server needs; each may also come from `<NAME>_FILE`. */
export const SECRET_NAMES = [
  'TOKEN_SIGNING_SECRET',
  'MASTER_KEYS',
  'BLIND_INDEX_KEY',
  'AUDIT_HMAC_KEY',
  'DATABASE_PASSWORD',
  'REDIS_PASSWORD',
] as const;
export type SecretName = (typeof SECRET_NAMES)[number];

/** Secrets generated for local development, kept in `<dataDir>/secrets.json` (mode 0600). */
export const GENERATED_SECRETS = [
  'TOKEN_SIGNING_SECRET',
  'MASTER_KEYS',
  'BLIND_INDEX_KEY',
  'AUDIT_HMAC_KEY',
  'EMBEDDED_DB_PASSWORD',
] as const;
export type GeneratedSecretName = (typeof GENERATED_SECRETS)[number];

const WEAK_VALUES = new Set([
  'password',
  'passw0rd',
  'changeme',
  'change-me',
  'changeit',
  'secret',
  'postgres',
  'admin',
  'root',
  'test',
  'example',
  'default',
  'letmein',
  'redis',
  'hms',
  'qwerty',
  '123456',
  'development',
]);

/**
 * Reads `NAME` or, when absent, the file named by `NAME_FILE` (a mounted secret), trimming one
 * trailing newline. Both set is an error: the operator should not have to guess which one wins.
 */
export function readSecret(env: NodeJS.ProcessEnv, name: string): { value?: string; error?: string } {
  const direct = env[name];
  const file = env[`${name}_FILE`];
  if (direct !== undefined && direct !== '' && file) {
    return { error: `${name}: set either ${name} or ${name}_FILE, not both` };
  }
  if (file) {
    try {
      return { value: readFileSync(file, 'utf8').replace(/\r?\n$/, '') };
    } catch {
      return { error: `${name}_FILE: cannot read the file it names` };
    }
  }
  return { value: direct === '' ? undefined : direct };
}

/** True when a secret is too guessable to protect patient data: a known default, one repeated character, or few distinct ones. */
export function isWeakSecret(value: string): boolean {
  const lowered = value.toLowerCase();
  if (WEAK_VALUES.has(lowered)) return true;
  for (const weak of WEAK_VALUES) {
    if (weak.length >= 6 && lowered.includes(weak)) return true;
  }
  return new Set(value).size < 8;
}

function generate(name: GeneratedSecretName): string {
  switch (name) {
    case 'MASTER_KEYS':
      return `1:${randomBytes(32).toString('base64')}`;
    case 'BLIND_INDEX_KEY':
    case 'AUDIT_HMAC_KEY':
      return randomBytes(32).toString('base64');
    default:
      return randomBytes(32).toString('base64url');
  }
}

/**
 * Development only: returns the secrets stored in `<dataDir>/secrets.json`, generating and
 * saving (mode 0600) any that are missing. Production never calls this.
 */
export function loadOrCreateDevSecrets(dataDir: string): {
  secrets: Record<GeneratedSecretName, string>;
  created: GeneratedSecretName[];
} {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = join(dataDir, 'secrets.json');
  const stored: Partial<Record<GeneratedSecretName, string>> = existsSync(file)
    ? JSON.parse(readFileSync(file, 'utf8'))
    : {};
  const created: GeneratedSecretName[] = [];
  for (const name of GENERATED_SECRETS) {
    if (!stored[name]) {
      stored[name] = generate(name);
      created.push(name);
    }
  }
  if (created.length > 0) {
    writeFileSync(file, JSON.stringify(stored, null, 2) + '\n', { mode: 0o600 });
  }
  chmodSync(file, 0o600);
  return { secrets: stored as Record<GeneratedSecretName, string>, created };
}
