import { Entity, PrimaryKey, Property, Unique } from '@mikro-orm/core';
import { Field, ID, ObjectType, registerEnumType } from 'type-graphql';

import { DateScalar } from '../graphql/scalars';
import { CompoundBlindIndex, NotPhi, Phi, PhiSubject, type PhiEnvelope } from '../phi/phi.decorator';
import { PhiCategory } from '../phi/phi.types';
import { Address } from './address.type';

/** Administrative sex as recorded at registration (FHIR's AdministrativeGender codes). */
export enum Sex {
  FEMALE = 'FEMALE',
  MALE = 'MALE',
  OTHER = 'OTHER',
  UNKNOWN = 'UNKNOWN',
}
registerEnumType(Sex, { name: 'Sex', description: 'Administrative sex (FHIR AdministrativeGender).' });

/**
 * A patient record. Every property but the id and timestamps is PHI, stored only as ciphertext
 * under the patient's own data key; searchable ones also keep a keyed blind index.
 */
@ObjectType({ description: 'A patient. PHI fields are redacted according to the caller’s role.' })
@Entity({ tableName: 'patients' })
// One MRN, one patient: a duplicate would let a search by MRN return the wrong person.
@Unique({ properties: ['mrnBidx'] })
@PhiSubject('id')
@CompoundBlindIndex('nameDob', [
  { property: 'lastName', normalizer: 'name' },
  { property: 'dateOfBirth', normalizer: 'date' },
])
export class Patient {
  @Field(() => ID)
  @PrimaryKey({ type: 'uuid' })
  id!: string;

  @Phi({ category: PhiCategory.IDENTIFIER, blindIndex: 'mrn', partial: 'last4', description: 'Medical record number.' })
  mrn!: PhiEnvelope;

  /** Set by the sealing layer beside `mrn`. */
  mrnBidx?: string;

  @Phi({ category: PhiCategory.DEMOGRAPHIC, partial: 'initial' })
  firstName!: PhiEnvelope;

  @Phi({ category: PhiCategory.DEMOGRAPHIC, partial: 'initial' })
  lastName!: PhiEnvelope;

  @Phi({ category: PhiCategory.DEMOGRAPHIC, type: () => DateScalar, kind: 'date', partial: 'year' })
  dateOfBirth!: PhiEnvelope;

  @Phi({ category: PhiCategory.DEMOGRAPHIC, type: () => Sex })
  sex!: PhiEnvelope;

  @Phi({
    category: PhiCategory.IDENTIFIER,
    nullable: true,
    blindIndex: 'ssn',
    partial: 'last4',
    description: 'US Social Security number.',
  })
  ssn?: PhiEnvelope | null;

  @Phi({ category: PhiCategory.CONTACT, nullable: true, blindIndex: 'email' })
  email?: PhiEnvelope | null;

  @Phi({ category: PhiCategory.CONTACT, nullable: true, blindIndex: 'phone', description: 'Phone in E.164 form.' })
  phone?: PhiEnvelope | null;

  @Phi({ category: PhiCategory.CONTACT, nullable: true, type: () => Address, kind: 'json', partial: 'city-country' })
  address?: PhiEnvelope | null;

  @Phi({ category: PhiCategory.FINANCIAL, nullable: true, partial: 'last4' })
  insuranceMemberId?: PhiEnvelope | null;

  @NotPhi('access-monitoring flag set by ADMIN or PRIVACY_OFFICER (setPatientVip); deliberately not a GraphQL field')
  @Property({ type: 'boolean', default: false })
  vip: boolean = false;

  @NotPhi('when processing was restricted (GDPR Art. 18); set by PRIVACY_OFFICER, read by the access service')
  @Property({ type: 'timestamptz', nullable: true })
  restrictedAt?: Date | null;

  @Field(() => Date)
  @Property({ type: 'timestamptz' })
  createdAt!: Date;

  @Field(() => Date)
  @Property({ type: 'timestamptz' })
  updatedAt!: Date;
}
