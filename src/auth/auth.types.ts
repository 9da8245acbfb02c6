import { Field, ID, InputType, ObjectType } from 'type-graphql';

import type { Role } from '../config/roles';
import { NOT_PHI_INPUT, NotPhiInput } from '../phi/phi.decorator';
import { RoleEnum, User } from './user.entity';

/**
 * The answer of every sign-in step. With `mfaRequired` the token fields are null and
 * `mfaChallengeToken` continues the sign-in (`verifyMfa`, or `enrollTotp`/`confirmTotp` when
 * `mfaEnrollmentRequired`).
 */
@ObjectType('AuthPayload')
export class AuthPayload {
  @Field(() => String, { nullable: true, description: 'Bearer token for the Authorization header.' })
  accessToken: string | null = null;

  @Field(() => String, { nullable: true, description: 'Single-use token for refreshSession; null when unchanged.' })
  refreshToken: string | null = null;

  @Field(() => Date, { nullable: true, description: 'When the access token expires.' })
  expiresAt: Date | null = null;

  @Field(() => User, { nullable: true, description: 'The signed-in user; null while a second factor is due.' })
  user: User | null = null;

  @Field(() => Boolean, { description: 'A second factor is due: continue with mfaChallengeToken.' })
  mfaRequired = false;

  @Field(() => Boolean, {
    description: 'The role requires a second factor and none is enrolled: enrol with the challenge token.',
  })
  mfaEnrollmentRequired = false;

  @Field(() => String, { nullable: true, description: 'Short-lived token for the second step of this sign-in.' })
  mfaChallengeToken: string | null = null;
}

/** A started TOTP enrolment: the secret to enter in an authenticator (shown once), also as a URI for a QR code. */
@ObjectType('TotpEnrollment')
export class TotpEnrollment {
  @Field(() => String)
  secret!: string;

  @Field(() => String, { description: 'otpauth:// provisioning URI for a QR code.' })
  otpauthUri!: string;
}

/** A confirmed TOTP enrolment: recovery codes (shown only this once) and, when it completed a sign-in, the tokens. */
@ObjectType('TotpConfirmation')
export class TotpConfirmation {
  @Field(() => [String], { description: 'Single-use recovery codes; store them offline. They are never shown again.' })
  recoveryCodes!: string[];

  @Field(() => AuthPayload, {
    nullable: true,
    description: 'Tokens, when the enrolment was the second step of a sign-in.',
  })
  auth: AuthPayload | null = null;
}

/** A new account (ADMIN only). PATIENT accounts name their patient record; other roles must not. */
@InputType('CreateUserInput')
export class CreateUserInput {
  @NotPhiInput(NOT_PHI_INPUT.accountEmail)
  @Field(() => String)
  email!: string;

  @NotPhiInput(NOT_PHI_INPUT.credential)
  @Field(() => String)
  password!: string;

  @Field(() => RoleEnum)
  role!: Role;

  @Field(() => String)
  displayName!: string;

  @Field(() => ID, { nullable: true })
  patientId?: string | null;

  @Field(() => [String], { nullable: true, description: 'INTEGRATOR accounts only: patients:read, schema:read.' })
  scopes?: string[] | null;
}
