import { Entity, Enum, Index, PrimaryKey, Property } from '@mikro-orm/core';
import { Field, ID, ObjectType, registerEnumType } from 'type-graphql';

import { NotPhi, PhiSubject, Sealed, type PhiEnvelope } from '../phi/phi.decorator';

/**
 * What a data subject asks for (GDPR Art. 15-18, 20). ACCESS is a copy of the data (Art. 15, JSON export),
 * EXPORT the same data in an interoperable format (Art. 20, FHIR R4 Bundle); both are served by `requestDataExport`.
 */
export enum DataSubjectRequestType {
  ACCESS = 'ACCESS',
  EXPORT = 'EXPORT',
  ERASURE = 'ERASURE',
  RECTIFICATION = 'RECTIFICATION',
  RESTRICTION = 'RESTRICTION',
}
registerEnumType(DataSubjectRequestType, {
  name: 'DataSubjectRequestType',
  description: 'GDPR right exercised: ACCESS (Art. 15), EXPORT (Art. 20), ERASURE, RECTIFICATION, RESTRICTION.',
});

/** Where a request stands; the allowed transitions are in dsr.service.ts (`assertTransition`). */
export enum DataSubjectRequestStatus {
  RECEIVED = 'RECEIVED',
  IN_REVIEW = 'IN_REVIEW',
  COMPLETED = 'COMPLETED',
  REJECTED = 'REJECTED',
}
registerEnumType(DataSubjectRequestStatus, { name: 'DataSubjectRequestStatus' });

/** Format of a data export. */
export enum ExportFormat {
  JSON = 'JSON',
  FHIR = 'FHIR',
}
registerEnumType(ExportFormat, {
  name: 'ExportFormat',
  description: 'JSON: the documented hms.patient-export structure; FHIR: an R4 Bundle of type collection.',
});

/**
 * A data-subject request and its lifecycle. No foreign key to patients: the record of an erasure
 * must outlive the patient row it erased (GDPR Art. 5(2) accountability). The requester's free text
 * is sealed under the patient's data key, so erasure (crypto-shredding) makes it unreadable too.
 */
@ObjectType({ description: 'A data-subject request (GDPR Art. 12-20); due one calendar month after receipt.' })
@Entity({ tableName: 'data_subject_requests' })
@PhiSubject('patientId')
@Index({ properties: ['status', 'dueAt'] })
@Index({ properties: ['patientId', 'receivedAt'] })
export class DataSubjectRequest {
  @Field(() => ID)
  @PrimaryKey({ type: 'uuid' })
  id!: string;

  @NotPhi('opaque patient id; kept after erasure as the fact that a request was handled')
  @Field(() => ID)
  @Property({ type: 'uuid' })
  patientId!: string;

  @NotPhi('fixed vocabulary of GDPR rights')
  @Field(() => DataSubjectRequestType)
  @Enum({ items: () => DataSubjectRequestType })
  type!: DataSubjectRequestType;

  @NotPhi('fixed vocabulary of request states')
  @Field(() => DataSubjectRequestStatus)
  @Enum({ items: () => DataSubjectRequestStatus })
  status!: DataSubjectRequestStatus;

  @Sealed('free text from the requester; may describe the patient', { nullable: true })
  reason?: PhiEnvelope | null;

  @Sealed('why a privacy officer rejected the request; may describe the patient', { nullable: true })
  rejectionReason?: PhiEnvelope | null;

  @NotPhi('opaque id of the user who filed the request (the patient, or staff on their behalf)')
  @Property({ type: 'uuid' })
  requestedBy!: string;

  @NotPhi('role of the user who filed the request')
  @Field(() => String)
  @Property({ type: 'text' })
  requestedByRole!: string;

  @Field(() => Date)
  @Property({ type: 'timestamptz' })
  receivedAt!: Date;

  @Field(() => Date, { description: 'One calendar month after receipt (Art. 12(3)).' })
  @Property({ type: 'timestamptz' })
  dueAt!: Date;

  @Field(() => Date, { nullable: true })
  @Property({ type: 'timestamptz', nullable: true })
  completedAt?: Date | null;

  @NotPhi('opaque id of the privacy officer (or the system) who completed or rejected the request')
  @Field(() => ID, { nullable: true })
  @Property({ type: 'uuid', nullable: true })
  decidedBy?: string | null;

  @NotPhi('fixed vocabulary: JSON or FHIR')
  @Field(() => ExportFormat, { nullable: true })
  @Enum({ items: () => ExportFormat, nullable: true })
  format?: ExportFormat | null;

  @NotPhi('names of the patient fields a rectification changed (never their values)')
  @Field(() => [String], { nullable: true })
  @Property({ type: 'text[]', nullable: true })
  rectifiedFields?: string[] | null;

  @NotPhi('signed erasure certificate: categories erased or kept and the legal ground, no PHI')
  @Property({ type: 'jsonb', nullable: true })
  certificate?: Record<string, unknown> | null;

  /** A finished export, only in the response of `requestDataExport`; never stored. */
  data?: string | null;
}
