import { Entity, Index, PrimaryKey, Property, Unique } from '@mikro-orm/core';

import { NotPhi } from '../phi/phi.decorator';

/**
 * A data subject's data key, stored only wrapped by a versioned master key. Destroying it
 * (crypto-shredding) sets `wrapped` to null: every value sealed under it becomes unreadable,
 * in this database and in every backup of it.
 */
@Entity({ tableName: 'data_keys' })
@Unique({ properties: ['subjectId', 'version'] })
@Index({ properties: ['masterVersion'] })
export class DataKey {
  @PrimaryKey({ type: 'uuid' })
  id!: string;

  @NotPhi('opaque id of a patient or user; the key itself is what protects their data')
  @Property({ type: 'uuid' })
  subjectId!: string;

  @Property({ type: 'integer' })
  version!: number;

  @Property({ type: 'integer' })
  masterVersion!: number;

  @NotPhi('key material wrapped by a master key, never exposed')
  @Property({ type: 'blob', nullable: true })
  wrapped?: Buffer | null;

  @Property({ type: 'timestamptz' })
  createdAt!: Date;

  @Property({ type: 'timestamptz', nullable: true })
  destroyedAt?: Date | null;
}
