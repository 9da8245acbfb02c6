import type { EntityManager } from '@mikro-orm/postgresql';

import type { Config } from '../config/config';
import { AppError, badUserInput } from '../graphql/errors';
import type { PhiVault } from '../keys/phi-vault';
import type { Logger } from '../logging/logger';
import { invalidSecondFactor } from './auth.guard';
import { isLocked, recordFailure } from './lockout';
import { generateRecoveryCodes, hashRecoveryCode, matchRecoveryCode } from './recovery-codes';
import type { ClientFrom, SignInRecorder } from './session.service';
import { generateTotpSecret, totpUri, verifyTotp } from './totp';
import type { User } from './user.entity';

/** A second factor as presented: a TOTP code or a recovery code (exactly one). */
export interface SecondFactor {
  code?: string | null;
  recoveryCode?: string | null;
}

/** Secret and provisioning URI of an enrolment that is awaiting its first code. */
export interface TotpEnrollmentStart {
  secret: string;
  otpauthUri: string;
}

// One step either side of the current 30-second step, for clock drift between phone and server.
const TOTP_WINDOW = 1;
const RECOVERY_CODE_COUNT = 10;

const given = (value: string | null | undefined): string | null =>
  typeof value === 'string' && value !== '' ? value : null;

/**
 * TOTP second factor: enrolment with confirmation, verification with replay protection
 * (`totp_last_step`), single-use recovery codes, and a lockout counter of its own.
 */
export class MfaService {
  constructor(
    private readonly config: Config,
    private readonly vault: PhiVault,
    private readonly recorder?: SignInRecorder,
  ) {}

  /** Seals a new pending secret for the account and returns it once, with its otpauth URI. */
  async startEnrollment(em: EntityManager, user: User): Promise<TotpEnrollmentStart> {
    const secret = generateTotpSecret();
    await this.vault.assign(em, user, { totpPendingSecret: secret, updatedAt: new Date() });
    await em.flush();
    // The account label is the user's own email, shown only to them in their authenticator.
    const email = String(await this.vault.open(em, user, 'email'));
    const account = email.includes(':') ? user.id : email;
    return { secret, otpauthUri: totpUri({ issuer: this.config.auth.mfaIssuer, account, secret }) };
  }

  /**
   * Confirms a pending enrolment with a code from the authenticator: the secret becomes the
   * account's factor (replacing any earlier one) and ten new recovery codes are returned, once.
   */
  async confirmEnrollment(em: EntityManager, user: User, code: string, log: Logger): Promise<string[]> {
    const now = new Date();
    if (!user.totpPendingSecret) throw badUserInput('No enrolment is in progress; call enrollTotp first', 'code');
    if (isLocked(user.mfaLockedUntil, now)) {
      log.warn({ userId: user.id }, 'second factor refused: locked');
      await this.recordFailure({ log }, user, 'locked');
      throw invalidSecondFactor();
    }
    const secret = String(await this.vault.open(em, user, 'totpPendingSecret'));
    const entered = typeof code === 'string' ? code.trim() : '';
    const result = verifyTotp(secret, entered, now.getTime(), { window: TOTP_WINDOW });
    if (!result.ok) return this.fail(em, user, now, { log });

    const codes = generateRecoveryCodes(RECOVERY_CODE_COUNT);
    await this.vault.assign(em, user, {
      totpSecret: secret,
      totpPendingSecret: null,
      totpEnabledAt: now,
      totpLastStep: String(result.step),
      recoveryCodeHashes: codes.map(hashRecoveryCode),
      updatedAt: now,
    });
    await em.flush();
    await em.execute('UPDATE users SET failed_mfa_count = 0, mfa_locked_until = NULL WHERE id = ?', [user.id]);
    log.info({ userId: user.id }, 'TOTP enrolled');
    return codes;
  }

