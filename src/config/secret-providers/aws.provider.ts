import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

import { SecretProviderError, type SecretProvider, type SecretSnapshot } from './secret-provider';

/** How to reach AWS Secrets Manager; credentials come from the SDK's default chain unless given. */
export interface AwsSecretsSettings {
  region: string;
  /** Secret id of variable NAME is `<prefix><NAME>`, for example `hms/production/MASTER_KEYS`. */
  prefix: string;
  /** A VPC endpoint, or a local server in tests; the regional endpoint when unset. */
  endpoint?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}

/** AWS error types that mean "we may not read it", as opposed to "it is not there". */
const DENIED = new Set([
  'AccessDeniedException',
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'ExpiredTokenException',
  'SignatureDoesNotMatch',
]);

/**
 * AWS Secrets Manager through the official v3 client: one secret per variable, its SecretString the value.
 * A secret that does not exist is absent (the caller decides whether it was required).
 */
export class AwsSecretsProvider implements SecretProvider {
  readonly kind = 'aws';
  #client?: SecretsManagerClient;

  constructor(private readonly settings: AwsSecretsSettings) {}

  async fetch(names: readonly string[]): Promise<SecretSnapshot> {
    // Loaded on first use: every other start (environment secrets, tests, the CLI) skips the SDK.
    const { GetSecretValueCommand, SecretsManagerClient } = await import('@aws-sdk/client-secrets-manager');
    this.#client ??= new SecretsManagerClient({
      region: this.settings.region,
      ...(this.settings.endpoint ? { endpoint: this.settings.endpoint } : {}),
      ...(this.settings.credentials ? { credentials: this.settings.credentials } : {}),
      maxAttempts: 3,
      requestHandler: { connectionTimeout: 3_000, requestTimeout: 10_000 },
    });
    const client = this.#client;
    const values = new Map<string, string>();
    const problems: string[] = [];
    await Promise.all(
      names.map(async (name) => {
        const secretId = `${this.settings.prefix}${name}`;
        try {
          const answer = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
          if (typeof answer.SecretString === 'string') values.set(name, answer.SecretString);
          else problems.push(`${name}: AWS secret ${secretId} holds binary data, not a SecretString`);
        } catch (error) {
          const problem = describeAwsError(name, secretId, error);
          if (problem) problems.push(problem);
        }
      }),
    );
    if (problems.length > 0) throw new SecretProviderError(problems.sort());
    return values;
  }

  /** Closes the client's sockets. */
  close(): void {
    this.#client?.destroy();
    this.#client = undefined;
  }
}

/** A problem line for an SDK error, or undefined when the secret simply does not exist. Never the SDK's message. */
function describeAwsError(name: string, secretId: string, error: unknown): string | undefined {
  const type = (error as { name?: string } | undefined)?.name ?? 'unknown error';
  if (type === 'ResourceNotFoundException') return undefined;
  if (DENIED.has(type))
    return `${name}: AWS Secrets Manager refused to read ${secretId} (${type}): check the credentials and the IAM policy`;
  if (type === 'DecryptionFailure') return `${name}: AWS Secrets Manager cannot decrypt ${secretId} with its KMS key`;
  // Network failures carry codes such as ECONNREFUSED; SDK errors their type. Neither carries a value.
  const code = (error as { code?: string } | undefined)?.code;
  return `${name}: cannot read AWS secret ${secretId} (${code ?? type})`;
}
