/**
 * Secrets the server reads from a provider: the names of the environment variables they replace. Every name
 * config.ts reads through `secret(...)` belongs here (test/config/secret-providers.test.ts checks it).
 */
export const PROVIDED_SECRET_NAMES = [
  'TOKEN_SIGNING_SECRET',
  'MASTER_KEYS',
  'BLIND_INDEX_KEY',
  'AUDIT_HMAC_KEY',
  'DATABASE_PASSWORD',
  'REDIS_PASSWORD',
  'HMS_BOOTSTRAP_ADMIN_PASSWORD',
  'STRIPE_SECRET_KEY',
  'SIEM_AUTH_TOKEN',
] as const;
export type ProvidedSecretName = (typeof PROVIDED_SECRET_NAMES)[number];

/** One read of every secret: a value per name, absent when the provider holds none under that name. */
export type SecretSnapshot = ReadonlyMap<string, string>;

/** Where secrets come from: the environment (and `_FILE` mounts), AWS Secrets Manager or Vault KV v2. */
export interface SecretProvider {
  /** `env`, `aws` or `vault`: for messages. */
  readonly kind: string;
  /** Reads `names` afresh. Throws SecretProviderError naming the secret or the setting at fault, never a value. */
  fetch(names: readonly string[]): Promise<SecretSnapshot>;
  /** Releases sockets, if the provider holds any. */
  close?(): void;
}

/**
 * A provider could not deliver: `problems` name a variable or secret and say what is wrong, in the same
 * `NAME: reason` shape as ConfigError, and never carry a secret value or a token.
 */
export class SecretProviderError extends Error {
  constructor(readonly problems: string[]) {
    super(`Secret provider failed:\n  - ${problems.join('\n  - ')}`);
    this.name = 'SecretProviderError';
  }
}

/** True for a host that is this machine: a Vault agent or a test server beside the process. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
}
