import { createHash, hkdfSync, randomBytes, randomUUID, webcrypto } from 'node:crypto';
import { LRUCache } from 'lru-cache';

import type { Config } from '../config/config';
import { isRole, type Role } from '../config/roles';
import { isUuid } from '../db/ids';
import { jose } from './jose-loader';

const ISSUER = 'hms-api';
const ACCESS_AUDIENCE = 'hms-api/access';
const CHALLENGE_AUDIENCE = 'hms-api/mfa-challenge';
const ACCESS_TYP = 'at+jwt';
const CHALLENGE_TYP = 'mfa-challenge+jwt';
/** Seconds of clock skew tolerated on `exp` between this process and whoever checks the clock. */
const CLOCK_TOLERANCE_SECONDS = 5;
/** A challenge to enter a code is short; one to enrol an authenticator allows time to set it up. */
const CHALLENGE_TTL_SECONDS = { verify: 5 * 60, enrol: 15 * 60 } as const;
const REFRESH_TOKEN = /^[A-Za-z0-9_-]{43}$/;

/** What an access token says about its bearer; the session it names is checked on every request. */
export interface AccessClaims {
  userId: string;
  role: Role;
  sessionId: string;
  /** Last second-factor check of the session, when there was one. */
  mfaAt?: Date | null;
}

/** Why a challenge was issued: to enter a code, or to enrol a first authenticator. */
export type ChallengePurpose = keyof typeof CHALLENGE_TTL_SECONDS;

/** A password-verified sign-in waiting for its second factor. */
export interface ChallengeClaims {
  userId: string;
  purpose: ChallengePurpose;
  /** `users.last_login_at` in epoch ms (0 for never) when issued: a completed sign-in voids the challenge. */
  lastLoginMs: number;
}

export interface SignedToken {
  token: string;
  expiresAt: Date;
}

/**
 * Derives a purpose-bound HMAC key from the configured secret (HKDF-SHA-256), so the raw secret
 * never signs anything and access tokens cannot pass as challenges or anything added later.
 */
