import { Field, ID, InputType, ObjectType } from 'type-graphql';

import { Consent, ConsentType } from './consent.entity';

/** A grant of one consent type for a patient, under a named version of the policy text. */
@InputType('ConsentInput')
export class ConsentInput {
  @Field(() => ID)
  patientId!: string;

  @Field(() => ConsentType)
  type!: ConsentType;

  @Field(() => String, { description: 'Version label of the policy text agreed to: 1 to 32 of A-Z a-z 0-9 . _ -' })
  policyVersion!: string;
}

/** Where one consent type stands now: its newest record. */
@ObjectType('ConsentCurrent', { description: 'The current state of one consent type: its newest record.' })
export class ConsentCurrent {
  @Field(() => ConsentType)
  type!: ConsentType;

  @Field(() => Boolean, { description: 'True while the newest record is a grant.' })
  given!: boolean;

  @Field(() => Date, { description: 'When the newest record was made.' })
  at!: Date;
}

/** A patient's consents: where each recorded type stands, and every record that led there. */
@ObjectType('ConsentState', { description: "A patient's consents: the current state and the full history." })
export class ConsentState {
  @Field(() => [ConsentCurrent], {
    description: 'One entry per consent type ever recorded; a type never recorded is not given.',
  })
  current!: ConsentCurrent[];

  @Field(() => [Consent], { description: 'Every grant and withdrawal, oldest first; records are never changed.' })
  history!: Consent[];
}

/**
 * Who records and reads consents: the patient for their own record, front desk and clinicians for
 * patients they reach, and privacy staff for any patient (they manage consent without reading PHI).
 */
export const CONSENT_MANAGERS = ['PATIENT', 'RECEPTIONIST', 'PHYSICIAN', 'NURSE', 'PRIVACY_OFFICER'] as const;
