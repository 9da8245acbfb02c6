import { Check, Entity, Index, ManyToOne, PrimaryKey, Property, Unique } from '@mikro-orm/core';

import { User } from '../auth/user.entity';
import { NotPhi } from '../phi/phi.decorator';

/**
 * A client's idempotency key for one operation, per user: the fingerprint of the first request's
 * parameters and its stored result, kept at least 24 hours (`expiresAt`). The unique constraint and a
 * row lock make concurrent retries wait for the first and replay its result.
 */
@Entity({ tableName: 'idempotency_keys' })
@Unique({ properties: ['userId', 'operation', 'key'] })
@Index({ properties: ['expiresAt'] })
@Check({ name: 'idempotency_keys_key_check', expression: `key !~ '[0-9]{13}'` })
@Check({ name: 'idempotency_keys_kept_check', expression: `expires_at >= (created_at + '24:00:00'::interval)` })
export class IdempotencyKey {
  @PrimaryKey({ type: 'uuid' })
  id!: string;

  @NotPhi('opaque user id: keys are scoped per user')
  @ManyToOne({ entity: () => User, mapToPk: true, fieldName: 'user_id', deleteRule: 'cascade' })
  userId!: string;

  @NotPhi('operation name, e.g. payInvoice')
  @Property({ type: 'text' })
  operation!: string;

  @NotPhi("the client's idempotency key: letters, digits and . _ : -")
  @Property({ type: 'text' })
  key!: string;

  @NotPhi('sha256 of the first request parameters')
  @Property({ type: 'text' })
  fingerprint!: string;

  @NotPhi('the first result: payment id, status, amount or error code')
  @Property({ type: 'jsonb', nullable: true })
  result?: Record<string, unknown> | null;

  @Property({ type: 'timestamptz' })
  createdAt!: Date;

  @Property({ type: 'timestamptz' })
  expiresAt!: Date;
}
