import { chain, rule } from 'graphql-shield';
import type { IRule } from 'graphql-shield';

import type { GraphQLContext } from '../graphql/context';
import { limitsFor, RATE_LIMITS, type LimitedField, type RateLimitSpec } from './rate-limit.limits';

export { RATE_LIMITS, type RateLimitSpec } from './rate-limit.limits';

/** A rule or a logic rule (and, chain, ...), as graphql-shield's combinators take them. */
type ShieldRule = Parameters<typeof chain>[number];

/**
 * One shield rule per limit, built once at module load. `no_cache` matters: a cached rule would be
 * evaluated once per request, so ten aliases of a field would count as one call. The rule returns
 * its error rather than throwing it, because shield turns a thrown error into a plain refusal.
 *
 * Not graphql-rate-limit's createRateLimitRule: that binds one store when this module loads, while
 * the store belongs to each server's services (built from its configuration), and it reduces a
 * refusal to a message, while ours carries retryAfterSeconds and a security event. The rule calls
 * the library's limiter through `services.rateLimiter` instead.
 */
const RULES = new Map<string, IRule>(
  RATE_LIMITS.map((spec) => [
    spec.id,
    rule(`rateLimit(${spec.id})`, { cache: 'no_cache' })((parent, args, ctx: GraphQLContext, info) =>
      ctx.services.rateLimiter.check(spec, { parent, args, ctx, info }),
    ),
  ]),
);
const SPEC_OF_RULE = new Map<unknown, RateLimitSpec>(RATE_LIMITS.map((spec) => [RULES.get(spec.id), spec]));

/**
 * The access rule of `field` followed by every limit the table declares for it, in order: a caller
 * the access rule refuses spends nothing, and a call refused by the first limit is not counted by
 * the next (for `login`, a client over its address limit does not spend the account's attempts).
 */
export function limited(field: LimitedField, access: ShieldRule): ReturnType<typeof chain> {
  const limits = limitsFor(field);
  if (limits.length === 0) throw new Error(`no rate limit is declared for ${field}`);
  return chain(access, ...limits.map((spec) => RULES.get(spec.id) as IRule));
}

/** The limits a rule tree entry applies, found by walking its logic rules (used by tests). */
export function limitsInRule(entry: unknown): RateLimitSpec[] {
  const spec = SPEC_OF_RULE.get(entry);
  if (spec) return [spec];
  const children = (entry as { getRules?: () => unknown[] } | null)?.getRules?.() ?? [];
  return children.flatMap(limitsInRule);
}
