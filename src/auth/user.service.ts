import { randomUUID } from 'node:crypto';
import { UniqueConstraintViolationException } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';

import { INTEGRATOR_SCOPES } from '../access/access.service';
import type { Role } from '../config/roles';
import { badUserInput, notFound } from '../graphql/errors';
import type { PhiVault } from '../keys/phi-vault';
import type { Logger } from '../logging/logger';
import type { PasswordHasher } from './password-hasher';
import { User } from './user.entity';
import { isUuid } from '../db/ids';
import { normalizeEmail, validateNewAccount, type NewAccount } from './validation';

// Longer input cannot be an address we stored; it is not even indexed.
const MAX_LOOKUP_LENGTH = 320;

const emailTaken = () => badUserInput('An account with this email already exists', 'email');
const patientTaken = () => badUserInput('This patient record already has an account', 'patientId');

/** The scopes to store: known ones only, for INTEGRATOR accounts only (others get none); BAD_USER_INPUT on `scopes` otherwise. */
function accountScopes(role: Role, scopes: readonly unknown[] | null | undefined): string[] {
  const given = scopes ?? [];
  if (given.length === 0) return [];
  if (role !== 'INTEGRATOR') throw badUserInput('Only INTEGRATOR accounts carry scopes', 'scopes');
  if (!given.every((s) => typeof s === 'string' && INTEGRATOR_SCOPES.includes(s)))
    throw badUserInput('Unknown scope', 'scopes');
  return INTEGRATOR_SCOPES.filter((s) => given.includes(s));
}

/** Accounts: creation with a sealed email and an argon2id hash, lookup by blind index, disabling. */
export class UserService {
  constructor(
    private readonly vault: PhiVault,
    private readonly hasher: PasswordHasher,
  ) {}

  /** The account with this email (normalised, looked up through its blind index), or null. */
  async findByEmail(em: EntityManager, email: string): Promise<User | null> {
    if (typeof email !== 'string' || email.length > MAX_LOOKUP_LENGTH) return null;
    const emailBidx = this.vault.indexFor(em, 'User', 'email', normalizeEmail(email));
    return em.findOne(User, { emailBidx });
  }

  /** The account with this id, or null (also for strings that cannot be an id). */
  async findById(em: EntityManager, id: string): Promise<User | null> {
    return isUuid(id) ? em.findOne(User, { id }) : null;
  }

  /**
   * Creates an account after validating every field and the password policy; a PATIENT account
   * must name an existing patient record that has no account yet; only an INTEGRATOR account
   * carries scopes. `createdBy` is logged as an id.
   */
  async create(
    em: EntityManager,
    input: NewAccount & { scopes?: readonly string[] | null },
    log: Logger,
    createdBy: string | null,
  ): Promise<User> {
    const account = validateNewAccount(input);
    const scopes = accountScopes(account.role, input.scopes);
    if (await this.findByEmail(em, account.email)) throw emailTaken();
    if (account.patientId) await this.assertLinkablePatient(em, account.patientId);

    const now = new Date();
    const user = new User();
    user.id = randomUUID();
    await this.vault.assign(em, user, { email: account.email });
    user.passwordHash = await this.hasher.hash(account.password);
    user.role = account.role;
    user.displayName = account.displayName;
    user.patientId = account.patientId ?? null;
    user.scopes = scopes;
    user.passwordChangedAt = now;
    user.createdAt = now;
    user.updatedAt = now;
    try {
      await em.persist(user).flush();
    } catch (error) {
      // The driver's message carries the key (blind index, patient id): answer by constraint name only.
      if (!(error instanceof UniqueConstraintViolationException)) throw error;
      em.getUnitOfWork().unsetIdentity(user);
      throw (error as { constraint?: string }).constraint === 'users_patient_id_unique' ? patientTaken() : emailTaken();
    }

    log.info({ userId: user.id, role: user.role, createdBy }, 'user created');
    return user;
  }

  /** Whether any ADMIN account exists, enabled or not (a disabled admin still blocks the bootstrap). */
  async hasAdmin(em: EntityManager): Promise<boolean> {
    const rows = await em.execute(`SELECT 1 FROM users WHERE role = 'ADMIN' LIMIT 1`);
    return rows.length > 0;
  }

  /** Marks an account disabled; false when it already was. Sessions are the caller's to revoke. */
  async markDisabled(em: EntityManager, userId: string, now: Date): Promise<boolean> {
    await this.assertExists(em, userId);
    const rows = await em.execute(
      `UPDATE users SET disabled_at = ?::timestamptz, updated_at = ?::timestamptz
       WHERE id = ? AND disabled_at IS NULL RETURNING id`,
      [now.toISOString(), now.toISOString(), userId],
    );
    return rows.length > 0;
  }

  /** Re-enables an account and clears its password lockout. */
  async markEnabled(em: EntityManager, userId: string, now: Date): Promise<void> {
    await this.assertExists(em, userId);
    await em.execute(
      `UPDATE users SET disabled_at = NULL, failed_login_count = 0, locked_until = NULL, updated_at = ?::timestamptz
       WHERE id = ?`,
      [now.toISOString(), userId],
    );
  }

  private async assertExists(em: EntityManager, userId: string): Promise<void> {
    const rows = isUuid(userId) ? await em.execute('SELECT 1 FROM users WHERE id = ?', [userId]) : [];
    if (rows.length === 0) throw notFound('User');
  }

  private async assertLinkablePatient(em: EntityManager, patientId: string): Promise<void> {
    const [patient] = await em.execute<{ linked: boolean }[]>(
      'SELECT EXISTS (SELECT 1 FROM users WHERE patient_id = p.id) AS linked FROM patients p WHERE p.id = ?',
      [patientId],
    );
    if (!patient) throw badUserInput('No patient record with this id', 'patientId');
    if (patient.linked) throw patientTaken();
  }
}
