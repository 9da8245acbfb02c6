import autocannon from 'autocannon';

import { requestBody, type Operation, type ScenarioData } from './scenarios';

/** One measurement asked of the load generator. */
export interface LoadSpec {
  url: string;
  operation: Operation;
  connections: number;
  seconds: number;
  /** Bearer tokens: one shared by every connection, or (perUser) one per connection. */
  tokens: string[];
  perUser?: boolean;
  overallRate?: number;
  data: ScenarioData;
}

/** What one measurement gave: throughput, latency in ms, and how many answers were not plain successes. */
export interface LoadResult {
  rps: number;
  p50: number;
  p99: number;
  requests: number;
  /** Socket errors and time-outs, non-2xx answers, GraphQL errors (of which RATE_LIMITED). */
  errors: number;
  non2xx: number;
  graphqlErrors: number;
  limited: number;
}

interface Counters {
  graphqlErrors: number;
  limited: number;
  firstError?: string;
}

function instance(spec: LoadSpec, token: string | undefined, connections: number, counters: Counters, split = 1) {
  let n = Math.floor(Math.random() * 1_000_000);
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  return autocannon({
    url: spec.url,
    method: 'POST',
    connections,
    duration: spec.seconds,
    headers,
    skipAggregateResult: split > 1,
    ...(spec.overallRate ? { overallRate: spec.overallRate / split } : {}),
    requests: [
      {
        setupRequest: (request: Record<string, unknown>) => ({
          ...request,
          body: requestBody(spec.operation, spec.data, n++),
        }),
        onResponse: (_status: number, body: string) => {
          // A failed or refused request is fast and meaningless: every one is counted and reported.
          if (body.includes('"errors"')) {
            counters.graphqlErrors += 1;
            if (body.includes('RATE_LIMITED')) counters.limited += 1;
            else counters.firstError ??= body.slice(0, 300);
          }
        },
      },
    ],
  } as autocannon.Options);
}

/** Runs one measurement; scenario 6 runs one single-connection instance per user token and aggregates them. */
export async function measure(spec: LoadSpec): Promise<LoadResult & { firstError?: string }> {
  const counters: Counters = { graphqlErrors: 0, limited: 0 };
  let result: autocannon.Result;
  if (spec.perUser) {
    const parts = await Promise.all(spec.tokens.map((t) => instance(spec, t, 1, counters, spec.tokens.length)));
    result = autocannon.aggregateResult(parts, { url: spec.url, connections: spec.tokens.length });
  } else {
    result = await instance(spec, spec.tokens[0], spec.connections, counters);
  }
  return {
    rps: result.requests.total / (result.duration || spec.seconds),
    p50: result.latency.p50,
    p99: result.latency.p99,
    requests: result.requests.total,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
    graphqlErrors: counters.graphqlErrors,
    limited: counters.limited,
    firstError: counters.firstError,
  };
}

// As a forked child: answers { id, spec | specs } messages with { id, results }; specs run concurrently.
if (require.main === module && process.send) {
  process.on('message', (message: { id: number; specs: LoadSpec[] }) => {
    Promise.all(message.specs.map(measure)).then(
      (results) => process.send!({ id: message.id, results }),
      (error: unknown) =>
        process.send!({ id: message.id, error: error instanceof Error ? error.message : 'load failed' }),
    );
  });
  process.on('disconnect', () => process.exit(0));
}
