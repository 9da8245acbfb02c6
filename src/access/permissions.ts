import { getNamedType, isLeafType, isObjectType, type GraphQLResolveInfo, type GraphQLSchema } from 'graphql';
import { applyMiddleware, type IMiddlewareFunction } from 'graphql-middleware';
import { deny, shield, type IRules } from 'graphql-shield';

import { auditRules } from '../audit/audit.rules';
import { authRules } from '../auth/auth.rules';
import { billingRules } from '../billing/billing.rules';
import { uebaRules } from '../audit/ueba/ueba.rules';
import { consentRules } from '../consent/consent.rules';
import type { GraphQLContext } from '../graphql/context';
import { forbidden, unauthenticated } from '../graphql/errors';
import { patientRules } from '../patients/patient.rules';
import { researchRules } from '../privacy/research.rules';
import { privacyRules } from '../privacy/privacy.rules';
import { accessRules } from './access.rules';
import { isPublic, partOfParent } from './rules';

type RuleTree = Record<string, Record<string, unknown>>;

/** Every feature's rules, merged: root fields and object-returning fields, each named explicitly. */
export function ruleTree(): RuleTree {
  const tree: RuleTree = { Query: { health: isPublic }, Mutation: {} };
  for (const part of [
    authRules,
    patientRules,
    accessRules,
    consentRules,
    auditRules,
    billingRules,
    uebaRules,
    researchRules,
    privacyRules,
  ] as RuleTree[]) {
    for (const [type, fields] of Object.entries(part)) {
      for (const field of Object.keys(fields)) {
        if (tree[type]?.[field]) throw new Error(`rule for ${type}.${field} is declared twice`);
      }
      tree[type] = { ...tree[type], ...fields };
    }
  }
  return tree;
}

// Fields refused in each request, so that a list of a hundred refused rows raises one event, not a hundred.
const refusedInRequest = new WeakMap<object, Set<string>>();

/**
 * Records a shield refusal of a signed-in caller as one FORBIDDEN security event per request and
 * field. Fire and forget on its own connection: the refusal is answered at once, and a failed
 * write is logged, never turned into another error. Anonymous refusals (UNAUTHENTICATED) are not
 * recorded: anyone can raise them in any number, and they name no account.
 */
function recordRefusal(ctx: GraphQLContext, info: GraphQLResolveInfo | undefined): void {
  const actor = ctx.actor;
  if (!actor || !info) return;
  const field = `${info.parentType.name}.${info.fieldName}`;
  let seen = refusedInRequest.get(ctx);
  if (!seen) refusedInRequest.set(ctx, (seen = new Set()));
  if (seen.has(field)) return;
  seen.add(field);
  const details = { field, role: actor.role, sessionId: actor.sessionId, requestId: ctx.requestId };
  const failed = (error: unknown) => ctx.log?.error({ err: error, field }, 'could not record a refused access');
  try {
    ctx.services.audit
      .securityEvent(ctx.services.orm.em.fork(), {
        eventType: 'FORBIDDEN',
        severity: 'LOW',
        actorId: actor.userId,
        details,
      })
      .catch(failed);
  } catch (error) {
    failed(error);
  }
}

/**
 * graphql-shield, deny by default: a field without a rule is refused. Resolver errors pass
 * through unchanged (the error formatter masks unexpected ones); a refused rule answers
 * UNAUTHENTICATED to anonymous callers and FORBIDDEN otherwise.
 *
 * Scalar and enum fields of object types (not Query/Mutation) are left unwrapped: such an object
 * can only be reached through a root or object field that has its own rule, and wrapping every
 * leaf in an async rule costs about two thirds of list throughput (see PERFORMANCE.md). Object
 * fields whose explicit rule is `partOfParent` (value objects stored in the parent's row) are left
 * unwrapped for the same reason. A test walks the schema to prove every root and object-returning
 * field has an explicit rule.
 */
export function applyPermissions(schema: GraphQLSchema): GraphQLSchema {
  const tree = ruleTree();
  const permissions = shield(tree as IRules, {
    fallbackRule: deny,
    allowExternalErrors: false,
    debug: false,
    fallbackError: (error: unknown, _parent: unknown, _args: unknown, ctx: unknown, info?: GraphQLResolveInfo) => {
      if (error instanceof Error) return error;
      recordRefusal(ctx as GraphQLContext, info);
      return (ctx as GraphQLContext).actor ? forbidden() : unauthenticated();
    },
  });
  const generated = permissions.generate(schema) as Record<string, Record<string, IMiddlewareFunction>>;
  for (const [typeName, fields] of Object.entries(generated)) {
    const type = schema.getType(typeName);
    if (!isObjectType(type) || typeName === 'Query' || typeName === 'Mutation' || typeName === 'Subscription') continue;
    for (const [fieldName, field] of Object.entries(type.getFields())) {
      const rule = tree[typeName]?.[fieldName];
      if ((isLeafType(getNamedType(field.type)) && !rule) || rule === partOfParent) delete fields[fieldName];
    }
  }
  return applyMiddleware(schema, generated);
}

/** Root fields and object-returning fields lacking an explicit rule (the schema-walk test uses it). */
export function fieldsWithoutRule(schema: GraphQLSchema): string[] {
  const tree = ruleTree();
  const missing: string[] = [];
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type) || type.name.startsWith('__')) continue;
    const root = type.name === 'Query' || type.name === 'Mutation';
    for (const [name, field] of Object.entries(type.getFields())) {
      const needsRule = root || !isLeafType(getNamedType(field.type));
      if (needsRule && !tree[type.name]?.[name]) missing.push(`${type.name}.${name}`);
    }
  }
  return missing;
}
