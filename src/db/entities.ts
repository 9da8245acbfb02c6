import { BreakGlassGrant } from '../access/break-glass-grant.entity';
import { CareTeamMember } from '../access/care-team-member.entity';
import { AuditCheckpoint } from '../audit/audit-checkpoint.entity';
import { AuditEvent } from '../audit/audit-event.entity';
import { SecurityEvent } from '../audit/security-event.entity';
import { SiemOutboxRow } from '../audit/siem/siem-outbox.entity';
import { UebaFinding } from '../audit/ueba/ueba-finding.entity';
import { RefreshToken } from '../auth/refresh-token.entity';
import { Consent } from '../consent/consent.entity';
import { Session } from '../auth/session.entity';
import { User } from '../auth/user.entity';
import { IdempotencyKey } from '../billing/idempotency-key.entity';
import { Invoice, InvoiceLine } from '../billing/invoice.entity';
import { Payment, PaymentEvent } from '../billing/payment.entity';
import { DataKey } from '../keys/data-key.entity';
import { Encounter } from '../patients/encounter.entity';
import { Patient } from '../patients/patient.entity';
import { DataSubjectRequest } from '../privacy/data-subject-request.entity';
import { ErasureHold } from '../privacy/erasure-hold.entity';

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
  AuditCheckpoint,
  SecurityEvent,
  SiemOutboxRow,
  UebaFinding,
  Invoice,
  InvoiceLine,
  Payment,
  PaymentEvent,
  IdempotencyKey,
  DataSubjectRequest,
  ErasureHold,
];
