import { Ctx, Query, Resolver } from 'type-graphql';

import { requireRole } from '../access/role.guard';
import { allowed } from '../audit/audit.service';
import type { GraphQLContext } from '../graphql/context';
import { RESEARCH_FIELDS } from './research-export.service';
import { ResearchDataset } from './research.types';

/** The de-identified research dataset (HIPAA Safe Harbor), for privacy officers. */
@Resolver()
export class ResearchResolver {
  @Query(() => ResearchDataset, {
    description:
      'De-identified dataset (HIPAA Safe Harbor) of every unrestricted patient whose RESEARCH consent is current. ' +
      'PRIVACY_OFFICER only; each included patient is audited with purpose RESEARCH.',
  })
  async researchExport(@Ctx() ctx: GraphQLContext): Promise<ResearchDataset> {
    requireRole(ctx, 'PRIVACY_OFFICER');

    const { dataset, patientIds } = await ctx.services.research.export(ctx.em);

    await ctx.services.audit.record(
      ctx,
      patientIds.map((id) => allowed('research.export', id, 'RESEARCH', RESEARCH_FIELDS)),
    );
    return dataset;
  }
}
