import { z } from 'zod';

import { readSecret } from '../secrets';
import { AwsSecretsProvider } from './aws.provider';
import { CachedSecrets, type LiveSecrets } from './cached-secrets';
import { EnvSecretProvider } from './env.provider';
import { isLoopbackHost, PROVIDED_SECRET_NAMES, SecretProviderError, type SecretProvider } from './secret-provider';
import { VaultSecretsProvider } from './vault.provider';

/** Secrets that a remote provider must hold: without them no environment can start. */
const ALWAYS_REQUIRED = ['TOKEN_SIGNING_SECRET', 'MASTER_KEYS', 'BLIND_INDEX_KEY', 'AUDIT_HMAC_KEY'] as const;

const settingsSchema = z.object({
  NODE_ENV: z.string().optional(),
  SECRETS_PROVIDER: z.enum(['env', 'aws', 'vault']).default('env'),
  SECRETS_REFRESH_SECONDS: z.coerce.number().int().min(0).max(86_400).default(300),
  SECRETS_AWS_REGION: z
    .string()
    .regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'must be an AWS region such as eu-central-1')
    .optional(),
  AWS_REGION: z.string().optional(),
  SECRETS_AWS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9/_+=.@-]{1,200}$/, 'letters, digits and / _ + = . @ - only')
    .optional(),
  SECRETS_AWS_ENDPOINT: z.url({ protocol: /^https?$/ }).optional(),
  VAULT_ADDR: z.url({ protocol: /^https?$/ }).optional(),
  VAULT_NAMESPACE: z
    .string()
    .regex(/^[A-Za-z0-9/_-]{1,200}$/)
    .optional(),
  VAULT_KV_MOUNT: z
    .string()
    .regex(/^[A-Za-z0-9_-]+(\/[A-Za-z0-9_-]+)*$/)
    .default('secret'),
  VAULT_SECRET_PATH: z
    .string()
    .regex(/^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/, 'a path such as hms/production')
    .optional(),
});

/** The environment with the provider's secrets filled in, and the live source that keeps them fresh. */
export interface ResolvedSecrets {
  /** What loadConfig validates: `env` plus every provided secret under its variable name. */
  environment: NodeJS.ProcessEnv;
  /** Present for a remote provider, and for the environment when a secret comes from a `_FILE` mount. */
  live?: LiveSecrets;
}

/**
 * Reads the secret provider's variables, builds the provider and reads every secret once. Problems come back as a
 * SecretProviderError naming variables or secrets, never values. Production refuses plain http to a remote host.
 */
export async function resolveSecrets(env: NodeJS.ProcessEnv): Promise<ResolvedSecrets> {
  const nonEmpty = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== ''));
  const parsed = settingsSchema.safeParse(nonEmpty);
  if (!parsed.success) {
    throw new SecretProviderError(parsed.error.issues.map((i) => `${String(i.path[0])}: ${i.message}`));
  }
  const s = parsed.data;
  const production = s.NODE_ENV === 'production';
  const problems: string[] = [];
  const { provider, where } = buildProvider(env, s, production, problems);
  if (problems.length > 0) throw new SecretProviderError(problems);

  const live = new CachedSecrets(provider, PROVIDED_SECRET_NAMES, s.SECRETS_REFRESH_SECONDS);
  if (s.SECRETS_PROVIDER === 'env') {
    // Only mounted files can change under a running process; loadConfig reports a bad NAME/NAME_FILE pair itself.
    if (!PROVIDED_SECRET_NAMES.some((name) => env[`${name}_FILE`])) return { environment: env };
    const loaded = await live.load().then(
      () => true,
      () => false,
    );
    return { environment: env, live: loaded ? live : undefined };
  }
  const snapshot = await live.load().catch((error: unknown) => {
    live.stop();
    throw error;
  });

  for (const name of PROVIDED_SECRET_NAMES) {
    if (snapshot.has(name) && (env[name] || env[`${name}_FILE`])) {
      problems.push(`${name}: given by both SECRETS_PROVIDER=${s.SECRETS_PROVIDER} and the environment; remove one`);
    }
  }
  for (const name of ALWAYS_REQUIRED) {
    if (!snapshot.has(name) && !env[name] && !env[`${name}_FILE`])
      problems.push(`${name}: not found in ${where(name)}`);
  }
  if (production && !snapshot.has('DATABASE_PASSWORD') && !env.DATABASE_PASSWORD && !env.DATABASE_PASSWORD_FILE) {
    const url = env.DATABASE_URL ? safeUrl(env.DATABASE_URL) : undefined;
    if (!url?.password) problems.push(`DATABASE_PASSWORD: not found in ${where('DATABASE_PASSWORD')}`);
  }
  if (problems.length > 0) {
    live.stop();
    throw new SecretProviderError(problems);
  }

  const environment: NodeJS.ProcessEnv = { ...env };
  // The provider has been applied: what loadConfig sees is a plain environment.
  delete environment.SECRETS_PROVIDER;
  for (const [name, value] of snapshot) environment[name] = value;
  return { environment, live };
}

