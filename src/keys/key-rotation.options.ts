/** Data keys (or subjects) handled per transaction. */
export const DEFAULT_BATCH_SIZE = 500;

/** Where a rotation stands, for progress display. */
export interface RotationProgress {
  phase: 'rewrap' | 'reencrypt' | 'recheck';
  done: number;
  total: number;
}

/** Batching and test hooks shared by both rotations. */
export interface RotationOptions {
  batchSize?: number;
  /** Stops after this many batches, exactly as a crash between two batches would. */
  maxBatches?: number;
  onProgress?(progress: RotationProgress): void;
  /** Runs inside each batch's transaction just before it commits; throwing rolls that batch back. */
  beforeCommit?(batch: number): void | Promise<void>;
}
