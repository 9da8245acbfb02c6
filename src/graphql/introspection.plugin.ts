import { HeaderMap, type ApolloServerPlugin } from '@apollo/server';
import { BREAK, visit, type DocumentNode } from 'graphql';

import type { Actor, GraphQLContext } from './context';
import { AppError } from './errors';

/** The INTEGRATOR scope that lets an integration read the schema (one of access.service's INTEGRATOR_SCOPES). */
export const SCHEMA_READ_SCOPE = 'schema:read';

/** Whether this caller may introspect in production: ADMIN, and INTEGRATOR accounts holding `schema:read`. */
export function mayIntrospect(actor: Actor | null): boolean {
  if (!actor) return false;
  return actor.role === 'ADMIN' || (actor.role === 'INTEGRATOR' && Boolean(actor.scopes?.includes(SCHEMA_READ_SCOPE)));
}

const SCHEMA_FIELDS = new Set(['__schema', '__type']);

/**
 * True when any field of the document, in any operation or fragment, is `__schema` or `__type`.
 * `__typename` is not introspection of the schema and stays allowed.
 */
export function selectsIntrospection(document: DocumentNode): boolean {
  let found = false;
  visit(document, {
    Field(node) {
      if (!SCHEMA_FIELDS.has(node.name.value)) return undefined;
      found = true;
      return BREAK;
    },
  });
  return found;
}

// Refused before execution, so the status says so: 401 with a Bearer challenge (RFC 6750) for an
// anonymous caller, 403 for a signed-in one. The error formatter drops `http` from the extensions.
function refusal(signedIn: boolean): AppError {
  if (signedIn) return new AppError('Not allowed', 'FORBIDDEN', { http: { status: 403 } });
  return new AppError('Authentication required', 'UNAUTHENTICATED', {
    http: { status: 401, headers: new HeaderMap([['www-authenticate', 'Bearer']]) },
  });
}

/**
 * Who may introspect: in production only ADMIN, and INTEGRATOR accounts with `schema:read`;
 * elsewhere anyone (Apollo's own `introspection` switch stays on and this plugin decides). The
 * check runs per request once the caller is known, not as a validation rule, because Apollo
 * caches validation per document and would reuse one caller's answer for the next. The GraphiQL
 * page, when an operator turns it on in production, is static and reads the schema through
 * introspection, so it is only usable with such an account's token.
 */
export function introspectionPolicyPlugin(options: { restricted: boolean }): ApolloServerPlugin<GraphQLContext> {
  return {
    async requestDidStart() {
      if (!options.restricted) return undefined;
      return {
        async didResolveOperation({ document, contextValue }) {
          if (!selectsIntrospection(document)) return;
          if (mayIntrospect(contextValue.actor)) return;
          throw refusal(contextValue.actor !== null);
        },
      };
    },
  };
}
