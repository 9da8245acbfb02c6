import { BreakGlassGrant } from '../access/break-glass-grant.entity';
import { CareTeamMember } from '../access/care-team-member.entity';
import { AuditEvent } from '../audit/audit-event.entity';
import { SecurityEvent } from '../audit/security-event.entity';
import { RefreshToken } from '../auth/refresh-token.entity';
import { Consent } from '../consent/consent.entity';
import { Session } from '../auth/session.entity';
import { User } from '../auth/user.entity';
import { DataKey } from '../keys/data-key.entity';
import { Encounter } from '../patients/encounter.entity';
import { Patient } from '../patients/patient.entity';

/** Every persisted entity class; the ORM, the migrations and `phi:check` use this list. */
export const ENTITIES = [
  DataKey,
  User,
  Session,
  RefreshToken,
  Patient,
  Encounter,
  CareTeamMember,
  BreakGlassGrant,
  Consent,
  AuditEvent,
  SecurityEvent,
];
