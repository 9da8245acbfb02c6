import { Entity, Index, ManyToOne, PrimaryKey, Property } from '@mikro-orm/core';
import { Field, ID, ObjectType } from 'type-graphql';

import { User } from '../auth/user.entity';
import { Patient } from '../patients/patient.entity';
import { NotPhi, PhiSubject, Sealed, type PhiEnvelope } from '../phi/phi.decorator';

/**
 * Emergency access by a clinician outside the care team to one patient, for a limited time.
 * The reason is free text that may describe the patient's condition, so it is sealed under the
 * patient's data key.
 */
@ObjectType({ description: 'An emergency ("break-glass") access grant to one patient.' })
@Entity({ tableName: 'break_glass_grants' })
@PhiSubject('patientId')
@Index({ properties: ['userId', 'patientId', 'expiresAt'] })
export class BreakGlassGrant {
  @Field(() => ID)
  @PrimaryKey({ type: 'uuid' })
  id!: string;

  @NotPhi('opaque patient id')
  @Field(() => ID)
  @ManyToOne({ entity: () => Patient, mapToPk: true, fieldName: 'patient_id', deleteRule: 'cascade' })
  patientId!: string;

  @NotPhi('opaque id of the clinician who broke the glass')
  @Field(() => ID)
  @ManyToOne({ entity: () => User, mapToPk: true, fieldName: 'user_id', deleteRule: 'cascade' })
  userId!: string;

  @Sealed('justification for emergency access; may describe the patient')
  reason!: PhiEnvelope;

  @Field(() => Date)
  @Property({ type: 'timestamptz' })
  createdAt!: Date;

  @Field(() => Date)
  @Property({ type: 'timestamptz' })
  expiresAt!: Date;

  @Field(() => Date, { nullable: true })
  @Property({ type: 'timestamptz', nullable: true })
  revokedAt?: Date | null;

  @NotPhi('opaque id of who revoked the grant')
  @Field(() => ID, { nullable: true })
  @Property({ type: 'uuid', nullable: true })
  revokedBy?: string | null;
}
