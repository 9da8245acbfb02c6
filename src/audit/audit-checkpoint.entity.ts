import { Entity, Index, PrimaryKey, Property } from '@mikro-orm/core';

import { NotPhi } from '../phi/phi.decorator';

/**
 * A signed statement of the audit chain's head at one moment: its last sequence number and hash, and the row
 * count. Copies go to the SIEM, so that a table truncated at its tail (or replaced) no longer matches them.
 */
@Entity({ tableName: 'audit_checkpoints' })
@Index({ properties: ['seq'] })
export class AuditCheckpoint {
  @PrimaryKey({ type: 'uuid' })
  id!: string;

  @Property({ type: 'timestamptz' })
  at!: Date;

  @NotPhi('sequence number of the chain head')
  @Property({ type: 'bigint' })
  seq!: string;

  @NotPhi('hash of the chain head')
  @Property({ type: 'text' })
  hash!: string;

  @NotPhi('number of audit rows at the checkpoint')
  @Property({ type: 'bigint' })
  rowCount!: string;

  @NotPhi('Ed25519 signature of the checkpoint statement')
  @Property({ type: 'text' })
  signature!: string;
}
