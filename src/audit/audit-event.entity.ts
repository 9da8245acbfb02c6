import { Entity, Index, PrimaryKey, Property, Unique } from '@mikro-orm/core';

import { NotPhi } from '../phi/phi.decorator';

/**
 * Who did what to which patient's data, when, from where and why. Rows carry ids, field names and
 * purposes, never PHI values. Each row holds its place in one gapless sequence and an HMAC over its
 * content and the previous row's hash (audit-chain.ts). The database refuses UPDATE, DELETE and TRUNCATE, and an
 * INSERT without a chain link (triggers in the audit-chain migration).
 */
@Entity({ tableName: 'audit_events' })
@Index({ properties: ['patientId', 'at'] })
@Index({ properties: ['actorId', 'at'] })
export class AuditEvent {
  @PrimaryKey({ type: 'uuid' })
  id!: string;

  @NotPhi('position in the audit chain')
  @Unique()
  @Property({ type: 'bigint' })
  seq!: string;

  @Property({ type: 'timestamptz' })
  at!: Date;

  @NotPhi('fixed vocabulary of actions, e.g. patient.read')
  @Property({ type: 'text' })
  action!: string;

  @NotPhi('opaque user id')
  @Property({ type: 'uuid', nullable: true })
  actorId?: string | null;

  @NotPhi('role of the actor')
  @Property({ type: 'text', nullable: true })
  actorRole?: string | null;

  @NotPhi('opaque session id')
  @Property({ type: 'uuid', nullable: true })
  sessionId?: string | null;

  @NotPhi('opaque patient id')
  @Property({ type: 'uuid', nullable: true })
  patientId?: string | null;

  @NotPhi('purpose of use: TREATMENT, EMERGENCY, OPERATIONS, PAYMENT, DATA_SHARING, SELF_ACCESS')
  @Property({ type: 'text', nullable: true })
  purpose?: string | null;

  @NotPhi('ALLOWED or DENIED')
  @Property({ type: 'text' })
  outcome!: string;

  @NotPhi('names of the PHI fields read or written, never their values')
  @Property({ type: 'text[]', default: '{}' })
  fields: string[] = [];

  @NotPhi('request id for correlation with logs')
  @Property({ type: 'text', nullable: true })
  requestId?: string | null;

  @NotPhi('client address of the request (security record)')
  @Property({ type: 'text', nullable: true })
  ip?: string | null;

  @NotPhi('client software, truncated')
  @Property({ type: 'text', nullable: true })
  userAgent?: string | null;

  @NotPhi('hash of the previous row in the chain')
  @Property({ type: 'text', nullable: true })
  prevHash?: string | null;

  @NotPhi('HMAC of this row chained to prevHash')
  @Property({ type: 'text', nullable: true })
  hash?: string | null;
}
