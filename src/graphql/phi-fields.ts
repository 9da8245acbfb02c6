import { isObjectType, type GraphQLFieldResolver, type GraphQLSchema } from 'graphql';

import { reachedAccess } from '../access/reach';
import { phiField, subjectIdOf } from '../phi/phi.decorator';
import { applyPartial, visibilityFor } from '../phi/redaction.policy';
import type { GraphQLContext } from './context';

interface PhiExtension {
  entity: string;
  property: string;
}

/**
 * Replaces the resolver of every field carrying the PHI mark: the stored envelope is decrypted
 * only when the caller may see the category of that patient's data (FULL or PARTIAL, from the
 * caller's role and relation to the patient), and a PARTIAL value is
 * reduced to its partial form. A field the caller may not see is null and never decrypted.
 * Returns how many fields were wrapped.
 */
export function wrapPhiFields(schema: GraphQLSchema): number {
  let wrapped = 0;
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type) || type.name.startsWith('__')) continue;
    for (const field of Object.values(type.getFields())) {
      const mark = field.extensions?.phi as PhiExtension | undefined;
      if (!mark) continue;
      const meta = phiField(mark.entity, mark.property);
      if (!meta?.category) throw new Error(`${type.name}.${field.name} carries @phi but is not in the PHI registry`);
      const category = meta.category;
      const resolve: GraphQLFieldResolver<Record<string, unknown>, GraphQLContext> = (source, _args, ctx) => {
        // Every resolver that hands out a patient's record decided the caller's access first;
        // without such a decision in this request the value is treated as unreachable.
        const access = reachedAccess(ctx, subjectIdOf(meta.entity, source));
        const visibility = visibilityFor(ctx.actor?.role, access?.relation, category);
        if (visibility === 'NONE') return null;
        const value = ctx.services.vault.openSync(ctx.em, meta.entity, source, meta);
        if (visibility === 'FULL') return value;
        return value instanceof Promise
          ? value.then((v) => applyPartial(meta.partial, v))
          : applyPartial(meta.partial, value);
      };
      field.resolve = resolve as GraphQLFieldResolver<unknown, unknown>;
      wrapped += 1;
    }
  }
  return wrapped;
}
