import type { MikroORM } from '@mikro-orm/postgresql';

import type { DataKeyService } from './data-key.service';
import { FieldReencryptionService, type ReencryptOptions, type ReencryptSummary } from './field-reencryption.service';
import type { RotationOptions } from './key-rotation.options';
import { KeyRewrapService, type RewrapSummary } from './key-rewrap.service';
import { KeyStatusService, type KeyStatus } from './key-status.service';

/**
 * Master key rotation and data key re-keying over the live database, in short batches that lock with
 * SKIP LOCKED: the server keeps serving, concurrent runs share the work, and progress is the data itself
 * (a crashed run is simply run again).
 */
export class KeyRotationService {
  readonly #rewrap: KeyRewrapService;
  readonly #reencryption: FieldReencryptionService;
  readonly #status: KeyStatusService;

  constructor(orm: MikroORM, dataKeys: DataKeyService) {
    this.#rewrap = new KeyRewrapService(orm, dataKeys);
    this.#reencryption = new FieldReencryptionService(orm, dataKeys);
    this.#status = new KeyStatusService(orm, dataKeys);
  }

  /** See {@link KeyRewrapService.rewrapAll}. */
  rewrapAll(options: RotationOptions = {}): Promise<RewrapSummary> {
    return this.#rewrap.rewrapAll(options);
  }

  /** See {@link FieldReencryptionService.reencryptFields}. */
  reencryptFields(options: ReencryptOptions = {}): Promise<ReencryptSummary> {
    return this.#reencryption.reencryptFields(options);
  }

  /** See {@link KeyStatusService.status}. */
  status(): Promise<KeyStatus> {
    return this.#status.status();
  }
}
