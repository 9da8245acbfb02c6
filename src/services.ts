import type { MikroORM } from '@mikro-orm/postgresql';

import { AccessService } from './access/access.service';
import { BreakGlassService } from './access/break-glass.service';
import { CareTeamService } from './access/care-team.service';
import { AuditService } from './audit/audit.service';
import { AuthService } from './auth/auth.service';
import type { Config } from './config/config';
import { ConsentService } from './consent/consent.service';
import { BlindIndexer, DataKeyCache, MasterKeyRing, parseMasterKeys } from './crypto';
import { DataKeyService } from './keys/data-key.service';
import { PhiVault } from './keys/phi-vault';
import type { Logger } from './logging/logger';
import { PatientService } from './patients/patient.service';
import { createRateLimiter, type RateLimiter } from './ratelimit/rate-limit.service';

/** The long-lived services a request reaches through its context; built once at start. */
export interface Services {
  config: Config;
  logger: Logger;
  orm: MikroORM;
  dataKeys: DataKeyService;
  vault: PhiVault;
  auth: AuthService;
  patients: PatientService;
  consents: ConsentService;
  access: AccessService;
  audit: AuditService;
  careTeams: CareTeamService;
  breakGlass: BreakGlassService;
  /** Per-field rate limits (Redis counters with REDIS_URL, in-process otherwise). */
  rateLimiter: RateLimiter;
  /** First-start work after migrations (for example the bootstrap admin). */
  bootstrap(): Promise<void>;
  /** Wipes cached key material and closes connections other than the database. */
  close(): Promise<void>;
}

/** Composition root for services, shared by the server, the CLI and the tests. */
export function createServices(config: Config, orm: MikroORM, logger: Logger): Services {
  const versions = parseMasterKeys(config.keys.masterKeys);
  const ring = new MasterKeyRing({ versions, active: config.keys.masterKeyActive ?? Math.max(...versions.keys()) });
  // The ring keeps its own copies; the parsed keys are wiped at once.
  for (const key of versions.values()) key.fill(0);
  const dataKeys = new DataKeyService(ring, new DataKeyCache({ maxEntries: 10_000, ttlMs: 5 * 60_000 }));
  const indexer = new BlindIndexer(config.keys.blindIndexKey);
  const vault = new PhiVault(dataKeys, indexer);
  const consents = new ConsentService();
  const auth = new AuthService({ config, orm, vault, logger });
  const audit = new AuditService();
  const rateLimiter = createRateLimiter(config, logger, audit);
  return {
    config,
    logger,
    orm,
    dataKeys,
    vault,
    auth,
    patients: new PatientService(vault),
    consents,
    access: new AccessService(consents),
    audit,
    careTeams: new CareTeamService(),
    breakGlass: new BreakGlassService(vault, config.access.breakGlassMinutes),
    rateLimiter,
    async bootstrap() {
      await auth.bootstrap();
    },
    async close() {
      dataKeys.cache.clear();
      ring.destroy();
      indexer.destroy();
      await rateLimiter.close();
    },
  };
}
