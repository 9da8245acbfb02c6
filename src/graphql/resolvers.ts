import type { NonEmptyArray } from 'type-graphql';

import { BreakGlassResolver, CareTeamResolver } from '../access/access.resolver';
import { AuditResolver } from '../audit/audit.resolver';
import { UebaResolver } from '../audit/ueba/ueba.resolver';
import { AuthResolver } from '../auth/auth.resolver';
import { MfaResolver } from '../auth/mfa.resolver';
import { SessionResolver } from '../auth/session.resolver';
import { UserResolver } from '../auth/user.resolver';
import { BillingResolver } from '../billing/billing.resolver';
import { ConsentResolver } from '../consent/consent.resolver';
import { EncounterResolver, PatientResolver } from '../patients/patient.resolver';
import { ResearchResolver } from '../privacy/research.resolver';
import { DataSubjectRequestResolver } from '../privacy/dsr.resolver';
import { HealthResolver } from './health.resolver';

/** Every resolver class of the API; the schema is built from exactly these. */
export const RESOLVERS: NonEmptyArray<new (...args: never[]) => object> = [
  HealthResolver,
  AuthResolver,
  MfaResolver,
  UserResolver,
  SessionResolver,
  PatientResolver,
  EncounterResolver,
  CareTeamResolver,
  BreakGlassResolver,
  ConsentResolver,
  BillingResolver,
  AuditResolver,
  UebaResolver,
  ResearchResolver,
  DataSubjectRequestResolver,
];
