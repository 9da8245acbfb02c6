import { randomUUID } from 'node:crypto';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';

import type { AuditService, Severity } from '../audit/audit.service';
import type { Config } from '../config/config';
import type { Role } from '../config/roles';
import type { Actor } from '../graphql/context';
import type { Logger } from '../logging/logger';
import { Session } from './session.entity';
import { hashRefreshToken, newRefreshToken, type AccessClaims, type TokenService } from './token.service';
import { isUuid } from '../db/ids';
import { preparedRead } from '../db/prepared';

/** Why a session was ended; stored in `sessions.revoked_reason`. */
export type SessionEndReason = 'LOGOUT' | 'ADMIN' | 'DISABLED' | 'REFRESH_REUSE' | 'PASSWORD_CHANGED';

/** Tokens handed to a client; `refreshToken` is null when only the access token was renewed. */
export interface IssuedTokens {
  accessToken: string;
  refreshToken: string | null;
  expiresAt: Date;
  userId: string;
  sessionId: string;
}

/** Where a sign-in comes from, for session review, plus the request's logger. */
export interface ClientInfo {
  ip: string;
  userAgent: string;
  log: Logger;
}

/** One failed sign-in step, as recorded: the reason is a code, never the email, password or code given. */
export interface SignInFailure {
  /** Audit action: auth.login, auth.mfa or auth.refresh. */
  action: string;
  eventType: string;
  severity: Severity;
  reason: string;
  /** The account concerned, when known (not for an unknown email). */
  user?: { id: string; role: string } | null;
  sessionId?: string | null;
}

/**
 * Writes the audit rows and security events of sign-in steps. A failure is committed on its own
 * connection before the step answers, so its record survives the failing request; a success is
 * written in the transaction that creates the session, so no session exists without its row.
 * Rows carry ids, role, request id, client address and a reason code; never an email, password,
 * token or code. The request id comes from the request logger's bindings (ClientInfo has none).
 */
export class SignInRecorder {
  constructor(
    private readonly orm: MikroORM,
    private readonly audit: AuditService | undefined,
  ) {}

  /** A started session: `auth.login` ALLOWED, in `em`'s transaction. */
  async signedIn(em: EntityManager, client: ClientFrom, user: { id: string; role: string }, sessionId: string) {
    if (!this.audit) return;
    await this.audit.append(em, [
      {
        action: 'auth.login',
        outcome: 'ALLOWED',
        actorId: user.id,
        actorRole: user.role,
        sessionId,
        ...origin(client),
      },
    ]);
  }

  /** A refused step: a DENIED audit row and a security event, each committed at once. */
  async failed(client: ClientFrom, failure: SignInFailure): Promise<void> {
    if (!this.audit) return;
    const { user, sessionId = null } = failure;
    const from = origin(client);
    await this.audit.append(this.orm.em.fork(), [
      { action: failure.action, outcome: 'DENIED', actorId: user?.id, actorRole: user?.role, sessionId, ...from },
    ]);
    await this.event(failure.eventType, failure.severity, user?.id, {
      reasonCode: failure.reason,
      ...(sessionId ? { sessionId } : {}),
      requestId: from.requestId,
    });
  }

  /** An account locked by this failure: ACCOUNT_LOCKED (MEDIUM), naming the counter (password or mfa). */
  async locked(client: ClientFrom, userId: string, counter: 'password' | 'mfa'): Promise<void> {
    await this.event('ACCOUNT_LOCKED', 'MEDIUM', userId, { counter, requestId: origin(client).requestId });
  }

  private async event(eventType: string, severity: Severity, actorId: string | null | undefined, details: object) {
    if (!this.audit) return;
    await this.audit.securityEvent(this.orm.em.fork(), { eventType, severity, actorId, details: { ...details } });
  }
}

/** What a recorder needs of a request: its logger, and its client details when the caller has them. */
export type ClientFrom = { log: Logger; ip?: string; userAgent?: string };

