// autocannon 8 ships no type declarations; these cover the part of its API the load generator uses.
declare module 'autocannon' {
  namespace autocannon {
    interface Request {
      setupRequest?: (request: Record<string, unknown>, context: Record<string, unknown>) => Record<string, unknown>;
      onResponse?: (status: number, body: string, context: Record<string, unknown>) => void;
    }
    interface Options {
      url: string;
      method?: string;
      connections?: number;
      duration?: number;
      headers?: Record<string, string>;
      overallRate?: number;
      skipAggregateResult?: boolean;
      requests?: Request[];
    }
    interface Histogram {
      p50: number;
      p99: number;
      average: number;
      total: number;
    }
    interface Result {
      requests: Histogram;
      latency: Histogram;
      duration: number;
      errors: number;
      timeouts: number;
      non2xx: number;
    }
    function aggregateResult(results: Result[], options: { url: string; connections?: number }): Result;
  }
  function autocannon(options: autocannon.Options): Promise<autocannon.Result>;
  export = autocannon;
}
