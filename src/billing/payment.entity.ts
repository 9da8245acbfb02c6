import { Check, Entity, Enum, Index, ManyToOne, PrimaryKey, Property } from '@mikro-orm/core';
import { Field, ID, Int, ObjectType, registerEnumType } from 'type-graphql';

import { NotPhi } from '../phi/phi.decorator';
import { Invoice } from './invoice.entity';

/** What became of a payment attempt. */
export enum PaymentStatus {
  SUCCEEDED = 'SUCCEEDED',
  DECLINED = 'DECLINED',
  FAILED = 'FAILED',
  REFUNDED = 'REFUNDED',
}
registerEnumType(PaymentStatus, { name: 'PaymentStatus', description: 'Outcome of a payment attempt.' });

// No column may hold a card number: the processor's strings may not carry 13 digits in a row.
const NO_PAN = (column: string) => `${column} !~ '[0-9]{13}'`;

/**
 * One payment attempt against an invoice. Holds only what PCI DSS lets a merchant keep: the
 * processor's token and reference, brand, last four digits and expiry; never the number or code.
 */
@ObjectType({ description: 'A payment attempt against an invoice: card brand, last four digits and expiry only.' })
@Entity({ tableName: 'payments' })
@Index({ properties: ['invoiceId', 'createdAt'] })
@Check({ name: 'payments_amount_check', expression: 'amount_minor > 0' })
@Check({ name: 'payments_card_last4_check', expression: `card_last4 ~ '^[0-9]{4}$'` })
@Check({ name: 'payments_card_exp_month_check', expression: 'card_exp_month >= 1 AND card_exp_month <= 12' })
@Check({ name: 'payments_processor_token_check', expression: NO_PAN('processor_token') })
@Check({ name: 'payments_processor_reference_check', expression: NO_PAN('processor_reference') })
export class Payment {
  @Field(() => ID)
  @PrimaryKey({ type: 'uuid' })
  id!: string;

  @Field(() => ID)
  @ManyToOne({ entity: () => Invoice, mapToPk: true, fieldName: 'invoice_id', deleteRule: 'cascade' })
  invoiceId!: string;

  @NotPhi('opaque patient id, copied from the invoice for the audit trail')
  @Property({ type: 'uuid' })
  patientId!: string;

  @Field(() => Int, { description: 'Amount in minor units of the invoice currency.' })
  @Property({ type: 'integer' })
  amountMinor!: number;

  @NotPhi('ISO 4217 currency code')
  @Field(() => String)
  @Property({ type: 'text' })
  currency!: string;

  @NotPhi('fixed vocabulary of payment states')
  @Field(() => PaymentStatus)
  @Enum({ items: () => PaymentStatus })
  status!: PaymentStatus;

  @NotPhi('name of the processor: sandbox or stripe')
  @Property({ type: 'text' })
  processor!: string;

  @NotPhi("the processor's single-use card token (not card data)")
  @Property({ type: 'text' })
  processorToken!: string;

  @NotPhi("the processor's charge id")
  @Property({ type: 'text', nullable: true })
  processorReference?: string | null;

  @NotPhi('card brand, as PCI DSS allows to keep')
  @Field(() => String, { nullable: true })
  @Property({ type: 'text', nullable: true })
  cardBrand?: string | null;

  @NotPhi('last four digits of the card number, as PCI DSS allows to keep')
  @Field(() => String, { nullable: true })
  @Property({ type: 'text', nullable: true })
  cardLast4?: string | null;

  @Field(() => Int, { nullable: true })
  @Property({ type: 'smallint', nullable: true })
  cardExpMonth?: number | null;

  @Field(() => Int, { nullable: true })
  @Property({ type: 'smallint', nullable: true })
  cardExpYear?: number | null;

  @NotPhi("the processor's decline code, from a fixed vocabulary")
  @Field(() => String, { nullable: true, description: 'Why the card was declined or the payment failed.' })
  @Property({ type: 'text', nullable: true })
  declineCode?: string | null;

  @NotPhi('opaque id of the user who paid')
  @Property({ type: 'uuid' })
  createdBy!: string;

  @Field(() => Date)
  @Property({ type: 'timestamptz' })
  createdAt!: Date;

  @Field(() => Date, { nullable: true })
  @Property({ type: 'timestamptz', nullable: true })
  refundedAt?: Date | null;

  @NotPhi('opaque id of the staff member who refunded')
  @Property({ type: 'uuid', nullable: true })
  refundedBy?: string | null;

  @NotPhi("the processor's refund id")
  @Property({ type: 'text', nullable: true })
  refundReference?: string | null;
}

/** One status transition of a payment, append-only (the database refuses UPDATE). */
@Entity({ tableName: 'payment_events' })
@Index({ properties: ['paymentId', 'at'] })
export class PaymentEvent {
  @PrimaryKey({ type: 'uuid' })
  id!: string;

  @ManyToOne({ entity: () => Payment, mapToPk: true, fieldName: 'payment_id', deleteRule: 'cascade' })
  paymentId!: string;

  @NotPhi('fixed vocabulary of payment states; null for the attempt itself')
  @Property({ type: 'text', nullable: true })
  fromStatus?: string | null;

  @NotPhi('fixed vocabulary of payment states')
  @Property({ type: 'text' })
  toStatus!: string;

  @NotPhi('opaque id of the user who caused the transition')
  @Property({ type: 'uuid' })
  actorId!: string;

  @Property({ type: 'timestamptz' })
  at!: Date;
}
