import type { GraphQLResolveInfo } from 'graphql';
import { getFieldIdentity, getGraphQLRateLimiter, type Identity } from 'graphql-rate-limit';

import type { AuditService } from '../audit/audit.service';
import { normalizeEmail } from '../auth/validation';
import type { Config } from '../config/config';
import type { GraphQLContext } from '../graphql/context';
import { rateLimited, type AppError } from '../graphql/errors';
import type { Logger } from '../logging/logger';
import { RATE_LIMITS, scaledMax, windowMs, type RateLimitSpec } from './rate-limit.limits';
import {
  AtomicWindowStore,
  LIBRARY_MAX,
  MemoryCounterStore,
  RedisCounterStore,
  storeKey,
  type CounterStore,
  type Refusal,
} from './rate-limit.store';
import { clientBucket, SubjectDigest } from './rate-limit.subject';

/** What a fail-closed field answers while the store is unreachable: RATE_LIMITED, retry soon. */
export const STORE_DOWN_RETRY_SECONDS = 30;
const WARNING_INTERVAL_MS = 10_000;

type Limiter = ReturnType<typeof getGraphQLRateLimiter>;

/** What graphql-rate-limit sees as the "context": only the identity, never the request's state. */
interface LimiterContext {
  identity: string;
}

/** One resolver call, as a shield rule receives it. */
export interface LimitedCall {
  parent: unknown;
  args: Record<string, unknown>;
  ctx: GraphQLContext;
  info: GraphQLResolveInfo;
}

export interface RateLimiterDeps {
  counters: CounterStore;
  keyPrefix: string;
  multiplier: number;
  digest: SubjectDigest;
  audit: AuditService;
}

/**
 * Applies the limits table. graphql-rate-limit builds the identity (ours plus its field identity),
 * parses the window; the AtomicWindowStore counts atomically and holds the real `max` (the library sees
 * `LIBRARY_MAX`, so its own check costs the same whatever the limit).
 * A refusal answers RATE_LIMITED with `retryAfterSeconds` and, the first time in a window, raises a
 * RATE_LIMIT security event. A store failure fails the field open or closed as its spec says.
 */
export class RateLimiter {
  private readonly limiters = new Map<string, Limiter>();
  /** Per limit: when its last store warning was logged, and how many were skipped since. */
  private readonly warnings = new Map<string, { at: number; suppressed: number }>();

  constructor(private readonly deps: RateLimiterDeps) {
    for (const spec of RATE_LIMITS) {
      const store = new AtomicWindowStore(deps.counters, deps.keyPrefix, windowMs(spec.window), this.maxOf(spec));
      this.limiters.set(
        spec.id,
        getGraphQLRateLimiter({ store, identifyContext: (call: LimiterContext) => call.identity }),
      );
    }
  }

  /** `max` in force for a spec (scaled by RATE_LIMIT_MULTIPLIER). */
  maxOf(spec: RateLimitSpec): number {
    return scaledMax(spec, this.deps.multiplier);
  }

  /** Counts one call against `spec`: true to go on, or the error to answer with. */
  async check(spec: RateLimitSpec, { parent, args, ctx, info }: LimitedCall): Promise<true | AppError> {
    const identity = `${spec.id}:${await this.subjectOf(spec, args, ctx)}`;
    const limiter = this.limiters.get(spec.id) as Limiter;

    let refused: string | undefined;
    try {
      const context: LimiterContext = { identity };
      refused = await limiter({ parent, args, context, info }, { max: LIBRARY_MAX, window: spec.window });
    } catch (error) {
      return this.storeUnavailable(spec, ctx, error);
    }
    if (refused === undefined) return true;

    return this.refuse(spec, ctx, {
      contextIdentity: identity,
      fieldIdentity: getFieldIdentity(info.fieldName, [], args),
    });
  }

  async close(): Promise<void> {
    await this.deps.counters.close();
  }

