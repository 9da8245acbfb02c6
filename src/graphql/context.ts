import type { EntityManager } from '@mikro-orm/postgresql';

import type { Role } from '../config/roles';
import type { Logger } from '../logging/logger';
import type { Services } from '../services';

/** The verified caller of a request, from a live session. */
export interface Actor {
  userId: string;
  role: Role;
  sessionId: string;
  /** The patient record a PATIENT user is linked to. */
  patientId?: string;
  /** When the session last passed a second-factor check (step-up building block). */
  mfaAt?: Date;
  /** Operation scopes of an INTEGRATOR account. */
  scopes?: string[];
}

/** Per-request context: who is calling, a fresh EntityManager, and the services. */
export interface GraphQLContext {
  requestId: string;
  log: Logger;
  em: EntityManager;
  actor: Actor | null;
  ip: string;
  userAgent: string;
  services: Services;
  /** Per-request batch loaders (see db/batch-loader.ts). */
  loaders: Map<string, unknown>;
}
