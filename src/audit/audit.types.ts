import { GraphQLJSONObject } from 'graphql-scalars';
import { Field, ID, InputType, Int, ObjectType } from 'type-graphql';

/** Which audit events to list; every given criterion must match. */
@InputType('AuditEventFilter')
export class AuditEventFilter {
  @Field(() => ID, { nullable: true })
  patientId?: string | null;

  @Field(() => ID, { nullable: true })
  actorId?: string | null;

  @Field(() => String, { nullable: true, description: 'Exact action, e.g. patient.read.' })
  action?: string | null;

  @Field(() => Date, { nullable: true, description: 'Events at or after this instant.' })
  from?: Date | null;

  @Field(() => Date, { nullable: true, description: 'Events before this instant.' })
  to?: Date | null;
}

/** Which security events to list; every given criterion must match. */
@InputType('SecurityEventFilter')
export class SecurityEventFilter {
  @Field(() => String, { nullable: true, description: 'Exact event type, e.g. SIGN_IN_FAILED.' })
  eventType?: string | null;

  @Field(() => String, { nullable: true, description: 'LOW, MEDIUM, HIGH or CRITICAL.' })
  severity?: string | null;

  @Field(() => ID, { nullable: true })
  actorId?: string | null;

  @Field(() => ID, { nullable: true })
  patientId?: string | null;

  @Field(() => Date, { nullable: true, description: 'Events at or after this instant.' })
  from?: Date | null;

  @Field(() => Date, { nullable: true, description: 'Events before this instant.' })
  to?: Date | null;
}

/** One row of the audit trail: ids, field names and purpose, never PHI values. */
@ObjectType('AuditEvent', { description: 'One audited access: who, which patient, which fields, why, from where.' })
export class AuditEventView {
  @Field(() => ID)
  id!: string;

  @Field(() => Date)
  at!: Date;

  @Field(() => String, { description: 'Fixed vocabulary, e.g. patient.read, auth.login.' })
  action!: string;

  @Field(() => ID, { nullable: true })
  actorId!: string | null;

  @Field(() => String, { nullable: true })
  actorRole!: string | null;

  @Field(() => ID, { nullable: true })
  patientId!: string | null;

  @Field(() => String, { nullable: true, description: 'Purpose of use: TREATMENT, EMERGENCY, SELF_ACCESS, ...' })
  purpose!: string | null;

  @Field(() => String, { description: 'ALLOWED or DENIED.' })
  outcome!: string;

  @Field(() => [String], { description: 'Names of the fields read or written, never their values.' })
  fields!: string[];

  @Field(() => ID, { nullable: true })
  sessionId!: string | null;

  @Field(() => String, { nullable: true })
  requestId!: string | null;

  @Field(() => String, { nullable: true, description: 'Client address of the request.' })
  ip!: string | null;

  @Field(() => String, { nullable: true })
  userAgent!: string | null;
}

/** A security-relevant event (sign-in failure, refusal, break-glass, ...). */
@ObjectType('SecurityEvent', { description: 'A security-relevant event; details hold ids and codes only.' })
export class SecurityEventView {
  @Field(() => ID)
  id!: string;

  @Field(() => Date)
  at!: Date;

  @Field(() => String)
  eventType!: string;

  @Field(() => String, { description: 'LOW, MEDIUM, HIGH or CRITICAL.' })
  severity!: string;

  @Field(() => ID, { nullable: true })
  actorId!: string | null;

  @Field(() => ID, { nullable: true })
  patientId!: string | null;

  @Field(() => GraphQLJSONObject, { description: 'Structured ids and codes, e.g. { reason, requestId }.' })
  details!: Record<string, unknown>;
}

/**
 * Cursor position of an audit page. Its own type because `PageInfo` lives in patients/, which
 * audit/ must not import; the shape is the same, so clients select `pageInfo { endCursor hasNextPage }`.
 */
@ObjectType('AuditPageInfo')
export class AuditPageInfo {
  @Field(() => String, { nullable: true })
  endCursor!: string | null;

  @Field(() => Boolean)
  hasNextPage!: boolean;
}

/** A page of audit events, newest first. */
@ObjectType('AuditEventPage')
export class AuditEventPage {
  @Field(() => [AuditEventView])
  nodes!: AuditEventView[];

  @Field(() => AuditPageInfo)
  pageInfo!: AuditPageInfo;

  @Field(() => Int, { description: 'Number of nodes in this page.' })
  count!: number;
}

/** A page of security events, newest first. */
@ObjectType('SecurityEventPage')
export class SecurityEventPage {
  @Field(() => [SecurityEventView])
  nodes!: SecurityEventView[];

  @Field(() => AuditPageInfo)
  pageInfo!: AuditPageInfo;

  @Field(() => Int, { description: 'Number of nodes in this page.' })
  count!: number;
}

/** One access to a patient's record, as the patient is shown it. */
@ObjectType('AccessRecord', { description: 'Who accessed a patient record, when, and why.' })
export class AccessRecord {
  @Field(() => Date)
  at!: Date;

  @Field(() => String, { description: 'What was done, e.g. patient.read, encounter.create.' })
  action!: string;

  @Field(() => ID, { nullable: true })
  actorId!: string | null;

  @Field(() => String, { nullable: true })
  actorRole!: string | null;

  @Field(() => String, { nullable: true })
  purpose!: string | null;

  @Field(() => String, { description: 'ALLOWED or DENIED.' })
  outcome!: string;
}
