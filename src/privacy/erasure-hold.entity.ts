import { Entity, Index, ManyToOne, PrimaryKey, Property, Unique } from '@mikro-orm/core';

import { Patient } from '../patients/patient.entity';
import { NotPhi } from '../phi/phi.decorator';

/**
 * A category of an erased patient's data that a legal duty keeps until `until` (GDPR Art. 17(3)). The
 * retention sweep deletes the category's rows when it expires, and finishes the erasure when none is left.
 */
@Entity({ tableName: 'erasure_holds' })
@Unique({ properties: ['patientId', 'category'] })
@Index({ properties: ['until'] })
export class ErasureHold {
  @PrimaryKey({ type: 'uuid' })
  id!: string;

  @NotPhi('opaque patient id')
  @ManyToOne({ entity: () => Patient, mapToPk: true, fieldName: 'patient_id', deleteRule: 'cascade' })
  patientId!: string;

  @NotPhi('opaque id of the erasure request that created the hold')
  @Property({ type: 'uuid' })
  requestId!: string;

  @NotPhi('retention category name (DataCategory)')
  @Property({ type: 'text' })
  category!: string;

  @NotPhi('end of the legal retention period; not a date of the patient')
  @Property({ type: 'timestamptz' })
  until!: Date;

  @Property({ type: 'timestamptz' })
  createdAt!: Date;
}
