import { Entity, Index, PrimaryKey, Property, Unique } from '@mikro-orm/core';

import { NotPhi } from '../../phi/phi.decorator';

/**
 * One event waiting for (or already handed to) the SIEM. Written in the transaction of the event it carries, so an
 * event is exported if and only if it was committed. `id` orders a stream; `eventId` is the stable id the SIEM
 * de-duplicates on. Delivered rows stay for the retention window, then the exporter prunes them.
 */
@Entity({ tableName: 'siem_outbox' })
@Index({ properties: ['stream', 'deliveredAt', 'id'] })
@Index({ properties: ['stream', 'syslogDeliveredAt', 'id'] })
@Index({ properties: ['createdAt'] })
export class SiemOutboxRow {
  @PrimaryKey({ type: 'bigint', autoincrement: true })
  id!: string;

  @NotPhi('producing stream: security or checkpoint')
  @Property({ type: 'text' })
  stream!: string;

  @NotPhi('opaque id of the carried event (security event or checkpoint id)')
  @Unique()
  @Property({ type: 'uuid' })
  eventId!: string;

  @NotPhi('fixed vocabulary, e.g. BREAK_GLASS')
  @Property({ type: 'text' })
  eventType!: string;

  @NotPhi('INFO, LOW, MEDIUM, HIGH or CRITICAL')
  @Property({ type: 'text' })
  severity!: string;

  @Property({ type: 'timestamptz' })
  at!: Date;

  @NotPhi('opaque user id')
  @Property({ type: 'uuid', nullable: true })
  actorId?: string | null;

  @NotPhi('opaque patient id')
  @Property({ type: 'uuid', nullable: true })
  patientId?: string | null;

  @NotPhi('ids and codes only, checked by sanitizeSiemDetails before the row is written')
  @Property({ type: 'jsonb', default: '{}' })
  details: Record<string, unknown> = {};

  @Property({ type: 'timestamptz' })
  createdAt!: Date;

  @Property({ type: 'timestamptz', nullable: true })
  deliveredAt?: Date | null;

  @Property({ type: 'timestamptz', nullable: true })
  syslogDeliveredAt?: Date | null;

  @Property({ type: 'integer', default: 0 })
  attempts: number = 0;

  @NotPhi('last delivery failure: an HTTP status or a network error code, never a payload')
  @Property({ type: 'text', nullable: true })
  lastError?: string | null;
}
