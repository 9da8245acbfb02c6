import type { ApolloServerPlugin } from '@apollo/server';

import type { GraphQLContext } from './context';

/** Counts operations between the start of Apollo's request pipeline and their response. */
export interface InFlightOperations {
  plugin: ApolloServerPlugin<GraphQLContext>;
  /** Resolves once none is running, or after `timeoutMs` with the number still running. */
  settled(timeoutMs: number): Promise<number>;
}

/**
 * Apollo's drain waits for HTTP requests, and a request whose client has hung up no longer counts, yet its operation
 * goes on: it still reads keys, decrypts and appends audit rows. Shutdown waits here as well before it destroys the
 * keys and closes the database, so such an operation ends as it would have (its audit rows committed) instead of
 * failing field by field with KEY_DESTROYED.
 */
export function inFlightOperations(): InFlightOperations {
  let running = 0;
  const waiters: (() => void)[] = [];
  const finished = (): void => {
    running -= 1;
    if (running === 0) for (const wake of waiters.splice(0)) wake();
  };
  return {
    plugin: {
      async requestDidStart() {
        running += 1;
        let done = false;
        return {
          async willSendResponse() {
            if (done) return;
            done = true;
            finished();
          },
        };
      },
    },
    settled(timeoutMs) {
      if (running === 0) return Promise.resolve(0);
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          const index = waiters.indexOf(wake);
          if (index >= 0) waiters.splice(index, 1);
          resolve(running);
        }, timeoutMs);
        const wake = (): void => {
          clearTimeout(timer);
          resolve(0);
        };
        waiters.push(wake);
      });
    },
  };
}
