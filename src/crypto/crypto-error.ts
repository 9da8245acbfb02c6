/** Stable machine-readable codes carried by every error this library throws. */
export type CryptoErrorCode =
  | 'CRYPTO_NOT_READY'
  | 'INVALID_INPUT'
  | 'BAD_ENVELOPE'
  | 'DECRYPT_FAILED'
  | 'KEY_MISMATCH'
  | 'UNKNOWN_KEY_VERSION'
  | 'KEY_DESTROYED';

/**
 * Base class of all crypto failures. Messages name at most a table, column, key id or key version:
 * never plaintext, ciphertext, row ids or key bytes, so they are safe to log.
 */
export class CryptoError extends Error {
  constructor(
    readonly code: CryptoErrorCode,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** A synchronous crypto function was called before `initCrypto()` resolved. */
export class CryptoNotReadyError extends CryptoError {
  constructor() {
    super('CRYPTO_NOT_READY', 'crypto library used before initCrypto() resolved');
  }
}

/** An argument (key length, context part, key id, configuration text) is malformed. */
export class InvalidCryptoInputError extends CryptoError {
  constructor(message: string) {
    super('INVALID_INPUT', message);
  }
}

/** Stored text is not a well-formed `phi1` envelope. */
export class BadEnvelopeError extends CryptoError {
  constructor(message: string) {
    super('BAD_ENVELOPE', message);
  }
}

/** Authentication failed: wrong key, tampered bytes, or ciphertext moved to another context. */
export class DecryptFailedError extends CryptoError {
  constructor(message: string) {
    super('DECRYPT_FAILED', message);
  }
}

/** The envelope names a different data key than the one the caller supplied. */
export class KeyMismatchError extends CryptoError {
  constructor(message: string) {
    super('KEY_MISMATCH', message);
  }
}

/** A wrapped data key refers to a master key version the ring does not hold. */
export class UnknownKeyVersionError extends CryptoError {
  constructor(message: string) {
    super('UNKNOWN_KEY_VERSION', message);
  }
}

/** A key was wiped (ring/indexer destroyed, or a cached data key evicted) and must not be used. */
export class KeyDestroyedError extends CryptoError {
  constructor(message: string) {
    super('KEY_DESTROYED', message);
  }
}
