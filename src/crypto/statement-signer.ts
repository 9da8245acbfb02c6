import { assertUsableKey, copyKey } from './key-material';
import { getSodium, wipe } from './sodium';

/**
 * Ed25519 signatures over short statements the server vouches for (audit checkpoints, erasure certificates).
 * The key pair is derived from a 32-byte secret and a purpose label, so one configured secret can sign for
 * several purposes without a signature for one being valid for another; holders of the public key verify
 * without any secret.
 */
export class StatementSigner {
  private secretKey: Uint8Array;
  /** The public key, base64url, to hand to whoever verifies (a SIEM, a patient's lawyer). */
  readonly publicKey: string;

  constructor(secret: Uint8Array, purpose: string) {
    assertUsableKey(secret, 'signing secret');
    const sodium = getSodium();
    const seed = sodium.crypto_generichash(32, sodium.from_string(`hms-signing-v1:${purpose}`), copyKey(secret));
    const pair = sodium.crypto_sign_seed_keypair(seed);
    wipe(seed);
    this.secretKey = pair.privateKey;
    this.publicKey = Buffer.from(pair.publicKey).toString('base64url');
  }

  /** Detached signature of `statement`, base64url. */
  sign(statement: string): string {
    if (this.secretKey.length === 0) throw new Error('statement signer destroyed');
    return Buffer.from(getSodium().crypto_sign_detached(statement, this.secretKey)).toString('base64url');
  }

  /** True when `signature` is this key's (or `publicKey`'s) signature of `statement`. */
  verify(statement: string, signature: string, publicKey = this.publicKey): boolean {
    try {
      return getSodium().crypto_sign_verify_detached(
        Buffer.from(signature, 'base64url'),
        statement,
        Buffer.from(publicKey, 'base64url'),
      );
    } catch {
      return false; // malformed signature or key: not a valid signature
    }
  }

  /** Wipes the secret key. */
  destroy(): void {
    wipe(this.secretKey);
    this.secretKey = new Uint8Array(0);
  }
}
