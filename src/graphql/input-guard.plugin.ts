import type { ApolloServerPlugin } from '@apollo/server';
import { DirectiveLocation, GraphQLDirective, GraphQLNonNull, GraphQLString } from 'graphql';

import { findPhiInOperation, type PhiInInput } from '../phi/input-guard';
import { PHI_EXEMPT_DIRECTIVE } from '../phi/phi.decorator';
import type { GraphQLContext } from './context';
import { badUserInput, type AppError } from './errors';

/** The refusal's message, fixed: it never quotes the value. */
export const PHI_IN_INPUT_MESSAGE = 'this field must not contain personal health information';

/** Declares `@phiExempt` in the SDL: integrators see which free-text inputs are not screened, and why. */
export const phiExemptDirective = new GraphQLDirective({
  name: PHI_EXEMPT_DIRECTIVE,
  description:
    'Free text that is not screened for personal health information, with the reason (credentials and tokens, card data, server-issued cursors). Every other string input not marked @phi is screened and refused with BAD_USER_INPUT when it holds PHI.',
  locations: [DirectiveLocation.ARGUMENT_DEFINITION, DirectiveLocation.INPUT_FIELD_DEFINITION],
  args: { reason: { type: new GraphQLNonNull(GraphQLString) } },
});

// Refused before execution, so with 400; the error formatter drops `http` before the client sees it.
function phiInInput(field: string): AppError {
  const error = badUserInput(PHI_IN_INPUT_MESSAGE, field);
  error.extensions.http = { status: 400 };
  return error;
}

/**
 * The PHI_IN_INPUT security event: the field without list positions (so that the SIEM, which keeps only
 * code-shaped values, keeps it) and the kinds found; never the value. A refusal of an anonymous caller is only
 * logged: anyone can raise it in any number, it names no account, and shield would refuse the field anyway.
 */
async function report(ctx: GraphQLContext, hit: PhiInInput): Promise<void> {
  const details = { field: hit.field.replace(/\[[0-9]+\]/g, ''), kinds: hit.kinds };
  ctx.log.warn(details, 'free-text input refused: it holds PHI');
  if (!ctx.actor) return;
  try {
    await ctx.services.audit.securityEvent(ctx.services.orm.em.fork(), {
      eventType: 'PHI_IN_INPUT',
      severity: 'MEDIUM',
      actorId: ctx.actor.userId,
      details,
    });
  } catch (error) {
    ctx.log.error({ err: error, field: details.field }, 'PHI_IN_INPUT security event not recorded');
  }
}

/**
 * The PHI screen of free-text inputs (src/phi/input-guard.ts), run once the operation is resolved and before
 * anything executes: a hit refuses the whole operation with BAD_USER_INPUT naming the input's path, so no resolver
 * runs and nothing is written. Shield has not run yet, so a caller refused here learns only that the value would
 * be refused, which it sent itself.
 */
export function phiInputGuardPlugin(): ApolloServerPlugin<GraphQLContext> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ document, operation, request, schema, contextValue }) {
          const hit = operation && findPhiInOperation(schema, document, operation, request.variables);
          if (!hit) return;
          await report(contextValue, hit);
          throw phiInInput(hit.field);
        },
      };
    },
  };
}
