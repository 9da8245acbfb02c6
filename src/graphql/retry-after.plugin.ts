import type { ApolloServerPlugin } from '@apollo/server';

import type { GraphQLContext } from './context';

/**
 * Adds `Retry-After` (seconds) to a response that carries a RATE_LIMITED error, the longest wait among them, so that
 * HTTP clients and proxies back off without parsing the body. The status stays what GraphQL over HTTP says: a limit
 * refuses one field, and the other fields of the operation may still have been answered.
 */
export function retryAfterPlugin(): ApolloServerPlugin<GraphQLContext> {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ response }) {
          if (response.body.kind !== 'single') return;
          let wait = 0;
          for (const error of response.body.singleResult.errors ?? []) {
            const seconds = error.extensions?.retryAfterSeconds;
            if (error.extensions?.code === 'RATE_LIMITED' && typeof seconds === 'number')
              wait = Math.max(wait, seconds);
          }
          if (wait > 0) response.http.headers.set('retry-after', String(Math.ceil(wait)));
        },
      };
    },
  };
}