function origin(client: ClientFrom): { requestId: string | null; ip: string | null; userAgent: string | null } {
  const requestId = (client.log.bindings?.() as { requestId?: unknown } | undefined)?.requestId;
  return {
    requestId: typeof requestId === 'string' ? requestId : null,
    ip: client.ip || null,
    userAgent: client.userAgent || null,
  };
}

/** A session joined with the account state that decides whether it may still be used. */
interface SessionRow {
  id: string;
  user_id: string;
  last_seen_at: Date;
  expires_at: Date;
  revoked_at: Date | null;
  mfa_at: Date | null;
  role: Role;
  patient_id: string | null;
  disabled_at: Date | null;
  scopes: string[] | null;
}

// Writing lastSeenAt at most once a minute keeps requests read-only; the idle limit is that coarse.
const TOUCH_INTERVAL_MS = 60_000;
const MAX_LISTED = 100;

// Raw queries through MikroORM return timestamptz columns as strings (its pg type parsers).
function toDate(value: Date | string): Date;
function toDate(value: Date | string | null): Date | null;
function toDate(value: Date | string | null): Date | null {
  return value === null || value instanceof Date ? value : new Date(value);
}

/**
 * Sessions and their tokens: a session is created once every required factor has passed, named
 * by each access token, checked on every request, and renewed through single-use refresh tokens.
 */
export class SessionService {
  constructor(
    private readonly config: Config,
    private readonly tokens: TokenService,
    private readonly recorder?: SignInRecorder,
  ) {}

  /** Starts a session and issues its first tokens; also records the sign-in and clears the password lockout. */
  async start(
    em: EntityManager,
    user: { id: string; role: Role },
    client: ClientInfo,
    mfaAt: Date | null,
  ): Promise<IssuedTokens> {
    const now = new Date();
    const sessionId = randomUUID();
    const expiresAt = new Date(now.getTime() + this.config.auth.sessionAbsoluteSeconds * 1000);
    const refresh = newRefreshToken();
    await em.transactional(async (tem) => {
      await tem.execute(
        `INSERT INTO sessions (id, user_id, created_at, last_seen_at, expires_at, mfa_at, ip, user_agent)
         VALUES (?, ?, ?::timestamptz, ?::timestamptz, ?::timestamptz, ?::timestamptz, ?, ?)`,
        [
          sessionId,
          user.id,
          now.toISOString(),
          now.toISOString(),
          expiresAt.toISOString(),
          mfaAt?.toISOString() ?? null,
          client.ip.slice(0, 64) || null,
          client.userAgent.slice(0, 256) || null,
        ],
      );
      await this.insertRefreshToken(tem, refresh.hash, sessionId, 1, now);
      await tem.execute(
        `UPDATE users SET last_login_at = ?::timestamptz, failed_login_count = 0, locked_until = NULL,
           updated_at = ?::timestamptz WHERE id = ?`,
        [now.toISOString(), now.toISOString(), user.id],
      );
      await this.recorder?.signedIn(tem, client, user, sessionId);
    });
    client.log.info({ userId: user.id, sessionId, mfa: mfaAt !== null }, 'session started');
    return this.issue({ userId: user.id, role: user.role, sessionId, mfaAt }, refresh.token);
  }

  /**
   * The caller behind a verified access token, or null when its session has ended: revoked,
   * past its absolute end, idle too long, its account disabled or its role changed, or lacking
   * the second factor its role requires. Refreshes lastSeenAt at most once a minute.
   */
  async resolveActor(em: EntityManager, claims: AccessClaims): Promise<Actor | null> {
    const now = new Date();
    const row = await this.load(em, claims.sessionId);
    if (!row || row.user_id !== claims.userId || row.role !== claims.role || !this.isLive(row, now)) return null;
    if (now.getTime() - row.last_seen_at.getTime() >= TOUCH_INTERVAL_MS) {
      await em.execute(
        'UPDATE sessions SET last_seen_at = ?::timestamptz WHERE id = ? AND last_seen_at < ?::timestamptz',
        [now.toISOString(), row.id, new Date(now.getTime() - TOUCH_INTERVAL_MS).toISOString()],
      );
    }
    return {
      userId: row.user_id,
      role: row.role,
      sessionId: row.id,
      ...(row.patient_id ? { patientId: row.patient_id } : {}),
      ...(row.mfa_at ? { mfaAt: row.mfa_at } : {}),
      ...(row.role === 'INTEGRATOR' ? { scopes: row.scopes ?? [] } : {}),
    };
  }

