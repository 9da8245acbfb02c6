import { Entity, Index, ManyToOne, PrimaryKey, Property } from '@mikro-orm/core';
import { Field, ID, ObjectType, registerEnumType } from 'type-graphql';

import { User } from '../auth/user.entity';
import { NotPhi, Phi, PhiSubject, type PhiEnvelope } from '../phi/phi.decorator';
import { PhiCategory } from '../phi/phi.types';
import { Patient } from './patient.entity';

/**
 * Categories that healthcare law protects more strictly (e.g. 42 CFR Part 2 for substance use):
 * reachable by the care team only with the patient's SENSITIVE_DATA consent, or by break-glass.
 */
export enum Sensitivity {
  MENTAL_HEALTH = 'MENTAL_HEALTH',
  SUBSTANCE_USE = 'SUBSTANCE_USE',
  HIV = 'HIV',
  GENETIC = 'GENETIC',
  REPRODUCTIVE = 'REPRODUCTIVE',
}
registerEnumType(Sensitivity, { name: 'Sensitivity', description: 'Sensitivity label of an encounter.' });

/** A clinical encounter; its clinical content is PHI sealed under the patient's data key. */
@ObjectType({ description: 'A clinical encounter of a patient.' })
@Entity({ tableName: 'encounters' })
@PhiSubject('patientId')
@Index({ properties: ['patientId', 'startedAt'] })
export class Encounter {
  @Field(() => ID)
  @PrimaryKey({ type: 'uuid' })
  id!: string;

  @NotPhi('opaque id; the patient is resolved through access rules')
  @ManyToOne({ entity: () => Patient, mapToPk: true, fieldName: 'patient_id', deleteRule: 'cascade' })
  patientId!: string;

  @NotPhi('opaque id of the staff member who recorded the encounter')
  @Field(() => ID, { nullable: true })
  @ManyToOne({ entity: () => User, mapToPk: true, fieldName: 'clinician_id', nullable: true, deleteRule: 'set null' })
  clinicianId?: string | null;

  @NotPhi('time of the encounter; kept for retention and audit, meaningless without the sealed content')
  @Field(() => Date)
  @Property({ type: 'timestamptz' })
  startedAt!: Date;

  @Phi({ category: PhiCategory.CLINICAL })
  reason!: PhiEnvelope;

  @Phi({ category: PhiCategory.CLINICAL, nullable: true })
  notes?: PhiEnvelope | null;

  @Phi({ category: PhiCategory.CLINICAL, type: () => [String], kind: 'json', description: 'ICD-10 codes.' })
  diagnosisCodes!: PhiEnvelope;

  // The label itself reveals a diagnosis class, so it is sealed like the clinical content.
  @Phi({
    category: PhiCategory.CLINICAL,
    nullable: true,
    type: () => Sensitivity,
    description: 'Sensitivity label, when any.',
  })
  sensitivity?: PhiEnvelope | null;

  @Field(() => Date)
  @Property({ type: 'timestamptz' })
  createdAt!: Date;
}
