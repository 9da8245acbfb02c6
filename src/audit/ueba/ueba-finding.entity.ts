import { Entity, PrimaryKey, Property, Unique } from '@mikro-orm/core';

import { NotPhi } from '../../phi/phi.decorator';

/**
 * One behaviour-analytics finding per user, rule and calendar day: the unique key makes a re-run of the scanner
 * (or two replicas scanning at once) raise each security event once. Ids, codes and a score only.
 */
@Entity({ tableName: 'ueba_findings' })
@Unique({ properties: ['userId', 'rule', 'day'] })
export class UebaFinding {
  @PrimaryKey({ type: 'uuid' })
  id!: string;

  @NotPhi('opaque id of the staff user the finding is about')
  @Property({ type: 'uuid' })
  userId!: string;

  @NotPhi('fixed vocabulary of UEBA rules, e.g. VOLUME')
  @Property({ type: 'text' })
  rule!: string;

  @NotPhi('calendar day (hospital time zone) the finding covers')
  @Property({ type: 'string', columnType: 'date' })
  day!: string;

  @NotPhi('score from 0 to 100')
  @Property({ type: 'integer' })
  score!: number;

  @NotPhi('opaque id of the patient a one-record finding is about')
  @Property({ type: 'uuid', nullable: true })
  patientId?: string | null;

  @NotPhi('opaque id of the ANOMALY security event raised for it')
  @Property({ type: 'uuid', nullable: true })
  securityEventId?: string | null;

  @Property({ type: 'timestamptz' })
  createdAt!: Date;
}
