import { RefreshToken } from '../auth/refresh-token.entity';
import { Session } from '../auth/session.entity';
import { User } from '../auth/user.entity';
import { DataKey } from '../keys/data-key.entity';
import { Encounter } from '../patients/encounter.entity';
import { Patient } from '../patients/patient.entity';

/** Every persisted entity class; the ORM, the migrations and `phi:check` use this list. */
export const ENTITIES = [DataKey, User, Session, RefreshToken, Patient, Encounter];
