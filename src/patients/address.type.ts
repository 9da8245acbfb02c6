import { Field, InputType, ObjectType } from 'type-graphql';

/** A postal address; stored encrypted as one value inside the patient's `address` column. */
@ObjectType()
export class Address {
  @Field(() => String, { nullable: true })
  line1?: string | null;

  @Field(() => String, { nullable: true })
  city?: string | null;

  @Field(() => String, { nullable: true })
  postalCode?: string | null;

  @Field(() => String, { nullable: true, description: 'ISO 3166-1 alpha-2 country code.' })
  country?: string | null;
}

/** Address input; every part is PHI and is sealed with the patient record. */
@InputType()
export class AddressInput {
  @Field(() => String)
  line1!: string;

  @Field(() => String)
  city!: string;

  @Field(() => String)
  postalCode!: string;

  @Field(() => String, { description: 'ISO 3166-1 alpha-2 country code.' })
  country!: string;
}
