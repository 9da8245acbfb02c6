import { parseMasterKeys, type MasterKeyRing } from '../../crypto';
import type { Logger } from '../../logging/logger';
import type { LiveSecrets } from './cached-secrets';

/**
 * Applies refreshed secrets to the running server and starts the refresh timer; returns the stop.
 * - MASTER_KEYS: versions the ring lacks are added, so data keys wrapped by other replicas under a new version
 *   unwrap here at once. The active version stays until restart: every replica must hold a version before any
 *   wraps with it (README, "Rotating keys"). Removing a version also takes a restart.
 * - DATABASE_PASSWORD: read by the connection pool for every new connection (see databasePassword).
 * Other secrets (token signing, blind index, audit HMAC, Redis) are read at start only; a change is logged.
 * Log lines carry secret names and version numbers, never values.
 */
export function applySecretRotation(live: LiveSecrets, ring: MasterKeyRing, logger: Logger): () => void {
  const unsubscribe = live.onChange((changed) => {
    if (changed.includes('MASTER_KEYS')) addMasterKeyVersions(live, ring, logger);
    if (changed.includes('DATABASE_PASSWORD')) {
      logger.info({ secret: 'DATABASE_PASSWORD' }, 'database password rotated: new connections use it');
    }
    const restartOnly = changed.filter((name) => name !== 'MASTER_KEYS' && name !== 'DATABASE_PASSWORD');
    if (restartOnly.length > 0) {
      logger.warn({ secrets: restartOnly }, 'secrets changed in the provider; they take effect at the next restart');
    }
  });
  live.start((problems) => logger.warn({ problems, provider: live.kind }, 'secret refresh failed; last values kept'));
  return () => {
    unsubscribe();
    live.stop();
  };
}

function addMasterKeyVersions(live: LiveSecrets, ring: MasterKeyRing, logger: Logger): void {
  let versions: Map<number, Uint8Array>;
  try {
    versions = parseMasterKeys(live.get('MASTER_KEYS') ?? '');
  } catch (error) {
    // parseMasterKeys names the entry index, never its text.
    logger.error(
      { secret: 'MASTER_KEYS', problem: (error as Error).message },
      'refreshed MASTER_KEYS is invalid; ignored',
    );
    return;
  }
  const added: number[] = [];
  try {
    for (const [version, key] of versions) {
      try {
        if (ring.addVersion(version, key)) added.push(version);
      } catch (error) {
        logger.error(
          { secret: 'MASTER_KEYS', version, problem: (error as Error).message },
          'master key version refused',
        );
      }
    }
  } finally {
    for (const key of versions.values()) key.fill(0);
  }
  const dropped = ring.versions().filter((version) => !versions.has(version));
  if (added.length > 0)
    logger.info({ added, active: ring.activeVersion }, 'master key versions added to the live ring');
  if (dropped.length > 0)
    logger.warn({ dropped }, 'master key versions removed from MASTER_KEYS stay loaded until restart');
}

/**
 * The database password as the connection pool should read it: a function of the live secret when one is
 * refreshed, so a rotated password is used for new connections, else the value loaded at start
 * (src/db/database.ts passes it to the pool; test/config/secret-providers-rotation.test.ts proves the pool side).
 */
export function databasePassword(config: {
  database: { password?: string };
  secrets?: LiveSecrets;
}): string | (() => string | undefined) | undefined {
  const { secrets } = config;
  const atStart = config.database.password;
  // A password inside DATABASE_URL (none loaded at start) is not rotated: the URL is read once.
  if (!secrets || atStart === undefined) return atStart;
  return () => secrets.get('DATABASE_PASSWORD') ?? atStart;
}
