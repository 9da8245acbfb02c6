import { StatementSigner } from '../crypto';
import { getSodium } from '../crypto/sodium';

/** The purpose label of the key that signs erasure certificates (a checkpoint signature never verifies as one). */
export const ERASURE_CERTIFICATE_PURPOSE = 'erasure-certificate';

/** A category kept despite the erasure, the legal basis for keeping it (Art. 17(3)) and until when. */
export interface RetainedCategory {
  category: string;
  reason: string;
  /** ISO 8601 instant the retention period ends. */
  until: string;
}

/** What the server vouches for: which categories of the patient's data were erased and which were kept. */
export interface ErasureStatement {
  requestId: string;
  patientId: string;
  /** ISO 8601 instant of the erasure. */
  erasedAt: string;
  erased: string[];
  retained: RetainedCategory[];
  issuer: 'HMS';
}

/** A statement with its detached Ed25519 signature over the canonical JSON of `statement`. */
export interface ErasureCertificate {
  statement: ErasureStatement;
  algorithm: 'Ed25519';
  /** The signing key (base64url), for convenience: verify against a key obtained independently (`erasure:public-key`). */
  publicKey: string;
  /** base64url signature of `canonicalJson(statement)`. */
  signature: string;
}

/**
 * Canonical JSON: object keys sorted by code unit, no whitespace, arrays in order (the shape of RFC 8785 for
 * the strings, arrays and objects a statement holds). Signer and verifier must encode byte for byte alike.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) throw new Error('canonicalJson: non-finite number');
    if (value === undefined) throw new Error('canonicalJson: undefined');
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** Signs erasure statements with an Ed25519 key derived from a configured secret and the certificate purpose. */
export class ErasureCertificateSigner {
  private readonly signer: StatementSigner;

  constructor(secret: Uint8Array) {
    this.signer = new StatementSigner(secret, ERASURE_CERTIFICATE_PURPOSE);
  }

  /** The public key (base64url) that verifies every certificate this server issues. */
  get publicKey(): string {
    return this.signer.publicKey;
  }

  /** The signed certificate of `statement`. */
  issue(statement: ErasureStatement): ErasureCertificate {
    return {
      statement,
      algorithm: 'Ed25519',
      publicKey: this.signer.publicKey,
      signature: this.signer.sign(canonicalJson(statement)),
    };
  }

  /** Wipes the signing key. */
  destroy(): void {
    this.signer.destroy();
  }
}

/**
 * True when `certificate` carries a valid signature of its statement by `publicKey` (base64url). The key
 * inside the certificate is ignored: anyone can sign a forged statement with a key of their own.
 */
export function verifyErasureCertificate(certificate: ErasureCertificate, publicKey: string): boolean {
  if (!certificate || typeof certificate !== 'object' || certificate.algorithm !== 'Ed25519') return false;
  if (typeof certificate.signature !== 'string' || typeof certificate.statement !== 'object') return false;
  let statement: string;
  try {
    statement = canonicalJson(certificate.statement);
  } catch {
    return false;
  }
  try {
    return getSodium().crypto_sign_verify_detached(
      Buffer.from(certificate.signature, 'base64url'),
      statement,
      Buffer.from(publicKey, 'base64url'),
    );
  } catch {
    return false; // malformed signature or key: not a valid certificate
  }
}
