import type { Role } from '../config/roles';
import type { Actor, GraphQLContext } from '../graphql/context';
import { forbidden, unauthenticated } from '../graphql/errors';

/** The signed-in caller, or UNAUTHENTICATED. */
export function requireActor(ctx: GraphQLContext): Actor {
  if (!ctx.actor) throw unauthenticated();
  return ctx.actor;
}

/** The signed-in caller when their role is one of `roles`; otherwise UNAUTHENTICATED or FORBIDDEN. */
export function requireRole(ctx: GraphQLContext, ...roles: Role[]): Actor {
  const actor = requireActor(ctx);
  if (!roles.includes(actor.role)) throw forbidden();
  return actor;
}
