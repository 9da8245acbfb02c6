import type { MikroORM } from '@mikro-orm/postgresql';

import { AccessService } from './access/access.service';
import { BreakGlassService } from './access/break-glass.service';
import { CareTeamService } from './access/care-team.service';
import { AuditIntegrity } from './audit/audit-integrity';
import { AuditQueryService } from './audit/audit-query.service';
import { AuditService } from './audit/audit.service';
import { SiemExporter } from './audit/siem/siem.exporter';
import { SqlUebaFacts } from './audit/ueba/ueba.facts';
import { UebaScanner } from './audit/ueba/ueba.scanner';
import { AuthService } from './auth/auth.service';
import { createBillingServices, type BillingServices } from './billing/billing.service';
import type { Config } from './config/config';
import { applySecretRotation } from './config/secret-providers';
import { ConsentService } from './consent/consent.service';
import { BlindIndexer, DataKeyCache, MasterKeyRing, parseMasterKeys, StatementSigner } from './crypto';
import { DataKeyService } from './keys/data-key.service';
import { PhiVault } from './keys/phi-vault';
import type { Logger } from './logging/logger';
import { PatientService } from './patients/patient.service';
import { ErasureCertificateSigner } from './privacy/erasure-certificate';
import { ErasureService } from './privacy/erasure.service';
import { DsrService } from './privacy/dsr.service';
import { ExportService } from './privacy/export.service';
import { ResearchExportService } from './privacy/research-export.service';
import { retentionPolicy } from './privacy/retention.policy';
import { RetentionService } from './privacy/retention.service';
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
  /** Reads of the audit trail and security events (auditEvents, securityEvents, accessHistory). */
  auditQueries: AuditQueryService;
  /** Audit-chain checkpoints and verification. */
  auditIntegrity: AuditIntegrity;
  careTeams: CareTeamService;
  breakGlass: BreakGlassService;
  /** Invoices, payments and the payment processor PAYMENT_PROCESSOR names. */
  billing: BillingServices;
  /** Background delivery of the SIEM outbox; started by the server (startJobs), drained once by `siem:flush`. */
  siem: SiemExporter;
  /** Behaviour analytics: `ueba:scan`, and every UEBA_SCAN_INTERVAL_SECONDS once startJobs ran. */
  ueba: UebaScanner;
  /** GDPR Art. 17 erasure with retention holds, and the signed erasure certificate. */
  erasure: ErasureService;
  /** The retention sweep (`retention:sweep`). */
  retention: RetentionService;
  /** The de-identified research dataset (`researchExport`). */
  research: ResearchExportService;
  /** Data-subject requests (GDPR Art. 12-20): filing, lifecycle, step-up checks. */
  dsr: DsrService;
  /** Everything held about one patient, for `requestDataExport` (JSON, FHIR R4). */
  dataExport: ExportService;
  /** Per-field rate limits (Redis counters with REDIS_URL, in-process otherwise). */
  rateLimiter: RateLimiter;
  /** First-start work after migrations (for example the bootstrap admin). */
  bootstrap(): Promise<void>;
  /** Starts the server's background jobs (SIEM delivery, UEBA scans, audit checkpoints); the CLI does not call it. */
  startJobs(): void;
  /** Wipes cached key material and closes connections other than the database. */
  close(): Promise<void>;
}

/** Composition root for services, shared by the server, the CLI and the tests. */
export function createServices(config: Config, orm: MikroORM, logger: Logger): Services {
  const versions = parseMasterKeys(config.keys.masterKeys);
  const ring = new MasterKeyRing({ versions, active: config.keys.masterKeyActive ?? Math.max(...versions.keys()) });
  // The ring keeps its own copies; the parsed keys are wiped at once.
  for (const key of versions.values()) key.fill(0);
  // Refreshed secrets reach the running ring (new master key versions); stopped on close.
  const stopSecretRotation = config.secrets ? applySecretRotation(config.secrets, ring, logger) : undefined;
  const dataKeys = new DataKeyService(ring, new DataKeyCache({ maxEntries: 10_000, ttlMs: 5 * 60_000 }));
  const indexer = new BlindIndexer(config.keys.blindIndexKey);
  const vault = new PhiVault(dataKeys, indexer);
  const consents = new ConsentService();
  const audit = new AuditService({ orm, hmacKey: config.keys.auditHmacKey });
  const auth = new AuthService({ config, orm, vault, logger, audit });
  const rateLimiter = createRateLimiter(config, logger, audit);
  const checkpointSigner = new StatementSigner(config.keys.auditHmacKey, 'audit-checkpoint');
  const auditIntegrity = new AuditIntegrity(audit.chain, checkpointSigner, audit);
  const timers: NodeJS.Timeout[] = [];
  const siem = new SiemExporter(orm, config.siem, logger);
  const policy = retentionPolicy(config);
  const erasureSigner = new ErasureCertificateSigner(config.keys.auditHmacKey);
  const erasure = new ErasureService({ orm, dataKeys, audit, signer: erasureSigner, policy });
  const patients = new PatientService(vault);
  const auditQueries = new AuditQueryService();
  const ueba = new UebaScanner({ orm, audit, facts: new SqlUebaFacts(vault), logger, timeZone: config.ueba.timeZone });
  return {
    config,
    logger,
    orm,
    dataKeys,
    vault,
    auth,
    patients,
    consents,
    access: new AccessService(consents),
    audit,
    auditQueries,
    auditIntegrity,
    careTeams: new CareTeamService(),
    breakGlass: new BreakGlassService(vault, config.access.breakGlassMinutes),
    billing: createBillingServices(config),
    siem,
    ueba,
    erasure,
    retention: new RetentionService({ orm, erasure, policy }),
    research: new ResearchExportService({ consents, patients, vault }),
    dsr: new DsrService(vault, config.stepUp.maxAgeSeconds),
    dataExport: new ExportService(vault, patients, auditQueries),
    rateLimiter,
    async bootstrap() {
      await auth.bootstrap();
    },
    startJobs() {
      siem.start();
      ueba.start(config.ueba.scanIntervalSeconds);
      if (config.audit.checkpointSeconds > 0) {
        const checkpoint = () =>
          auditIntegrity.checkpoint(orm.em.fork()).catch((error: unknown) => {
            logger.error({ err: error }, 'audit checkpoint failed');
          });
        timers.push(setInterval(checkpoint, config.audit.checkpointSeconds * 1000).unref());
      }
    },
    async close() {
      await siem.stop();
      await ueba.stop();
      stopSecretRotation?.();
      for (const timer of timers.splice(0)) clearInterval(timer);
      await audit.flush();
      dataKeys.cache.clear();
      ring.destroy();
      indexer.destroy();
      checkpointSigner.destroy();
      erasureSigner.destroy();
      await rateLimiter.close();
    },
  };
}
