import { Entity, Index, ManyToOne, PrimaryKey, Property } from '@mikro-orm/core';

import { NotPhi } from '../phi/phi.decorator';
import { Session } from './session.entity';

/**
 * One issued refresh token, kept only as a SHA-256 hash. Each use marks it used and issues the
 * next; presenting a used one again means it was stolen, and the whole session is revoked.
 */
@Entity({ tableName: 'refresh_tokens' })
@Index({ properties: ['sessionId'] })
export class RefreshToken {
  @NotPhi('SHA-256 of a 256-bit random token')
  @PrimaryKey({ type: 'text' })
  tokenHash!: string;

  @NotPhi('opaque session id')
  @ManyToOne({ entity: () => Session, mapToPk: true, fieldName: 'session_id', deleteRule: 'cascade' })
  sessionId!: string;

  @Property({ type: 'integer' })
  generation!: number;

  @Property({ type: 'timestamptz' })
  createdAt!: Date;

  @Property({ type: 'timestamptz', nullable: true })
  usedAt?: Date | null;
}