  /**
   * Checks a second factor or throws UNAUTHENTICATED (one message for wrong, replayed, used and
   * locked). Acceptance is a conditional UPDATE, so a code or recovery code is accepted once
   * even when two requests present it at the same moment. `client` gives the failure records the
   * client's address; only the sign-in step has it (step-up, removal and enrolment record without it).
   */
  async verify(
    em: EntityManager,
    user: User,
    factor: SecondFactor,
    log: Logger,
    client?: Omit<ClientFrom, 'log'>,
  ): Promise<void> {
    const now = new Date();
    if (!user.totpEnabledAt || !user.totpSecret) throw badUserInput('No second factor is enrolled', 'code');
    const code = given(factor.code)?.trim() || null;
    const recoveryCode = given(factor.recoveryCode);
    if ((code === null) === (recoveryCode === null)) {
      throw badUserInput('Give either a code or a recovery code', 'code');
    }
    if (isLocked(user.mfaLockedUntil, now)) {
      log.warn({ userId: user.id }, 'second factor refused: locked');
      await this.recordFailure({ ...client, log }, user, 'locked');
      throw invalidSecondFactor();
    }

    const accepted =
      code !== null
        ? await this.acceptTotp(em, user, code, now)
        : await this.acceptRecoveryCode(em, user, recoveryCode as string, now);
    if (!accepted) return this.fail(em, user, now, { ...client, log });
    log.info({ userId: user.id, method: code !== null ? 'totp' : 'recovery-code' }, 'second factor passed');
  }

  /** Removes the TOTP factor after a valid code; refused for roles that must keep a second factor. */
  async disable(em: EntityManager, user: User, code: string, log: Logger): Promise<void> {
    if (this.config.auth.mfaRequiredRoles.includes(user.role)) {
      throw new AppError('This role requires a second factor; enrol a new authenticator instead', 'FORBIDDEN');
    }
    await this.verify(em, user, { code }, log);
    await em.execute(
      `UPDATE users SET totp_secret = NULL, totp_pending_secret = NULL, totp_enabled_at = NULL, totp_last_step = NULL,
         recovery_code_hashes = '{}', updated_at = ?::timestamptz WHERE id = ?`,
      [new Date().toISOString(), user.id],
    );
    log.info({ userId: user.id }, 'TOTP disabled');
  }

  private async acceptTotp(em: EntityManager, user: User, code: string, now: Date): Promise<boolean> {
    const secret = String(await this.vault.open(em, user, 'totpSecret'));
    const lastUsedStep = user.totpLastStep == null ? undefined : Number(user.totpLastStep);
    const result = verifyTotp(secret, code, now.getTime(), { window: TOTP_WINDOW, lastUsedStep });
    if (!result.ok) return false;
    const rows = await em.execute(
      `UPDATE users SET totp_last_step = ?, failed_mfa_count = 0, mfa_locked_until = NULL, updated_at = ?::timestamptz
       WHERE id = ? AND (totp_last_step IS NULL OR totp_last_step < ?) RETURNING id`,
      [result.step, now.toISOString(), user.id, result.step],
    );
    return rows.length > 0;
  }

  private async acceptRecoveryCode(em: EntityManager, user: User, input: string, now: Date): Promise<boolean> {
    const index = matchRecoveryCode(input, user.recoveryCodeHashes);
    if (index === -1) return false;
    const hash = user.recoveryCodeHashes[index];
    const rows = await em.execute(
      `UPDATE users SET recovery_code_hashes = array_remove(recovery_code_hashes, ?), failed_mfa_count = 0,
         mfa_locked_until = NULL, updated_at = ?::timestamptz
       WHERE id = ? AND ? = ANY(recovery_code_hashes) RETURNING id`,
      [hash, now.toISOString(), user.id, hash],
    );
    return rows.length > 0;
  }

  private async fail(em: EntityManager, user: User, now: Date, client: ClientFrom): Promise<never> {
    const locked = await recordFailure(em, user.id, 'mfa', this.lockoutPolicy(), now);
    client.log.warn({ userId: user.id, locked }, 'second factor failed');
    await this.recordFailure(client, user, 'wrong-code');
    if (locked) await this.recorder?.locked(client, user.id, 'mfa');
    throw invalidSecondFactor();
  }

  /** A refused second factor: `auth.mfa` DENIED and MFA_FAILED (LOW), with a reason code, never the code. */
  private async recordFailure(client: ClientFrom, user: User, reason: 'wrong-code' | 'locked'): Promise<void> {
    await this.recorder?.failed(client, { action: 'auth.mfa', eventType: 'MFA_FAILED', severity: 'LOW', reason, user });
  }

  private lockoutPolicy() {
    return { threshold: this.config.auth.lockoutThreshold, seconds: this.config.auth.lockoutSeconds };
  }
}
