import { Entity, Enum, Index, ManyToOne, PrimaryKey, Property } from '@mikro-orm/core';
import { Field, ObjectType, registerEnumType } from 'type-graphql';

import { Patient } from '../patients/patient.entity';
import { NotPhi } from '../phi/phi.decorator';

/** What a consent is about. SENSITIVE_DATA lets the care team see encounters carrying a sensitivity label. */
export enum ConsentType {
  TREATMENT = 'TREATMENT',
  RESEARCH = 'RESEARCH',
  MARKETING = 'MARKETING',
  DATA_SHARING = 'DATA_SHARING',
  SENSITIVE_DATA = 'SENSITIVE_DATA',
}
registerEnumType(ConsentType, { name: 'ConsentType', description: 'What a patient consents to.' });

/**
 * One grant or withdrawal, never changed afterwards (the database refuses UPDATE): the current
 * state of a type is its newest row, and the rows are the history (GDPR Art. 7(1) proof).
 */
@ObjectType({ description: 'A consent grant or withdrawal as recorded.' })
@Entity({ tableName: 'consents' })
@Index({ properties: ['patientId', 'type', 'at'] })
export class Consent {
  @PrimaryKey({ type: 'uuid' })
  id!: string;

  @NotPhi('opaque patient id')
  @ManyToOne({ entity: () => Patient, mapToPk: true, fieldName: 'patient_id', deleteRule: 'cascade' })
  patientId!: string;

  @NotPhi('one of a fixed set of consent types')
  @Field(() => ConsentType)
  @Enum({ items: () => ConsentType })
  type!: ConsentType;

  @NotPhi('grant (true) or withdrawal (false) flag')
  @Field(() => Boolean, { description: 'True for a grant, false for a withdrawal.' })
  @Property({ type: 'boolean' })
  given!: boolean;

  @NotPhi('version label of the policy text consented to')
  @Field(() => String, { nullable: true })
  @Property({ type: 'text', nullable: true })
  policyVersion?: string | null;

  @Field(() => Date)
  @Property({ type: 'timestamptz' })
  at!: Date;

  @NotPhi('fixed vocabulary: API, PORTAL, PAPER, VERBAL')
  @Property({ type: 'text' })
  channel!: string;

  @NotPhi('client address of the request that recorded the consent (proof of consent)')
  @Property({ type: 'text', nullable: true })
  ip?: string | null;

  @NotPhi('client software of the request that recorded the consent, truncated')
  @Property({ type: 'text', nullable: true })
  userAgent?: string | null;

  @NotPhi('opaque id of who recorded it: the patient themself or staff on their behalf')
  @Property({ type: 'uuid' })
  recordedBy!: string;

  @NotPhi('role of who recorded it')
  @Property({ type: 'text' })
  recordedByRole!: string;
}
