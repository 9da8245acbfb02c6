import type { GraphQLResolveInfo } from 'graphql';
import { Arg, Ctx, ID, Info, Int, Query, Resolver } from 'type-graphql';

import { requireActor } from '../access/role.guard';
import type { GraphQLContext } from '../graphql/context';
import { notFound } from '../graphql/errors';
import { NOT_PHI_INPUT, NotPhiInput } from '../phi/phi.decorator';
import type { AuditEntry } from './audit.service';
import { AccessRecord, AuditEventFilter, AuditEventPage, SecurityEventFilter, SecurityEventPage } from './audit.types';

/** Names of the fields selected under `nodes` (for the audit row of a trail read; no values). */
function nodeFields(info: GraphQLResolveInfo): string[] {
  const names = new Set<string>();
  for (const node of info.fieldNodes) {
    for (const s of node.selectionSet?.selections ?? []) {
      if (s.kind !== 'Field' || s.name.value !== 'nodes') continue;
      for (const inner of s.selectionSet?.selections ?? []) {
        if (inner.kind === 'Field' && !inner.name.value.startsWith('__')) names.add(inner.name.value);
      }
    }
  }
  return [...names];
}

/** The audit row of a read of the trail; the patient is named when the read was about one. */
function trailRead(
  action: string,
  patientId: string | null | undefined,
  purpose: string,
  fields: string[],
): AuditEntry {
  return { action, patientId: patientId ?? null, purpose, outcome: 'ALLOWED', fields };
}

/**
 * Reading the audit trail: `auditEvents` and `securityEvents` for review (AUDITOR, PRIVACY_OFFICER;
 * role gates in audit.rules.ts), and `accessHistory`, a patient's "who looked at my record". Each
 * read is itself audited, committed before the page is returned.
 */
@Resolver()
export class AuditResolver {
  @Query(() => AuditEventPage, { description: 'AUDITOR, PRIVACY_OFFICER: the audit trail, newest first, filtered.' })
  async auditEvents(
    @Arg('filter', () => AuditEventFilter, { nullable: true }) filter: AuditEventFilter | null,
    @Arg('first', () => Int, { defaultValue: 20 }) first: number,
    @NotPhiInput(NOT_PHI_INPUT.cursor) @Arg('after', () => String, { nullable: true }) after: string | null,
    @Ctx() ctx: GraphQLContext,
    @Info() info: GraphQLResolveInfo,
  ): Promise<AuditEventPage> {
    requireActor(ctx);
    const given = filter ?? {};

    const page = await ctx.services.auditQueries.auditEvents(ctx.em, given, first, after);
    await ctx.services.audit.record(ctx, [trailRead('audit.read', given.patientId, 'OPERATIONS', nodeFields(info))]);

    const { nodes, endCursor, hasNextPage } = page;
    return { nodes, count: nodes.length, pageInfo: { endCursor, hasNextPage } };
  }

  @Query(() => SecurityEventPage, {
    description: 'AUDITOR, PRIVACY_OFFICER: security events (sign-in failures, refusals, ...), newest first.',
  })
  async securityEvents(
    @Arg('filter', () => SecurityEventFilter, { nullable: true }) filter: SecurityEventFilter | null,
    @Arg('first', () => Int, { defaultValue: 20 }) first: number,
    @NotPhiInput(NOT_PHI_INPUT.cursor) @Arg('after', () => String, { nullable: true }) after: string | null,
    @Ctx() ctx: GraphQLContext,
    @Info() info: GraphQLResolveInfo,
  ): Promise<SecurityEventPage> {
    requireActor(ctx);
    const given = filter ?? {};

    const page = await ctx.services.auditQueries.securityEvents(ctx.em, given, first, after);
    await ctx.services.audit.record(ctx, [trailRead('audit.read', given.patientId, 'OPERATIONS', nodeFields(info))]);

    const { nodes, endCursor, hasNextPage } = page;
    return { nodes, count: nodes.length, pageInfo: { endCursor, hasNextPage } };
  }

  @Query(() => [AccessRecord], {
    description:
      'Who accessed a patient record, newest first (at most 500): for that patient, and for PRIVACY_OFFICER and AUDITOR.',
  })
  async accessHistory(
    @Arg('patientId', () => ID) patientId: string,
    @Ctx() ctx: GraphQLContext,
  ): Promise<AccessRecord[]> {
    const actor = requireActor(ctx);
    const { auditQueries, audit } = ctx.services;
    // Another patient's history answers exactly like a patient that does not exist.
    const self = actor.role === 'PATIENT' && actor.patientId === patientId;
    const reviewer = actor.role === 'PRIVACY_OFFICER' || actor.role === 'AUDITOR';
    if (!self && !reviewer) throw notFound('Patient');
    if (!(await auditQueries.patientExists(ctx.em, patientId))) throw notFound('Patient');

    const history = await auditQueries.accessHistory(ctx.em, patientId);
    await audit.record(ctx, [
      trailRead('access_history.read', patientId, self ? 'SELF_ACCESS' : 'OPERATIONS', ['accessHistory']),
    ]);

    return history;
  }
}