function deriveKey(secret: string, label: string): Promise<webcrypto.CryptoKey> {
  const bytes = Buffer.from(hkdfSync('sha256', Buffer.from(secret, 'utf8'), 'hms-token-keys', label, 32));
  return webcrypto.subtle.importKey('raw', bytes, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
}

const epochSeconds = (date: Date): number => Math.floor(date.getTime() / 1000);

/**
 * Signs and verifies the API's JWTs (HS256 with jose): 15-minute access tokens naming a session,
 * and MFA challenge tokens. Refresh tokens are opaque random strings kept only as SHA-256 hashes.
 */
export class TokenService {
  private accessKey?: Promise<webcrypto.CryptoKey>;
  private challengeKey?: Promise<webcrypto.CryptoKey>;
  /**
   * Access tokens this process has verified, with their claims: a client sends the same token with every request
   * until it expires, and its signature cannot change, so the HMAC is checked once (issue 11: a WebCrypto job on
   * the thread pool per request was about 2% of the product's time on cheap reads). Keyed by the whole token text,
   * so only the identical token finds an entry; expiry (with the clock tolerance) is checked again on every use;
   * the session behind the token is still read on every request, so a revoked session fails as before. The
   * signing secret does not change while the process runs. Bounded; unused entries age out.
   */
  private readonly verifiedAccess = new LRUCache<string, { claims: AccessClaims; usableUntilMs: number }>({
    max: 10_000,
  });

  constructor(private readonly config: Config['tokens']) {}

  private keyFor(audience: string): Promise<webcrypto.CryptoKey> {
    if (audience === ACCESS_AUDIENCE) {
      this.accessKey ??= deriveKey(this.config.signingSecret, 'hms/jwt/access/v1');
      return this.accessKey;
    }
    this.challengeKey ??= deriveKey(this.config.signingSecret, 'hms/jwt/mfa-challenge/v1');
    return this.challengeKey;
  }

  /** Signs an access token; `now` is injectable so tests can mint one that has already expired. */
  async signAccess(claims: AccessClaims, now: Date = new Date()): Promise<SignedToken> {
    const issuedAt = epochSeconds(now);
    const expiresAt = issuedAt + this.config.accessTokenTtlSeconds;
    const payload: Record<string, unknown> = { role: claims.role, sid: claims.sessionId };
    if (claims.mfaAt) payload.mfa_at = epochSeconds(claims.mfaAt);
    const token = await new (jose().SignJWT)(payload)
      .setProtectedHeader({ alg: 'HS256', typ: ACCESS_TYP })
      .setSubject(claims.userId)
      .setIssuer(ISSUER)
      .setAudience(ACCESS_AUDIENCE)
      .setIssuedAt(issuedAt)
      .setExpirationTime(expiresAt)
      .setJti(randomUUID())
      .sign(await this.keyFor(ACCESS_AUDIENCE));
    return { token, expiresAt: new Date(expiresAt * 1000) };
  }

  /** The claims of a genuine, unexpired access token, or null for anything else. */
  async verifyAccess(token: string): Promise<AccessClaims | null> {
    const known = this.verifiedAccess.get(token);
    if (known) {
      if (Date.now() < known.usableUntilMs) return { ...known.claims };
      this.verifiedAccess.delete(token);
      return null;
    }
    const payload = await this.verify(token, ACCESS_AUDIENCE, ACCESS_TYP, ['sid', 'role', 'jti']);
    if (!payload || !isUuid(payload.sid) || !isRole(payload.role)) return null;
    const mfaAt = typeof payload.mfa_at === 'number' ? new Date(payload.mfa_at * 1000) : null;
    const claims: AccessClaims = { userId: payload.sub as string, role: payload.role, sessionId: payload.sid, mfaAt };
    const usableUntilMs = ((payload.exp as number) + CLOCK_TOLERANCE_SECONDS) * 1000;
    this.verifiedAccess.set(token, { claims: { ...claims }, usableUntilMs });
    return claims;
  }

  /** Signs a challenge for the second step of a sign-in. */
  async signChallenge(claims: ChallengeClaims, now: Date = new Date()): Promise<SignedToken> {
    const issuedAt = epochSeconds(now);
    const expiresAt = issuedAt + CHALLENGE_TTL_SECONDS[claims.purpose];
    const token = await new (jose().SignJWT)({ pur: claims.purpose, lla: claims.lastLoginMs })
      .setProtectedHeader({ alg: 'HS256', typ: CHALLENGE_TYP })
      .setSubject(claims.userId)
      .setIssuer(ISSUER)
      .setAudience(CHALLENGE_AUDIENCE)
      .setIssuedAt(issuedAt)
      .setExpirationTime(expiresAt)
      .setJti(randomUUID())
      .sign(await this.keyFor(CHALLENGE_AUDIENCE));
    return { token, expiresAt: new Date(expiresAt * 1000) };
  }

  /** The claims of a genuine, unexpired challenge token, or null. */
  async verifyChallenge(token: string): Promise<ChallengeClaims | null> {
    const payload = await this.verify(token, CHALLENGE_AUDIENCE, CHALLENGE_TYP, ['pur', 'lla']);
    if (!payload || typeof payload.lla !== 'number') return null;
    if (payload.pur !== 'verify' && payload.pur !== 'enrol') return null;
    return { userId: payload.sub as string, purpose: payload.pur, lastLoginMs: payload.lla };
  }

  private async verify(
    token: string,
    audience: string,
    typ: string,
    claims: string[],
  ): Promise<Record<string, unknown> | null> {
    if (typeof token !== 'string' || token.length > 4096) return null;
    const { jwtVerify, errors } = jose();
    try {
      const { payload } = await jwtVerify(token, await this.keyFor(audience), {
        algorithms: ['HS256'],
        issuer: ISSUER,
        audience,
        typ,
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        requiredClaims: ['sub', 'exp', 'iat', ...claims],
      });
      if (!isUuid(payload.sub)) return null;
      return payload as Record<string, unknown>;
    } catch (error) {
      if (error instanceof errors.JOSEError) return null;
      throw error;
    }
  }
}

/** A new refresh token (256 random bits) and the SHA-256 hash that is all the database keeps. */
export function newRefreshToken(): { token: string; hash: string } {
  const token = randomBytes(32).toString('base64url');
  return { token, hash: hashRefreshToken(token) as string };
}

/** SHA-256 hex of a refresh token, or null when the input cannot be one of ours. */
export function hashRefreshToken(token: string): string | null {
  if (typeof token !== 'string' || !REFRESH_TOKEN.test(token)) return null;
  return createHash('sha256').update(token, 'utf8').digest('hex');
}
