import { Field, ID, InputType, Int, ObjectType } from 'type-graphql';

import { NOT_PHI_INPUT, NotPhiInput } from '../phi/phi.decorator';
import { CardNumberScalar, CardSecurityCodeScalar } from './card.scalars';

/** One line of a new invoice. */
@InputType('InvoiceLineInput')
export class InvoiceLineInput {
  @Field(() => String, { description: 'The billed service, 1 to 200 characters; a card number is refused.' })
  description!: string;

  @Field(() => Int, { description: 'Amount in minor units (cents), 1 to 100000000.' })
  amountMinor!: number;
}

/** A new invoice to a patient: one currency, 1 to 100 lines. */
@InputType('InvoiceInput')
export class InvoiceInput {
  @Field(() => ID)
  patientId!: string;

  @Field(() => String, { description: 'ISO 4217 currency code, e.g. EUR.' })
  currency!: string;

  @Field(() => [InvoiceLineInput])
  lines!: InvoiceLineInput[];
}

/** Card data for tokenization: sent straight to the payment processor, never stored, logged or returned. */
@InputType('CardInput')
export class CardInput {
  @NotPhiInput(NOT_PHI_INPUT.cardData)
  @Field(() => CardNumberScalar)
  number!: string;

  @Field(() => Int, { description: '1 to 12.' })
  expMonth!: number;

  @Field(() => Int, { description: 'Four digits (two are read as 20YY).' })
  expYear!: number;

  @NotPhiInput(NOT_PHI_INPUT.cardData)
  @Field(() => CardSecurityCodeScalar)
  cvc!: string;
}

/** The processor's token for a card, and what may be shown of the card. */
@ObjectType('CardToken', {
  description: "The payment processor's single-use token for a card, and its displayable facts.",
})
export class CardTokenResult {
  @Field(() => String, { description: 'Pass to payInvoice as paymentToken; single use.' })
  token!: string;

  @Field(() => String)
  brand!: string;

  @Field(() => String)
  last4!: string;

  @Field(() => Int)
  expMonth!: number;

  @Field(() => Int)
  expYear!: number;
}
