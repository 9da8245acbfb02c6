import { readFileSync } from 'node:fs';

import { SecretProviderError, type SecretProvider, type SecretSnapshot } from './secret-provider';

/** How to reach one KV v2 secret in Vault. */
export interface VaultSettings {
  /** `https://vault.example:8200`; plain http only to a loopback agent. */
  address: string;
  /** KV v2 mount, `secret` by default. */
  mount: string;
  /** Path of the one secret whose keys are the variable names, for example `hms/production`. */
  path: string;
  namespace?: string;
  /** The token, or the file it is read from on every fetch (a Vault agent or the Kubernetes auth sidecar renews it). */
  token?: string;
  tokenFile?: string;
  timeoutMs?: number;
}

/**
 * HashiCorp Vault KV version 2 over its HTTP API: `GET /v1/<mount>/data/<path>` with `X-Vault-Token`. One secret
 * holds every variable as a key; keys it lacks are absent.
 */
export class VaultSecretsProvider implements SecretProvider {
  readonly kind = 'vault';

  constructor(private readonly settings: VaultSettings) {}

  async fetch(names: readonly string[]): Promise<SecretSnapshot> {
    const where = `${this.settings.mount}/${this.settings.path}`;
    const response = await this.#get(where);
    if (response.status === 403 || response.status === 401) {
      throw new SecretProviderError([
        `VAULT_TOKEN: Vault refused to read ${where} (HTTP ${response.status}): the token is invalid, expired or lacks the policy`,
      ]);
    }
    if (response.status === 404) throw new SecretProviderError([`VAULT_SECRET_PATH: Vault has no secret at ${where}`]);
    if (response.status !== 200)
      throw new SecretProviderError([`VAULT_ADDR: Vault answered HTTP ${response.status} for ${where}`]);

    let data: unknown;
    try {
      data = ((await response.json()) as { data?: { data?: unknown } }).data?.data;
    } catch {
      throw new SecretProviderError([`VAULT_ADDR: Vault's answer for ${where} is not KV v2 JSON`]);
    }
    if (!data || typeof data !== 'object') {
      throw new SecretProviderError([`VAULT_SECRET_PATH: ${where} is not a KV v2 secret (is the mount KV version 1?)`]);
    }
    const values = new Map<string, string>();
    const problems: string[] = [];
    for (const name of names) {
      const value = (data as Record<string, unknown>)[name];
      if (typeof value === 'string') values.set(name, value);
      else if (value !== undefined && value !== null)
        problems.push(`${name}: the key in Vault secret ${where} is not a string`);
    }
    if (problems.length > 0) throw new SecretProviderError(problems);
    return values;
  }

  async #get(where: string): Promise<Response> {
    const headers: Record<string, string> = { 'X-Vault-Token': this.#token(), Accept: 'application/json' };
    if (this.settings.namespace) headers['X-Vault-Namespace'] = this.settings.namespace;
    const url = `${this.settings.address.replace(/\/+$/, '')}/v1/${encodePath(this.settings.mount)}/data/${encodePath(this.settings.path)}`;
    try {
      return await fetch(url, {
        headers,
        redirect: 'error',
        signal: AbortSignal.timeout(this.settings.timeoutMs ?? 10_000),
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: string }; name?: string }).cause?.code ?? (error as Error).name;
      throw new SecretProviderError([`VAULT_ADDR: cannot reach Vault to read ${where} (${cause})`]);
    }
  }

  #token(): string {
    if (this.settings.tokenFile) {
      try {
        const token = readFileSync(this.settings.tokenFile, 'utf8').trim();
        if (token) return token;
      } catch {
        // fall through: reported below without the path's contents
      }
      throw new SecretProviderError(['VAULT_TOKEN_FILE: cannot read a token from the file it names']);
    }
    if (!this.settings.token) throw new SecretProviderError(['VAULT_TOKEN: required with SECRETS_PROVIDER=vault']);
    return this.settings.token;
  }
}

function encodePath(path: string): string {
  return path
    .split('/')
    .filter(Boolean)
    .map((segment) => encodeURIComponent(segment))
    .join('/');
}
