import { Entity, Index, ManyToOne, PrimaryKey, Property } from '@mikro-orm/core';
import { Field, ID, ObjectType } from 'type-graphql';

import { NotPhi } from '../phi/phi.decorator';
import { User } from './user.entity';

/**
 * A signed-in session. Access tokens name it, and every request checks it is live, so revoking
 * it (logout, admin, disabled user, refresh-token reuse) takes effect at once.
 */
@ObjectType('Session')
@Entity({ tableName: 'sessions' })
@Index({ properties: ['userId', 'revokedAt'] })
export class Session {
  @Field(() => ID)
  @PrimaryKey({ type: 'uuid' })
  id!: string;

  @NotPhi('opaque id of the account')
  @Field(() => ID)
  @ManyToOne({ entity: () => User, mapToPk: true, fieldName: 'user_id', deleteRule: 'cascade' })
  userId!: string;

  @Field(() => Date)
  @Property({ type: 'timestamptz' })
  createdAt!: Date;

  @Field(() => Date)
  @Property({ type: 'timestamptz' })
  lastSeenAt!: Date;

  @Field(() => Date, { description: 'Absolute end of the session, whatever its activity.' })
  @Property({ type: 'timestamptz' })
  expiresAt!: Date;

  @Field(() => Date, { nullable: true })
  @Property({ type: 'timestamptz', nullable: true })
  revokedAt?: Date | null;

  @NotPhi('fixed vocabulary: LOGOUT, ADMIN, DISABLED, REFRESH_REUSE, PASSWORD_CHANGED')
  @Field(() => String, { nullable: true })
  @Property({ type: 'text', nullable: true })
  revokedReason?: string | null;

  @Field(() => Date, { nullable: true, description: 'Time of the last second-factor check in this session.' })
  @Property({ type: 'timestamptz', nullable: true })
  mfaAt?: Date | null;

  @NotPhi('client address of the sign-in, for session review by the user and administrators')
  @Field(() => String, { nullable: true })
  @Property({ type: 'text', nullable: true })
  ip?: string | null;

  @NotPhi('client software of the sign-in, truncated to 256 characters')
  @Field(() => String, { nullable: true })
  @Property({ type: 'text', nullable: true })
  userAgent?: string | null;
}
