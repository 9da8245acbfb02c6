import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';

import type { AuditService } from '../audit/audit.service';
import type { Config } from '../config/config';
import type { Actor } from '../graphql/context';
import { AppError, badUserInput, notFound } from '../graphql/errors';
import type { PhiVault } from '../keys/phi-vault';
import type { Logger } from '../logging/logger';
import { invalidChallenge, invalidCredentials, sessionNotValid } from './auth.guard';
import { isLocked, recordFailure } from './lockout';
import { MfaService, type SecondFactor } from './mfa.service';
import { PasswordHasher } from './password-hasher';
import { SessionService, SignInRecorder, type ClientInfo, type IssuedTokens } from './session.service';
import { TokenService, type ChallengePurpose } from './token.service';
import { User } from './user.entity';
import { UserService } from './user.service';

/** What `AuthService` is built from; `hasher` may be given to test other argon2 parameters. */
export interface AuthServiceDeps {
  config: Config;
  orm: MikroORM;
  vault: PhiVault;
  logger: Logger;
  hasher?: PasswordHasher;
  /**
   * Records sign-in outcomes (audit rows, security events). createServices always passes it; it is
   * optional only for tests that build an AuthService by hand to try other hashing parameters, whose
   * sign-ins then go unrecorded.
   */
  audit?: AuditService;
}

/** The answer to a correct password: a session, or a challenge for the second factor. */
export type SignInResult =
  | { kind: 'session'; tokens: IssuedTokens }
  | { kind: 'challenge'; challengeToken: string; expiresAt: Date; enrollmentRequired: boolean };

/** A refused password step, for the recorder: SIGN_IN_FAILED (LOW) with a reason code. */
function signInFailure(reason: string, user: User | null) {
  return { action: 'auth.login', eventType: 'SIGN_IN_FAILED', severity: 'LOW' as const, reason, user };
}

const BEARER = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/i;
const BOOTSTRAP_LOCK = 'hms:auth:bootstrap-admin';

/**
 * Sign-in, sessions and tokens. A user of a role in MFA_REQUIRED_ROLES who has not enrolled
 * TOTP yet gets no tokens from `login`: the answer is an enrolment challenge, and a session
 * exists only once `confirmTotp` has proved the new authenticator. So every session of such a
 * role carries `mfaAt`, which `authenticate` re-checks on each request. Blind spot: whoever
 * holds the password of a not-yet-enrolled account can enrol their own authenticator; the
 * first sign-in of such an account should follow a password issued out of band.
 */
export class AuthService {
  readonly hasher: PasswordHasher;
  readonly tokens: TokenService;
  readonly sessions: SessionService;
  readonly users: UserService;
  readonly mfa: MfaService;
  private readonly config: Config;
  private readonly orm: MikroORM;
  private readonly logger: Logger;
  private readonly recorder: SignInRecorder;

  constructor(deps: AuthServiceDeps) {
    this.config = deps.config;
    this.orm = deps.orm;
    this.logger = deps.logger;
    this.hasher = deps.hasher ?? new PasswordHasher(deps.config.auth.argon2);
    this.tokens = new TokenService(deps.config.tokens);
    this.recorder = new SignInRecorder(deps.orm, deps.audit);
    this.sessions = new SessionService(deps.config, this.tokens, this.recorder);
    this.users = new UserService(deps.vault, this.hasher);
    this.mfa = new MfaService(deps.config, deps.vault, this.recorder);
  }

  /**
   * The verified caller for an `Authorization` header: null when there is none; UNAUTHENTICATED
   * (HTTP 401) for a malformed, forged or expired token or one whose session has ended.
   */
  async authenticate(authorization: string | undefined): Promise<Actor | null> {
    if (authorization === undefined || authorization === '') return null;
    const match = BEARER.exec(authorization);
    if (!match) throw sessionNotValid();
    const claims = await this.tokens.verifyAccess(match[1]);
    if (!claims) throw sessionNotValid();
    const actor = await this.sessions.resolveActor(this.orm.em.fork(), claims);
    if (!actor) throw sessionNotValid();
    return actor;
  }