  /**
   * Exchanges a refresh token for new tokens. The token is marked used in the same statement that
   * finds it, so of two concurrent uses exactly one wins; presenting a used token again means it
   * was copied, and the whole session is revoked (REFRESH_REUSE). Null when refused.
   */
  async refresh(em: EntityManager, refreshToken: string, client: ClientInfo): Promise<IssuedTokens | null> {
    const hash = hashRefreshToken(refreshToken);
    if (!hash) return null;
    const now = new Date();
    const refreshTtlMs = this.config.tokens.refreshTokenTtlSeconds * 1000;

    const outcome = await em.transactional(async (tem) => {
      const [used] = await tem.execute<{ session_id: string; generation: number; created_at: string }[]>(
        `UPDATE refresh_tokens SET used_at = ?::timestamptz WHERE token_hash = ? AND used_at IS NULL
         RETURNING session_id, generation, created_at`,
        [now.toISOString(), hash],
      );
      if (!used) return { reused: await this.sessionOfUsedToken(tem, hash) };
      const row = await this.load(tem, used.session_id);
      if (!row || !this.isLive(row, now) || now.getTime() - toDate(used.created_at).getTime() > refreshTtlMs) return {};
      const next = newRefreshToken();
      await this.insertRefreshToken(tem, next.hash, row.id, used.generation + 1, now);
      await tem.execute('UPDATE sessions SET last_seen_at = ?::timestamptz WHERE id = ?', [now.toISOString(), row.id]);
      return { row, refreshToken: next.token };
    });

    if (outcome.reused) {
      const revoked = await this.revoke(em, outcome.reused.sessionId, 'REFRESH_REUSE');
      if (revoked) client.log.warn({ ...outcome.reused }, 'refresh token reused; session revoked');
      await this.recorder?.failed(client, {
        action: 'auth.refresh',
        eventType: 'REFRESH_TOKEN_REUSE',
        severity: 'HIGH',
        reason: revoked ? 'reused-session-revoked' : 'reused-session-ended',
        user: { id: outcome.reused.userId, role: outcome.reused.role },
        sessionId: outcome.reused.sessionId,
      });
      return null;
    }
    if (!outcome.row || !outcome.refreshToken) return null;
    const { row } = outcome;
    const claims = { userId: row.user_id, role: row.role, sessionId: row.id, mfaAt: row.mfa_at };
    return this.issue(claims, outcome.refreshToken);
  }

  /** Records a passed second-factor check on a session and issues an access token carrying it. */
  async markMfa(em: EntityManager, actor: Actor, now: Date): Promise<IssuedTokens> {
    await em.execute('UPDATE sessions SET mfa_at = ?::timestamptz WHERE id = ?', [now.toISOString(), actor.sessionId]);
    return this.issue({ userId: actor.userId, role: actor.role, sessionId: actor.sessionId, mfaAt: now }, null);
  }

  /** Ends one session at once; false when it did not exist or had already ended. */
  async revoke(em: EntityManager, sessionId: string, reason: SessionEndReason): Promise<boolean> {
    if (!isUuid(sessionId)) return false;
    const rows = await em.execute(
      `UPDATE sessions SET revoked_at = ?::timestamptz, revoked_reason = ?
       WHERE id = ? AND revoked_at IS NULL RETURNING id`,
      [new Date().toISOString(), reason, sessionId],
    );
    return rows.length > 0;
  }

