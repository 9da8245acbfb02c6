export { BLIND_INDEX_BYTES, BlindIndexer } from './blind-index';
export {
  BadEnvelopeError,
  CryptoError,
  CryptoNotReadyError,
  DecryptFailedError,
  InvalidCryptoInputError,
  KeyDestroyedError,
  KeyMismatchError,
  UnknownKeyVersionError,
} from './crypto-error';
export type { CryptoErrorCode } from './crypto-error';
export { DataKeyCache } from './data-key-cache';
export type { DataKeyCacheOptions, DataKeyCacheStats } from './data-key-cache';
export {
  envelopeKeyId,
  isPhiEnvelope,
  openField,
  parseEnvelope,
  PHI_ENVELOPE_REGEX,
  PHI_ENVELOPE_SQL_PATTERN,
  sealField,
} from './field-cipher';
export type { FieldContext, ParsedEnvelope } from './field-cipher';
export { KEY_BYTES } from './key-material';
export { generateDataKey, MasterKeyRing, parseMasterKeys } from './master-key-ring';
export type { DataKeyContext, MasterKeyRingInit, WrappedDataKey } from './master-key-ring';
export { initCrypto, isCryptoReady } from './sodium';
export { StatementSigner } from './statement-signer';