  /**
   * Checks email and password. Every failure gives the same answer and does an argon2 verify,
   * so unknown, disabled and locked accounts cannot be told apart by message or timing.
   */
  async login(em: EntityManager, email: string, password: string, client: ClientInfo): Promise<SignInResult> {
    const now = new Date();
    const user = await this.users.findByEmail(em, email);
    if (!user) {
      await this.hasher.verifyAgainstDummy(password);
      client.log.warn({ reason: 'unknown-account' }, 'sign-in failed');
      await this.recorder.failed(client, signInFailure('unknown-account', null));
      throw invalidCredentials();
    }
    const passwordOk = await this.hasher.verify(user.passwordHash, password);
    if (user.disabledAt || isLocked(user.lockedUntil, now)) {
      const reason = user.disabledAt ? 'disabled' : 'locked';
      client.log.warn({ userId: user.id, reason }, 'sign-in failed');
      await this.recorder.failed(client, signInFailure(reason, user));
      throw invalidCredentials();
    }
    if (!passwordOk) {
      const locked = await recordFailure(em, user.id, 'password', this.lockoutPolicy(), now);
      client.log.warn({ userId: user.id, reason: 'wrong-password', locked }, 'sign-in failed');
      await this.recorder.failed(client, signInFailure('wrong-password', user));
      if (locked) await this.recorder.locked(client, user.id, 'password');
      throw invalidCredentials();
    }

    await this.upgradeHashIfNeeded(em, user, password, client.log);
    const second = user.totpEnabledAt
      ? 'verify'
      : this.config.auth.mfaRequiredRoles.includes(user.role)
        ? 'enrol'
        : null;
    // The password step is passed: its lockout counter clears. A session started here clears it in
    // the same transaction that creates the session (SessionService.start), so only the
    // second-factor paths need a statement of their own.
    if (second === null) return { kind: 'session', tokens: await this.sessions.start(em, user, client, null) };
    await em.execute('UPDATE users SET failed_login_count = 0, locked_until = NULL WHERE id = ?', [user.id]);
    return this.challenge(user, second);
  }

  /** The account behind a valid, unused challenge token of the given purpose; UNAUTHENTICATED otherwise. */
  async challengedUser(em: EntityManager, challengeToken: string, purpose: ChallengePurpose): Promise<User> {
    const claims = await this.tokens.verifyChallenge(challengeToken);
    if (!claims || claims.purpose !== purpose) throw invalidChallenge();
    const user = await this.users.findById(em, claims.userId);
    // A sign-in completed since the challenge was issued (this one or another) voids it.
    if (!user || user.disabledAt || (user.lastLoginAt?.getTime() ?? 0) !== claims.lastLoginMs) throw invalidChallenge();
    if (purpose === 'enrol' && user.totpEnabledAt) throw invalidChallenge();
    return user;
  }

  /** Second step of a sign-in: checks the factor against a verify challenge and starts the session. */
  async completeSignIn(
    em: EntityManager,
    challengeToken: string,
    factor: SecondFactor,
    client: ClientInfo,
  ): Promise<IssuedTokens> {
    const user = await this.challengedUser(em, challengeToken, 'verify');
    await this.mfa.verify(em, user, factor, client.log, client);
    return this.sessions.start(em, user, client, new Date());
  }

  /** Rotates a refresh token; UNAUTHENTICATED when it is unknown, used, expired or its session has ended. */
  async refresh(em: EntityManager, refreshToken: string, client: ClientInfo): Promise<IssuedTokens> {
    const tokens = await this.sessions.refresh(em, refreshToken, client);
    if (!tokens) throw sessionNotValid();
    return tokens;
  }

  /** Ends the caller's session at once. */
  async logout(em: EntityManager, actor: Actor, log: Logger): Promise<void> {
    await this.sessions.revoke(em, actor.sessionId, 'LOGOUT');
    log.info({ userId: actor.userId, sessionId: actor.sessionId }, 'signed out');
  }

  /** A fresh second-factor check inside a session; returns an access token carrying the new time. */
  async stepUp(em: EntityManager, actor: Actor, factor: SecondFactor, log: Logger): Promise<IssuedTokens> {
    const user = await this.accountOf(em, actor);
    await this.mfa.verify(em, user, factor, log);
    return this.sessions.markMfa(em, actor, new Date());
  }