  /** Ends every open session of an account in one statement; returns how many were open. */
  async revokeAllForUser(em: EntityManager, userId: string, reason: SessionEndReason): Promise<number> {
    const rows = await em.execute(
      `UPDATE sessions SET revoked_at = ?::timestamptz, revoked_reason = ?
       WHERE user_id = ? AND revoked_at IS NULL RETURNING id`,
      [new Date().toISOString(), reason, userId],
    );
    return rows.length;
  }

  /** The owner of a session, or null when there is no such session. */
  async ownerOf(em: EntityManager, sessionId: string): Promise<string | null> {
    if (!isUuid(sessionId)) return null;
    const [row] = await em.execute<{ user_id: string }[]>('SELECT user_id FROM sessions WHERE id = ?', [sessionId]);
    return row?.user_id ?? null;
  }

  /** An account's sessions, newest first: only the open ones unless `includeEnded`. */
  async list(em: EntityManager, userId: string, includeEnded: boolean): Promise<Session[]> {
    const now = new Date();
    const sessions = await em.find(
      Session,
      includeEnded ? { userId } : { userId, revokedAt: null, expiresAt: { $gt: now } },
      { orderBy: { createdAt: 'desc' }, limit: MAX_LISTED },
    );
    if (includeEnded) return sessions;
    const idleMs = this.config.auth.sessionIdleSeconds * 1000;
    return sessions.filter((s) => now.getTime() - s.lastSeenAt.getTime() <= idleMs);
  }

  private isLive(row: SessionRow, now: Date): boolean {
    const idleMs = this.config.auth.sessionIdleSeconds * 1000;
    if (row.revoked_at || row.disabled_at) return false;
    if (row.expires_at.getTime() <= now.getTime()) return false;
    if (now.getTime() - row.last_seen_at.getTime() > idleMs) return false;
    // MFA_REQUIRED_ROLES is enforced here on every request, so a session from before the role
    // needed a second factor (or from a changed configuration) stops working at once.
    return !(this.config.auth.mfaRequiredRoles.includes(row.role) && !row.mfa_at);
  }

  private async load(em: EntityManager, sessionId: string): Promise<SessionRow | null> {
    const [row] = await preparedRead<SessionRow>(
      em,
      `SELECT s.id, s.user_id, s.last_seen_at, s.expires_at, s.revoked_at, s.mfa_at, u.role, u.patient_id, u.disabled_at, u.scopes
       FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = ?`,
      [sessionId],
    );
    if (!row) return null;
    return {
      ...row,
      last_seen_at: toDate(row.last_seen_at),
      expires_at: toDate(row.expires_at),
      revoked_at: toDate(row.revoked_at),
      mfa_at: toDate(row.mfa_at),
      disabled_at: toDate(row.disabled_at),
    };
  }

  private async sessionOfUsedToken(
    em: EntityManager,
    hash: string,
  ): Promise<{ sessionId: string; userId: string; role: string } | undefined> {
    const [row] = await em.execute<{ session_id: string; user_id: string; role: string }[]>(
      `SELECT r.session_id, s.user_id, u.role FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id
       JOIN users u ON u.id = s.user_id WHERE r.token_hash = ? AND r.used_at IS NOT NULL`,
      [hash],
    );
    return row ? { sessionId: row.session_id, userId: row.user_id, role: row.role } : undefined;
  }

  private async issue(claims: AccessClaims, refreshToken: string | null): Promise<IssuedTokens> {
    const access = await this.tokens.signAccess(claims);
    const { userId, sessionId } = claims;
    return { accessToken: access.token, refreshToken, expiresAt: access.expiresAt, userId, sessionId };
  }

  private async insertRefreshToken(
    em: EntityManager,
    hash: string,
    sessionId: string,
    generation: number,
    now: Date,
  ): Promise<void> {
    await em.execute(
      'INSERT INTO refresh_tokens (token_hash, session_id, generation, created_at) VALUES (?, ?, ?, ?::timestamptz)',
      [hash, sessionId, generation, now.toISOString()],
    );
  }
}
