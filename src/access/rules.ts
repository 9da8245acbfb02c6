import { allow, rule } from 'graphql-shield';
import type { IRule } from 'graphql-shield';

import type { Role } from '../config/roles';
import type { GraphQLContext } from '../graphql/context';

/** Open to anyone, signed in or not. The public set is tiny: sign-in steps and health. */
export const isPublic = allow;

/** Any signed-in caller. */
export const isSignedIn = rule({ cache: 'contextual' })((_parent, _args, ctx: GraphQLContext) => ctx.actor !== null);

/**
 * An object field that is part of its parent's own data, such as `Patient.address`: a value read from the parent's
 * row and redacted with it, with no resolver that reads anything else. The caller reached the parent through a field
 * with its own rule, so this one carries that decision, and applyPermissions serves it without a shield wrapper,
 * exactly like the parent's scalar fields (a wrapped field answers a promise: for a page of 100 patients, 100 of
 * them). Should shield ever evaluate it, it admits any signed-in caller, as `isSignedIn` does.
 */
export const partOfParent = rule('partOfParent', { cache: 'contextual' })(
  (_parent, _args, ctx: GraphQLContext) => ctx.actor !== null,
);

const byRoles = new Map<string, IRule>();

/** A signed-in caller whose role is one of `roles` (one rule object per role set, cached per request). */
export function hasRole(...roles: Role[]): IRule {
  const key = [...roles].sort().join(',');
  let found = byRoles.get(key);
  if (!found) {
    found = rule(`hasRole(${key})`, { cache: 'contextual' })(
      (_parent, _args, ctx: GraphQLContext) => ctx.actor !== null && roles.includes(ctx.actor.role),
    );
    byRoles.set(key, found);
  }
  return found;
}