  private async subjectOf(spec: RateLimitSpec, args: Record<string, unknown>, ctx: GraphQLContext): Promise<string> {
    const ip = `ip:${clientBucket(ctx.ip)}`;
    switch (spec.per) {
      case 'ip':
        return ip;
      case 'user':
        return ctx.actor ? `user:${ctx.actor.userId}` : ip;
      case 'account':
        return typeof args.email === 'string' ? `account:${this.deps.digest.of(normalizeEmail(args.email))}` : ip;
      case 'challenge': {
        // Verified, not just decoded: a forged subject must not spend someone else's attempts.
        const token = args.challengeToken;
        const claims = typeof token === 'string' ? await ctx.services.auth.tokens.verifyChallenge(token) : null;
        return claims ? `user:${claims.userId}` : ip;
      }
    }
  }

  private async refuse(spec: RateLimitSpec, ctx: GraphQLContext, identity: Identity): Promise<AppError> {
    let refusal: Refusal = { retryAfterMs: windowMs(spec.window), firstInWindow: false };
    try {
      refusal = await this.deps.counters.refuse(storeKey(this.deps.keyPrefix, identity));
    } catch (error) {
      this.warn(ctx.log, spec, error);
    }
    if (refusal.firstInWindow) await this.report(spec, ctx, identity.contextIdentity.slice(spec.id.length + 1));
    return rateLimited(Math.max(1, Math.ceil(refusal.retryAfterMs / 1000)));
  }

  /** The RATE_LIMIT security event: limit, field and subject (an address, a user id or an account digest). */
  private async report(spec: RateLimitSpec, ctx: GraphQLContext, subject: string): Promise<void> {
    ctx.log.warn({ limit: spec.id, field: spec.field }, 'rate limit exceeded');
    try {
      await this.deps.audit.securityEvent(ctx.em, {
        eventType: 'RATE_LIMIT',
        severity: spec.severity,
        actorId: ctx.actor?.userId ?? null,
        details: {
          limit: spec.id,
          field: spec.field,
          max: this.maxOf(spec),
          window: spec.window,
          per: spec.per,
          subject,
        },
      });
    } catch (error) {
      ctx.log.error({ err: error, limit: spec.id }, 'rate-limit security event not recorded');
    }
  }

  private storeUnavailable(spec: RateLimitSpec, ctx: GraphQLContext, error: unknown): true | AppError {
    this.warn(ctx.log, spec, error);
    return spec.whenStoreDown === 'open' ? true : rateLimited(STORE_DOWN_RETRY_SECONDS);
  }

  /** At most one warning per limit and interval while the store is failing; the rest are counted in the next one. */
  private warn(log: Logger, spec: RateLimitSpec, error: unknown): void {
    const now = Date.now();
    const last = this.warnings.get(spec.id);
    if (last && now - last.at < WARNING_INTERVAL_MS) {
      last.suppressed += 1;
      return;
    }
    const cause = error instanceof Error ? error.message : 'unknown error';
    log.warn(
      { limit: spec.id, failOpen: spec.whenStoreDown === 'open', cause, suppressed: last?.suppressed ?? 0 },
      'rate-limit store unavailable',
    );
    this.warnings.set(spec.id, { at: now, suppressed: 0 });
  }
}

/** The rate limiter of a process: Redis counters with REDIS_URL, in-process counters without. */
export function createRateLimiter(config: Config, logger: Logger, audit: AuditService): RateLimiter {
  let lastErrorLog = 0;
  const counters: CounterStore = config.redis.url
    ? new RedisCounterStore({
        url: config.redis.url,
        password: config.redis.password,
        onError: (error) => {
          if (Date.now() - lastErrorLog < 30_000) return;
          lastErrorLog = Date.now();
          logger.warn({ code: (error as { code?: string }).code }, 'rate-limit Redis connection failing');
        },
      })
    : new MemoryCounterStore();
  if (!config.redis.url && config.isProduction) {
    logger.warn('REDIS_URL is not set: rate limits are counted per instance, not across replicas');
  }
  const { keyPrefix, multiplier } = config.rateLimit;
  return new RateLimiter({
    counters,
    keyPrefix,
    multiplier,
    digest: new SubjectDigest(config.tokens.signingSecret),
    audit,
  });
}
