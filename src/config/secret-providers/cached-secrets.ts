import { SecretProviderError, type SecretProvider, type SecretSnapshot } from './secret-provider';

/** Called with the names whose values changed in a refresh (never the values: read them with `get`). */
export type SecretChangeListener = (changed: string[]) => void | Promise<void>;

/** Called when a refresh failed; the last good values stay in use. `problems` name secrets or settings only. */
export type SecretRefreshErrorListener = (problems: string[]) => void;

/** The secrets a running server reads: the last good values of a provider, refreshed on an interval. */
export interface LiveSecrets {
  readonly kind: string;
  readonly refreshSeconds: number;
  /** The current value of `name`, or undefined when the provider holds none. */
  get(name: string): string | undefined;
  /** Registers a listener for changed names; returns its removal. */
  onChange(listener: SecretChangeListener): () => void;
  /** Reads the provider now; resolves to the names that changed (listeners have run by then). */
  refresh(): Promise<string[]>;
  /** Starts refreshing every `refreshSeconds` (no timer when 0); the timer does not keep the process alive. */
  start(onError: SecretRefreshErrorListener): void;
  /** Stops the timer, drops the listeners and closes the provider's connections. */
  stop(): void;
}

/**
 * Caches a provider's secrets and refreshes them on an interval, so a rotated database password or a new master
 * key version reaches a running server. A failed refresh keeps the last good values; a secret that disappears
 * keeps its last value too (deleting a secret by mistake must not take the server down), and is reported.
 */
export class CachedSecrets implements LiveSecrets {
  #values: SecretSnapshot = new Map();
  #listeners = new Set<SecretChangeListener>();
  #timer?: NodeJS.Timeout;
  #running?: Promise<string[]>;
  #onError: SecretRefreshErrorListener = () => undefined;

  constructor(
    private readonly provider: SecretProvider,
    private readonly names: readonly string[],
    readonly refreshSeconds: number,
  ) {}

  get kind(): string {
    return this.provider.kind;
  }

  /** The first read, at start: errors reach the caller as configuration problems. */
  async load(): Promise<SecretSnapshot> {
    this.#values = await this.provider.fetch(this.names);
    return this.#values;
  }

  get(name: string): string | undefined {
    return this.#values.get(name);
  }

  onChange(listener: SecretChangeListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  refresh(): Promise<string[]> {
    // One read at a time: a slow provider must not stack refreshes up.
    this.#running ??= this.#refresh().finally(() => (this.#running = undefined));
    return this.#running;
  }

  start(onError: SecretRefreshErrorListener): void {
    this.#onError = onError;
    if (this.#timer || this.refreshSeconds <= 0) return;
    this.#timer = setInterval(() => {
      this.refresh().catch((error: unknown) => this.#onError(problemsOf(error)));
    }, this.refreshSeconds * 1000);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#listeners.clear();
    this.provider.close?.();
  }

  async #refresh(): Promise<string[]> {
    const fresh = await this.provider.fetch(this.names);
    const next = new Map(this.#values);
    const changed: string[] = [];
    const vanished: string[] = [];
    for (const name of this.names) {
      const value = fresh.get(name);
      if (value === undefined) {
        if (this.#values.has(name))
          vanished.push(`${name}: no longer found in ${this.kind}; the value loaded earlier stays in use`);
      } else if (value !== this.#values.get(name)) {
        next.set(name, value);
        changed.push(name);
      }
    }
    this.#values = next;
    if (vanished.length > 0) this.#onError(vanished);
    if (changed.length > 0) {
      for (const listener of [...this.#listeners]) {
        try {
          await listener(changed);
        } catch (error) {
          this.#onError([
            `${changed.join(', ')}: a change could not be applied (${(error as Error)?.name ?? 'error'})`,
          ]);
        }
      }
    }
    return changed;
  }
}

function problemsOf(error: unknown): string[] {
  return error instanceof SecretProviderError
    ? error.problems
    : [`secret refresh failed (${(error as Error)?.name ?? 'error'})`];
}
