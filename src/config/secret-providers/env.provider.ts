import { readSecret } from '../secrets';
import { SecretProviderError, type SecretProvider, type SecretSnapshot } from './secret-provider';

/**
 * The environment as a provider: `NAME`, or the file named by `NAME_FILE`, read again on every fetch so a
 * rotated mounted secret (a Kubernetes Secret volume, which the kubelet updates in place) is picked up.
 */
export class EnvSecretProvider implements SecretProvider {
  readonly kind = 'env';

  constructor(private readonly env: NodeJS.ProcessEnv) {}

  async fetch(names: readonly string[]): Promise<SecretSnapshot> {
    const values = new Map<string, string>();
    const problems: string[] = [];
    for (const name of names) {
      const { value, error } = readSecret(this.env, name);
      if (error) problems.push(error);
      else if (value !== undefined) values.set(name, value);
    }
    if (problems.length > 0) throw new SecretProviderError(problems);
    return values;
  }
}
