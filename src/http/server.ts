import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import {
  ApolloServerPluginCacheControlDisabled,
  ApolloServerPluginLandingPageDisabled,
} from '@apollo/server/plugin/disabled';
import { expressMiddleware } from '@as-integrations/express5';
import express, { type NextFunction, type Request, type Response } from 'express';

import { checkReadiness } from '../db/database';
import type { GraphQLContext } from '../graphql/context';
import { createErrorFormatter } from '../graphql/errors';
import { phiInputGuardPlugin } from '../graphql/input-guard.plugin';
import { inFlightOperations, type InFlightOperations } from '../graphql/in-flight.plugin';
import { introspectionPolicyPlugin } from '../graphql/introspection.plugin';
import { retryAfterPlugin } from '../graphql/retry-after.plugin';
import { createQueryLimits } from '../graphql/limits.plugin';
import { buildExecutableSchema } from '../graphql/schema';
import type { Services } from '../services';
import { graphiqlMiddleware } from './graphiql';
import { corsAllowList, securityHeaders } from './security-headers';
import { requestContext } from './request-context';
import { reloadTls, tlsServerOptions } from './tls';

/**
 * A started HTTP(S) server with its Apollo instance. `stop` closes the listener at once (new connections are
 * refused), lets in-flight requests finish (up to 10 s, then cuts them), closes idle keep-alive connections, and
 * then waits (up to OPERATIONS_GRACE_MS more) for operations that still run after their client hung up.
 */
export interface RunningServer {
  httpServer: Server;
  url: string;
  /** Whether the server speaks HTTPS itself, and whether it demands client certificates. */
  tls: { enabled: boolean; mutual: boolean };
  stop(): Promise<void>;
  /** Re-reads the TLS files into the running server; false (and logged) when TLS is off or the files are bad. */
  reloadTls(): boolean;
}

/** How long `stop` waits, after the HTTP drain, for operations whose client has gone (main.ts exits at 15 s). */
const OPERATIONS_GRACE_MS = 4_000;

function clientError(res: Response, status: number, message: string): void {
  res.status(status).json({ errors: [{ message, extensions: { code: 'BAD_REQUEST' } }] });
}

/**
 * Builds the express 5 app around Apollo Server 5: request ids, security headers, CORS from the
 * allow-list, a body limit, the offline GraphiQL page, health and readiness probes.
 */
