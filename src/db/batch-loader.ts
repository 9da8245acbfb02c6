/**
 * Collects the keys asked for in one tick and loads them with one call, so a list of N rows with
 * a nested field costs one query instead of N. One instance per request (results are not shared).
 */
export class BatchLoader<K, V> {
  private queue: { key: K; resolve: (v: V) => void; reject: (e: unknown) => void }[] = [];

  constructor(private readonly loadMany: (keys: K[]) => Promise<Map<K, V>>) {}

  load(key: K): Promise<V> {
    return new Promise((resolve, reject) => {
      this.queue.push({ key, resolve, reject });
      if (this.queue.length === 1) process.nextTick(() => void this.dispatch());
    });
  }

  private async dispatch(): Promise<void> {
    const batch = this.queue;
    this.queue = [];
    try {
      const results = await this.loadMany([...new Set(batch.map((item) => item.key))]);
      for (const item of batch) item.resolve(results.get(item.key) as V);
    } catch (error) {
      for (const item of batch) item.reject(error);
    }
  }
}

/** The request's loader named `name`, created on first use. */
export function loaderFor<K, V>(
  loaders: Map<string, unknown>,
  name: string,
  create: () => BatchLoader<K, V>,
): BatchLoader<K, V> {
  let loader = loaders.get(name) as BatchLoader<K, V> | undefined;
  if (!loader) {
    loader = create();
    loaders.set(name, loader);
  }
  return loader;
}