type Settings = z.infer<typeof settingsSchema>;

function buildProvider(
  env: NodeJS.ProcessEnv,
  s: Settings,
  production: boolean,
  problems: string[],
): { provider: SecretProvider; where: (name: string) => string } {
  const plainHttp = (name: string, url: string | undefined) => {
    const parsed = url ? safeUrl(url) : undefined;
    if (production && parsed?.protocol === 'http:' && !isLoopbackHost(parsed.hostname)) {
      problems.push(`${name}: must use https in production (plain http only to an agent on loopback)`);
    }
  };
  if (s.SECRETS_PROVIDER === 'aws') {
    const region = s.SECRETS_AWS_REGION ?? s.AWS_REGION;
    if (!region) problems.push('SECRETS_AWS_REGION: required with SECRETS_PROVIDER=aws (or AWS_REGION)');
    if (!s.SECRETS_AWS_PREFIX) problems.push('SECRETS_AWS_PREFIX: required with SECRETS_PROVIDER=aws');
    plainHttp('SECRETS_AWS_ENDPOINT', s.SECRETS_AWS_ENDPOINT);
    // Explicit keys only when both are in the given environment; otherwise the SDK's chain (IRSA, instance role).
    const credentials =
      env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY
        ? {
            accessKeyId: env.AWS_ACCESS_KEY_ID,
            secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
            ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
          }
        : undefined;
    const prefix = s.SECRETS_AWS_PREFIX ?? '';
    return {
      provider: new AwsSecretsProvider({ region: region ?? '', prefix, endpoint: s.SECRETS_AWS_ENDPOINT, credentials }),
      where: (name) => `AWS Secrets Manager (secret id ${prefix}${name})`,
    };
  }
  if (s.SECRETS_PROVIDER === 'vault') {
    if (!s.VAULT_ADDR) problems.push('VAULT_ADDR: required with SECRETS_PROVIDER=vault');
    if (!s.VAULT_SECRET_PATH) problems.push('VAULT_SECRET_PATH: required with SECRETS_PROVIDER=vault');
    plainHttp('VAULT_ADDR', s.VAULT_ADDR);
    const token = readSecret(env, 'VAULT_TOKEN');
    if (token.error) problems.push(token.error);
    else if (!env.VAULT_TOKEN && !env.VAULT_TOKEN_FILE) {
      problems.push('VAULT_TOKEN: required with SECRETS_PROVIDER=vault (or VAULT_TOKEN_FILE)');
    }
    const path = `${s.VAULT_KV_MOUNT}/${s.VAULT_SECRET_PATH ?? ''}`;
    return {
      provider: new VaultSecretsProvider({
        address: s.VAULT_ADDR ?? '',
        mount: s.VAULT_KV_MOUNT,
        path: s.VAULT_SECRET_PATH ?? '',
        namespace: s.VAULT_NAMESPACE,
        // The file is read on every fetch, so a renewed token is used without a restart.
        token: env.VAULT_TOKEN_FILE ? undefined : env.VAULT_TOKEN,
        tokenFile: env.VAULT_TOKEN_FILE || undefined,
      }),
      where: (name) => `Vault secret ${path} (key ${name})`,
    };
  }
  return { provider: new EnvSecretProvider(env), where: (name) => `the environment (${name} or ${name}_FILE)` };
}

function safeUrl(text: string): URL | undefined {
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
}
