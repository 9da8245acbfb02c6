import {
  DirectiveLocation,
  GraphQLDirective,
  GraphQLInt,
  GraphQLNonNull,
  GraphQLString,
  isObjectType,
  type GraphQLSchema,
} from 'graphql';

import { RATE_LIMITS } from './rate-limit.limits';

/** Declares `@rateLimit` in the SDL; repeatable, since a field may carry several limits (login: address and account). */
export const rateLimitDirective = new GraphQLDirective({
  name: 'rateLimit',
  description:
    'At most `max` calls per `window` (s, m or h) per `per` (ip, user, account or challenge); beyond it the field answers RATE_LIMITED with extensions.retryAfterSeconds. Every listed limit applies.',
  locations: [DirectiveLocation.FIELD_DEFINITION],
  isRepeatable: true,
  args: {
    max: { type: new GraphQLNonNull(GraphQLInt) },
    window: { type: new GraphQLNonNull(GraphQLString) },
    per: { type: new GraphQLNonNull(GraphQLString) },
  },
});

/**
 * Marks every field of the limits table that the schema has with `@rateLimit`, from the table
 * itself, so the SDL cannot disagree with what the rules enforce. Values are the base limits
 * (RATE_LIMIT_MULTIPLIER is a deployment setting, not part of the contract). Fields not in the
 * schema yet are skipped.
 */
export function markRateLimitedFields(schema: GraphQLSchema): void {
  for (const spec of RATE_LIMITS) {
    const [typeName, fieldName] = spec.field.split('.');
    const type = schema.getType(typeName);
    const field = isObjectType(type) ? type.getFields()[fieldName] : undefined;
    if (!field) continue;
    const extensions = { ...field.extensions } as { directives?: Record<string, unknown[]> };
    const directives = { ...extensions.directives };
    directives.rateLimit = [...(directives.rateLimit ?? []), { max: spec.max, window: spec.window, per: spec.per }];
    Object.assign(field, { extensions: { ...extensions, directives } });
  }
}
