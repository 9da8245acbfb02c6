import { Entity, Index, PrimaryKey, Property } from '@mikro-orm/core';

import { NotPhi } from '../phi/phi.decorator';

/** A security-relevant event for review (break-glass use, refused access, ...). No PHI values in details. */
@Entity({ tableName: 'security_events' })
@Index({ properties: ['eventType', 'at'] })
export class SecurityEvent {
  @PrimaryKey({ type: 'uuid' })
  id!: string;

  @Property({ type: 'timestamptz' })
  at!: Date;

  @NotPhi('fixed vocabulary, e.g. BREAK_GLASS')
  @Property({ type: 'text' })
  eventType!: string;

  @NotPhi('LOW, MEDIUM, HIGH or CRITICAL')
  @Property({ type: 'text' })
  severity!: string;

  @NotPhi('opaque user id')
  @Property({ type: 'uuid', nullable: true })
  actorId?: string | null;

  @NotPhi('opaque patient id')
  @Property({ type: 'uuid', nullable: true })
  patientId?: string | null;

  @NotPhi('structured ids and codes only; never PHI values')
  @Property({ type: 'jsonb', default: '{}' })
  details: Record<string, unknown> = {};
}
