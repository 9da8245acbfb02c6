import type { Severity } from '../audit/audit.service';

/** Whose calls share one counter. */
export type RateLimitScope =
  /** The client address express derives under TRUST_PROXY (IPv6 grouped by /64). */
  | 'ip'
  /** The signed-in user (the access rule runs first, so there always is one). */
  | 'user'
  /** The account named by the `email` argument, normalised as sign-in looks it up. */
  | 'account'
  /** The account a valid MFA challenge token was issued to (client address when it is not valid). */
  | 'challenge';

/** A root field, as `Type.field`. */
export type LimitedField = `${'Query' | 'Mutation'}.${string}`;

/** One limit: at most `max` calls per `window` per scope; a field may carry several, all of which apply. */
export interface RateLimitSpec {
  /** Stable name: part of the store key and of the RATE_LIMIT security event. */
  id: string;
  field: LimitedField;
  max: number;
  /** A duration in graphql-rate-limit's `ms` notation, restricted to `<n>s`, `<n>m`, `<n>h`. */
  window: string;
  per: RateLimitScope;
  /**
   * When the store cannot be reached: `closed` refuses the call (RATE_LIMITED), `open` lets it
   * through with a logged warning. Sign-in, card and export operations fail closed.
   */
  whenStoreDown: 'open' | 'closed';
  /** Severity of the security event raised the first time a window is exceeded. */
  severity: Severity;
}

/**
 * The limits table. Limits are base values: RATE_LIMIT_MULTIPLIER scales every `max` (benchmarks).
 * A field listed here must be wrapped with `limited(...)` in its rules file (a test fails for a field in the schema
 * whose rule misses its limit).
 */
export const RATE_LIMITS: readonly RateLimitSpec[] = [
  {
    id: 'login.ip',
    field: 'Mutation.login',
    max: 5,
    window: '1m',
    per: 'ip',
    whenStoreDown: 'closed',
    severity: 'MEDIUM',
  },
  {
    id: 'login.account',
    field: 'Mutation.login',
    max: 5,
    window: '15m',
    per: 'account',
    whenStoreDown: 'closed',
    severity: 'HIGH',
  },
  {
    id: 'verifyMfa.ip',
    field: 'Mutation.verifyMfa',
    max: 20,
    window: '1m',
    per: 'ip',
    whenStoreDown: 'closed',
    severity: 'MEDIUM',
  },
  {
    id: 'verifyMfa.account',
    field: 'Mutation.verifyMfa',
    max: 5,
    window: '5m',
    per: 'challenge',
    whenStoreDown: 'closed',
    severity: 'HIGH',
  },
  {
    id: 'refreshSession.ip',
    field: 'Mutation.refreshSession',
    max: 30,
    window: '1m',
    per: 'ip',
    whenStoreDown: 'closed',
    severity: 'MEDIUM',
  },
  {
    id: 'patients.user',
    field: 'Query.patients',
    max: 60,
    window: '1m',
    per: 'user',
    whenStoreDown: 'open',
    severity: 'MEDIUM',
  },
  {
    id: 'findPatients.user',
    field: 'Query.findPatients',
    max: 30,
    window: '1m',
    per: 'user',
    whenStoreDown: 'open',
    severity: 'MEDIUM',
  },
  // Emergency access must not depend on Redis being up; every grant is audited and reviewed anyway.
  {
    id: 'breakGlass.user',
    field: 'Mutation.breakGlass',
    max: 10,
    window: '1h',
    per: 'user',
    whenStoreDown: 'open',
    severity: 'HIGH',
  },
  {
    id: 'requestDataExport.user',
    field: 'Mutation.requestDataExport',
    max: 5,
    window: '1h',
    per: 'user',
    whenStoreDown: 'closed',
    severity: 'MEDIUM',
  },
  // Reading the audit trail: generous for an investigation, but a bulk copy of who-saw-whom is throttled.
  {
    id: 'auditEvents.user',
    field: 'Query.auditEvents',
    max: 600,
    window: '1h',
    per: 'user',
    whenStoreDown: 'open',
    severity: 'MEDIUM',
  },
  {
    id: 'securityEvents.user',
    field: 'Query.securityEvents',
    max: 600,
    window: '1h',
    per: 'user',
    whenStoreDown: 'open',
    severity: 'MEDIUM',
  },
  {
    id: 'accessHistory.user',
    field: 'Query.accessHistory',
    max: 60,
    window: '1h',
    per: 'user',
    whenStoreDown: 'open',
    severity: 'MEDIUM',
  },
  {
    id: 'researchExport.user',
    field: 'Query.researchExport',
    max: 10,
    window: '1h',
    per: 'user',
    whenStoreDown: 'closed',
    severity: 'MEDIUM',
  },
  {
    id: 'tokenizeCard.user',
    field: 'Mutation.tokenizeCard',
    max: 20,
    window: '1h',
    per: 'user',
    whenStoreDown: 'closed',
    severity: 'HIGH',
  },
  {
    id: 'tokenizeCard.ip',
    field: 'Mutation.tokenizeCard',
    max: 30,
    window: '1h',
    per: 'ip',
    whenStoreDown: 'closed',
    severity: 'HIGH',
  },
];

const WINDOW = /^([1-9][0-9]*)(s|m|h)$/;
const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000 } as const;

/**
 * A window in milliseconds. graphql-rate-limit parses the same string with `ms` for its own
 * decision, but never hands the result to the store's read; a test checks that both agree.
 */
export function windowMs(window: string): number {
  const match = WINDOW.exec(window);
  if (!match) throw new Error(`rate-limit window "${window}" is not <n>s, <n>m or <n>h`);
  return Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
}

/** The limits of one field, in table order (the order the rule checks them). */
export function limitsFor(field: LimitedField): RateLimitSpec[] {
  return RATE_LIMITS.filter((spec) => spec.field === field);
}

/** `max` scaled by RATE_LIMIT_MULTIPLIER, never below one call. */
export function scaledMax(spec: RateLimitSpec, multiplier: number): number {
  return Math.max(1, Math.floor(spec.max * multiplier));
}

for (const spec of RATE_LIMITS) windowMs(spec.window);
if (new Set(RATE_LIMITS.map((spec) => spec.id)).size !== RATE_LIMITS.length)
  throw new Error('rate-limit ids must be unique');
