import { Arg, Ctx, ID, Mutation, Resolver } from 'type-graphql';

import { requireRole } from '../../access/role.guard';
import { isUuid } from '../../db/ids';
import type { GraphQLContext } from '../../graphql/context';
import { notFound } from '../../graphql/errors';
import { allowed } from '../audit.service';

/** Behaviour analytics operations: flagging a patient record as VIP for access monitoring. */
@Resolver()
export class UebaResolver {
  @Mutation(() => Boolean, {
    description:
      'ADMIN or PRIVACY_OFFICER: flags (or unflags) a patient record as VIP; every later opening of it raises an ' +
      'ANOMALY security event. Writes only the flag; NOT_FOUND for an unknown patient.',
  })
  async setPatientVip(
    @Arg('patientId', () => ID) patientId: string,
    @Arg('vip', () => Boolean) vip: boolean,
    @Ctx() ctx: GraphQLContext,
  ): Promise<boolean> {
    const actor = requireRole(ctx, 'ADMIN', 'PRIVACY_OFFICER');
    if (!isUuid(patientId)) throw notFound('Patient');

    // The flag and its audit row commit together, or neither does.
    await ctx.em.transactional(async (em) => {
      const rows = await em.execute('UPDATE patients SET vip = ? WHERE id = ? RETURNING id', [vip, patientId]);
      if (rows.length === 0) throw notFound('Patient');
      await ctx.services.audit.record({ ...ctx, em }, [allowed('patient.vip.set', patientId, 'OPERATIONS', ['vip'])]);
    });
    ctx.log.info({ patientId, vip, by: actor.userId }, 'patient VIP flag set');
    return true;
  }
}
