import type { NonEmptyArray } from 'type-graphql';

import { AuthResolver } from '../auth/auth.resolver';
import { EncounterResolver, PatientResolver } from '../patients/patient.resolver';
import { HealthResolver } from './health.resolver';

/** Every resolver class of the API; the schema is built from exactly these. */
export const RESOLVERS: NonEmptyArray<Function> = [HealthResolver, AuthResolver, PatientResolver, EncounterResolver];