  /** The caller's own account. */
  async accountOf(em: EntityManager, actor: Actor): Promise<User> {
    const user = await this.users.findById(em, actor.userId);
    if (!user) throw sessionNotValid();
    return user;
  }

  /** ADMIN: disables an account and revokes all its sessions in one transaction. */
  async disableUser(em: EntityManager, actor: Actor, userId: string, log: Logger): Promise<void> {
    if (userId === actor.userId) throw badUserInput('You cannot disable your own account', 'userId');
    const revoked = await em.transactional(async (tem) => {
      await this.users.markDisabled(tem, userId, new Date());
      return this.sessions.revokeAllForUser(tem, userId, 'DISABLED');
    });
    log.info({ userId, by: actor.userId, sessionsRevoked: revoked }, 'user disabled');
  }

  /** ADMIN: re-enables an account. */
  async enableUser(em: EntityManager, actor: Actor, userId: string, log: Logger): Promise<void> {
    await this.users.markEnabled(em, userId, new Date());
    log.info({ userId, by: actor.userId }, 'user enabled');
  }

  /** Ends a session: ADMIN any session, others only their own; someone else's answers as not found. */
  async revokeSession(em: EntityManager, actor: Actor, sessionId: string, log: Logger): Promise<boolean> {
    const owner = await this.sessions.ownerOf(em, sessionId);
    if (!owner || (owner !== actor.userId && actor.role !== 'ADMIN')) throw notFound('Session');
    const reason = owner === actor.userId ? 'LOGOUT' : 'ADMIN';
    const revoked = await this.sessions.revoke(em, sessionId, reason);
    if (revoked) log.info({ userId: owner, sessionId, by: actor.userId }, 'session revoked');
    return true;
  }

  /** Creates the bootstrap admin on first start when configured and no ADMIN exists yet. */
  async bootstrap(): Promise<void> {
    const admin = this.config.auth.bootstrapAdmin;
    if (!admin) return;
    const em = this.orm.em.fork();
    // The advisory lock makes concurrent first starts create one admin, not race on the email.
    const created = await em.transactional(async (tem) => {
      await tem.execute('SELECT pg_advisory_xact_lock(hashtext(?))', [BOOTSTRAP_LOCK]);
      if (await this.users.hasAdmin(tem)) return null;
      const input = { ...admin, role: 'ADMIN' as const, displayName: 'Administrator' };
      try {
        return await this.users.create(tem, input, this.logger, null);
      } catch (error) {
        // Our messages name the failing rule, never the value; refuse to start rather than run without an admin.
        if (!(error instanceof AppError)) throw error;
        throw new Error(`Bootstrap admin not created (${error.extensions.field ?? 'input'}): ${error.message}`, {
          cause: error,
        });
      }
    });
    if (created) this.logger.info({ userId: created.id }, 'bootstrap admin created');
  }

  private challenge(user: User, purpose: ChallengePurpose): Promise<SignInResult> {
    const lastLoginMs = user.lastLoginAt?.getTime() ?? 0;
    return this.tokens.signChallenge({ userId: user.id, purpose, lastLoginMs }).then((signed) => ({
      kind: 'challenge' as const,
      challengeToken: signed.token,
      expiresAt: signed.expiresAt,
      enrollmentRequired: purpose === 'enrol',
    }));
  }

  private async upgradeHashIfNeeded(em: EntityManager, user: User, password: string, log: Logger): Promise<void> {
    if (!this.hasher.needsRehash(user.passwordHash)) return;
    const hash = await this.hasher.hash(password);
    await em.execute('UPDATE users SET password_hash = ?, updated_at = ?::timestamptz WHERE id = ?', [
      hash,
      new Date().toISOString(),
      user.id,
    ]);
    log.info({ userId: user.id }, 'password hash upgraded');
  }

  private lockoutPolicy() {
    return { threshold: this.config.auth.lockoutThreshold, seconds: this.config.auth.lockoutSeconds };
  }
}
