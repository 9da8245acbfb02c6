import { Entity, Index, ManyToOne, PrimaryKey, Property, Unique } from '@mikro-orm/core';

import { User } from '../auth/user.entity';
import { Patient } from '../patients/patient.entity';
import { NotPhi } from '../phi/phi.decorator';

/** A staff member on a patient's care team: the relation that grants clinicians full access. */
@Entity({ tableName: 'care_team_members' })
@Unique({ properties: ['patientId', 'userId'] })
// Lists and searches of clinicians are scoped by user_id (access.service listScope): without it, a table scan.
@Index({ properties: ['userId', 'patientId'] })
export class CareTeamMember {
  @PrimaryKey({ type: 'uuid' })
  id!: string;

  @NotPhi('opaque patient id')
  @ManyToOne({ entity: () => Patient, mapToPk: true, fieldName: 'patient_id', deleteRule: 'cascade' })
  patientId!: string;

  @NotPhi('opaque staff user id')
  @ManyToOne({ entity: () => User, mapToPk: true, fieldName: 'user_id', deleteRule: 'cascade' })
  userId!: string;

  @NotPhi('opaque id of the administrator who assigned the member')
  @Property({ type: 'uuid' })
  addedBy!: string;

  @Property({ type: 'timestamptz' })
  createdAt!: Date;
}
