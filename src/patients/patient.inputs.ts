import { Field, ID, InputType, Int, ObjectType } from 'type-graphql';

import { DateScalar } from '../graphql/scalars';
import { PhiInput } from '../phi/phi.decorator';
import { PhiCategory } from '../phi/phi.types';
import { AddressInput } from './address.type';
import { Sensitivity } from './encounter.entity';
import { Patient, Sex } from './patient.entity';

const { IDENTIFIER, CONTACT, DEMOGRAPHIC, CLINICAL, FINANCIAL } = PhiCategory;

/** A new patient's registration. The MRN is assigned by the server when not given. */
@InputType()
export class PatientInput {
  @PhiInput(IDENTIFIER, () => String, { nullable: true, description: 'Medical record number; assigned when omitted.' })
  mrn?: string | null;

  @PhiInput(DEMOGRAPHIC, () => String)
  firstName!: string;

  @PhiInput(DEMOGRAPHIC, () => String)
  lastName!: string;

  @PhiInput(DEMOGRAPHIC, () => DateScalar)
  dateOfBirth!: string;

  @PhiInput(DEMOGRAPHIC, () => Sex)
  sex!: Sex;

  @PhiInput(IDENTIFIER, () => String, { nullable: true })
  ssn?: string | null;

  @PhiInput(CONTACT, () => String, { nullable: true })
  email?: string | null;

  @PhiInput(CONTACT, () => String, { nullable: true, description: 'E.164, e.g. +14155550123.' })
  phone?: string | null;

  @PhiInput(CONTACT, () => AddressInput, { nullable: true })
  address?: AddressInput | null;

  @PhiInput(FINANCIAL, () => String, { nullable: true })
  insuranceMemberId?: string | null;
}

/** Changes to a patient record: only the given fields change; null clears an optional one. */
@InputType()
export class PatientUpdateInput {
  @PhiInput(IDENTIFIER, () => String, { nullable: true })
  mrn?: string | null;

  @PhiInput(DEMOGRAPHIC, () => String, { nullable: true })
  firstName?: string | null;

  @PhiInput(DEMOGRAPHIC, () => String, { nullable: true })
  lastName?: string | null;

  @PhiInput(DEMOGRAPHIC, () => DateScalar, { nullable: true })
  dateOfBirth?: string | null;

  @PhiInput(DEMOGRAPHIC, () => Sex, { nullable: true })
  sex?: Sex | null;

  @PhiInput(IDENTIFIER, () => String, { nullable: true })
  ssn?: string | null;

  @PhiInput(CONTACT, () => String, { nullable: true })
  email?: string | null;

  @PhiInput(CONTACT, () => String, { nullable: true })
  phone?: string | null;

  @PhiInput(CONTACT, () => AddressInput, { nullable: true })
  address?: AddressInput | null;

  @PhiInput(FINANCIAL, () => String, { nullable: true })
  insuranceMemberId?: string | null;
}

/** A new encounter. Reason, notes and diagnoses are clinical PHI. */
@InputType()
export class EncounterInput {
  @Field(() => ID)
  patientId!: string;

  @PhiInput(CLINICAL, () => String)
  reason!: string;

  @PhiInput(CLINICAL, () => String, { nullable: true })
  notes?: string | null;

  @PhiInput(CLINICAL, () => [String], { description: 'ICD-10 codes, e.g. E11.65.' })
  diagnosisCodes!: string[];

  @PhiInput(CLINICAL, () => Sensitivity, {
    nullable: true,
    description: 'Sensitivity label, when the encounter needs stricter access.',
  })
  sensitivity?: Sensitivity | null;

  @Field(() => Date, { nullable: true, description: 'When the encounter started; now when omitted.' })
  startedAt?: Date | null;
}

/** Cursor position of a page. */
@ObjectType()
export class PageInfo {
  @Field(() => String, { nullable: true })
  endCursor!: string | null;

  @Field(() => Boolean)
  hasNextPage!: boolean;
}

/** A page of patients, oldest registration first. */
@ObjectType()
export class PatientPage {
  @Field(() => [Patient])
  nodes!: Patient[];

  @Field(() => PageInfo)
  pageInfo!: PageInfo;

  @Field(() => Int, { description: 'Number of nodes in this page.' })
  count!: number;
}
