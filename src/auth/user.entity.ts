import { Entity, Enum, OneToOne, PrimaryKey, Property, Unique } from '@mikro-orm/core';
import { Field, ID, ObjectType, registerEnumType } from 'type-graphql';

import { ROLES, type Role } from '../config/roles';
import { Patient } from '../patients/patient.entity';
import { NotPhi, PhiSubject, Sealed, type PhiEnvelope } from '../phi/phi.decorator';

/** GraphQL enum of the contract's roles. */
export const RoleEnum = Object.fromEntries(ROLES.map((r) => [r, r])) as { [K in Role]: K };
registerEnumType(RoleEnum, {
  name: 'Role',
  description: 'What a user may do; see README.md for what each role may see.',
});

/**
 * A staff or patient account. The email is sealed (encrypted under the user's own data key)
 * with a blind index for sign-in; the password is an argon2id hash; neither has a GraphQL field
 * of its own: resolvers decide who reads the email.
 */
@ObjectType('User')
@Entity({ tableName: 'users' })
@PhiSubject('id')
@Unique({ properties: ['emailBidx'] })
export class User {
  @Field(() => ID)
  @PrimaryKey({ type: 'uuid' })
  id!: string;

  @Sealed('account email: personal data and the sign-in identifier', { blindIndex: 'email' })
  email!: PhiEnvelope;

  /** Set by the sealing layer beside `email`. */
  emailBidx?: string;

  @NotPhi('argon2id hash; never leaves the server')
  @Property({ type: 'text', hidden: true })
  passwordHash!: string;

  @NotPhi('one of a fixed set of roles')
  @Field(() => RoleEnum)
  @Enum({ items: [...ROLES] })
  role!: Role;

  @NotPhi('staff display name chosen by an administrator; inputs are screened for PHI')
  @Field(() => String)
  @Property({ type: 'text' })
  displayName!: string;

  @NotPhi('opaque id of the patient record a PATIENT account is linked to')
  @Field(() => ID, { nullable: true })
  @OneToOne({
    entity: () => Patient,
    mapToPk: true,
    fieldName: 'patient_id',
    nullable: true,
    owner: true,
    deleteRule: 'set null',
  })
  patientId?: string | null;

  @NotPhi('fixed vocabulary of operation scopes granted to an INTEGRATOR account')
  @Field(() => [String], {
    description: 'Scopes of an INTEGRATOR account (e.g. patients:read); empty for other roles.',
  })
  @Property({ type: 'text[]', default: '{}' })
  scopes: string[] = [];

  @Field(() => Date, { nullable: true })
  @Property({ type: 'timestamptz', nullable: true })
  disabledAt?: Date | null;

  @Property({ type: 'integer', default: 0 })
  failedLoginCount: number = 0;

  @Property({ type: 'timestamptz', nullable: true })
  lockedUntil?: Date | null;

  @Property({ type: 'integer', default: 0 })
  failedMfaCount: number = 0;

  @Property({ type: 'timestamptz', nullable: true })
  mfaLockedUntil?: Date | null;

  @Sealed('TOTP shared secret of an enrolled second factor', { nullable: true })
  totpSecret?: PhiEnvelope | null;

  @Sealed('TOTP secret awaiting confirmation of enrolment', { nullable: true })
  totpPendingSecret?: PhiEnvelope | null;

  @Field(() => Date, { nullable: true, description: 'When TOTP was confirmed; null while MFA is not enrolled.' })
  @Property({ type: 'timestamptz', nullable: true })
  totpEnabledAt?: Date | null;

  @NotPhi('last accepted TOTP time step, for replay protection')
  @Property({ type: 'bigint', nullable: true })
  totpLastStep?: string | null;

  @NotPhi('SHA-256 of random single-use recovery codes')
  @Property({ type: 'text[]', default: '{}', hidden: true })
  recoveryCodeHashes: string[] = [];

  @Property({ type: 'timestamptz', nullable: true })
  lastLoginAt?: Date | null;

  @Property({ type: 'timestamptz' })
  passwordChangedAt!: Date;

  @Field(() => Date)
  @Property({ type: 'timestamptz' })
  createdAt!: Date;

  @Property({ type: 'timestamptz' })
  updatedAt!: Date;
}