export async function createHttpServer(services: Services): Promise<{
  httpServer: Server;
  tlsServer?: HttpsServer;
  apollo: ApolloServer<GraphQLContext>;
  operations: InFlightOperations;
}> {
  const { config, logger, orm } = services;
  const app = express();
  const tlsServer = config.tls ? createHttpsServer(tlsServerOptions(config.tls), app) : undefined;
  const httpServer: Server = tlsServer ?? createServer(app);
  // A refused handshake (no client certificate, another CA, expired, plain HTTP on the TLS port): codes only.
  // OpenSSL itself refuses a missing certificate; a certificate that fails verification is refused by Node as
  // the handshake completes (the socket is destroyed before 'secureConnection'), so `verifyError` says why.
  tlsServer?.on('tlsClientError', (error: NodeJS.ErrnoException, socket) => {
    logger.warn(
      { code: error.code ?? 'unknown', verifyError: socket.authorizationError, remoteAddress: socket.remoteAddress },
      'TLS handshake refused',
    );
  });
  app.disable('x-powered-by');
  app.set('trust proxy', config.http.trustProxy.length > 0 ? config.http.trustProxy : false);
  app.set('etag', false);

  // Depth, aliases, cost, tokens, size and persisted queries: a guard before Apollo parses, then a plugin.
  const queryLimits = createQueryLimits(config.graphql);
  const operations = inFlightOperations();
  const apollo = new ApolloServer<GraphQLContext>({
    schema: await buildExecutableSchema(),
    csrfPrevention: true,
    allowBatchedHttpRequests: false,
    parseOptions: queryLimits.parseOptions,
    persistedQueries: queryLimits.persistedQueries,
    // On for every caller here; introspectionPolicyPlugin limits it to ADMIN and INTEGRATOR in production.
    introspection: true,
    includeStacktraceInErrorResponses: false,
    hideSchemaDetailsFromClientErrors: config.isProduction,
    formatError: createErrorFormatter(logger, { production: config.isProduction }),
    plugins: [
      ApolloServerPluginDrainHttpServer({ httpServer }),
      operations.plugin,
      ApolloServerPluginLandingPageDisabled(),
      // Responses are never cacheable (securityHeaders: Cache-Control: no-store), so Apollo's cache hints have no
      // use; the default plugin hooked every resolved field, which wraps every resolver (issue 11: ~2% of a page of
      // 100 patients).
      ApolloServerPluginCacheControlDisabled(),
      introspectionPolicyPlugin({ restricted: config.isProduction }),
      queryLimits.plugin,
      phiInputGuardPlugin(),
      retryAfterPlugin(),
    ],
  });
  await apollo.start();

  app.use(requestContext(logger));
  app.use(securityHeaders());
  app.use(corsAllowList(config.http.corsOrigins));

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    const readiness = await checkReadiness(orm);
    res
      .status(readiness.ready ? 200 : 503)
      .json({ status: readiness.ready ? 'ready' : 'not ready', reason: readiness.reason });
  });

  if (config.http.graphiqlEnabled) app.use(graphiqlMiddleware({ endpoint: '/graphql' }));
  // GraphQL only over POST: a GET carries the document and its variables (search terms such as an SSN) in the URL,
  // where proxies, browsers and access logs keep them. The GraphiQL page above is the only GET answered here.
  app.get('/graphql', (_req, res) => {
    res
      .status(405)
      .set('Allow', 'POST')
      .json({
        errors: [
          {
            message: 'Send GraphQL requests with POST: a GET would put the query and its variables into URLs and logs',
            extensions: { code: 'METHOD_NOT_ALLOWED' },
          },
        ],
      });
  });

  app.use(
    '/graphql',
    express.json({ limit: config.http.bodyLimitBytes, strict: true }),
    queryLimits.guard,
    expressMiddleware(apollo, {
      context: async ({ req }): Promise<GraphQLContext> => ({
        requestId: req.id,
        log: req.log,
        em: orm.em.fork(),
        actor: await services.auth.authenticate(req.headers.authorization),
        ip: req.ip ?? '',
        userAgent: String(req.headers['user-agent'] ?? '').slice(0, 256),
        services,
        loaders: new Map(),
      }),
    }),
  );

  app.use((_req, res) => {
    res.status(404).json({ errors: [{ message: 'Not found', extensions: { code: 'NOT_FOUND' } }] });
  });
  // Body-parser and other middleware errors: a status and a fixed message, never the error's text.
  app.use((error: { status?: number; type?: string }, req: Request, res: Response, _next: NextFunction) => {
    if (error.type === 'entity.too.large') return clientError(res, 413, 'Request body too large');
    if (error.status && error.status >= 400 && error.status < 500)
      return clientError(res, error.status, 'Malformed request');
    req.log.error({ err: error }, 'unhandled HTTP error');
    res
      .status(500)
      .json({ errors: [{ message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } }] });
  });

  return { httpServer, tlsServer, apollo, operations };
}

/** Creates the server and listens; port 0 picks a free port (tests). */
export async function startHttpServer(services: Services, port: number, host: string): Promise<RunningServer> {
  const { httpServer, tlsServer, apollo, operations } = await createHttpServer(services);
  const { config, logger } = services;
  await new Promise<void>((resolve) => httpServer.listen(port, host, resolve));
  const address = httpServer.address();
  const boundPort = typeof address === 'object' && address ? address.port : port;
  const shownHost = host === '0.0.0.0' ? 'localhost' : host;
  return {
    httpServer,
    url: `${tlsServer ? 'https' : 'http'}://${shownHost}:${boundPort}`,
    tls: { enabled: Boolean(tlsServer), mutual: Boolean(config.tls?.clientCaFile) },
    stop: async () => {
      await apollo.stop();
      const left = await operations.settled(OPERATIONS_GRACE_MS);
      if (left > 0)
        logger.warn({ operations: left }, 'stopping with operations still running; their remaining work fails');
    },
    reloadTls: () => {
      if (!tlsServer || !config.tls) {
        logger.warn('TLS reload asked for, but this server speaks plain HTTP');
        return false;
      }
      return reloadTls(tlsServer, config.tls, logger);
    },
  };
}
