import { Arg, Ctx, ID, Mutation, Query, Resolver } from 'type-graphql';

import { allowed } from '../audit/audit.service';
import { User } from '../auth/user.entity';
import type { GraphQLContext } from '../graphql/context';
import { PhiArg } from '../phi/phi.decorator';
import { PhiCategory } from '../phi/phi.types';
import { notFound } from '../graphql/errors';
import { BreakGlassGrant } from './break-glass-grant.entity';
import { assertPatientExists } from './care-team.service';
import { forget } from './reach';
import { requireRole } from './role.guard';

/**
 * Care teams. Role gates are shield rules (access.rules.ts), repeated here; whether a caller may
 * see a given patient's team is decided here, and a refusal answers like a missing patient.
 */
@Resolver()
export class CareTeamResolver {
  @Mutation(() => Boolean, {
    description:
      'ADMIN: puts an enabled PHYSICIAN, NURSE or ADMIN (not yourself) on a patient’s care team; idempotent.',
  })
  async assignCareTeam(
    @Arg('patientId', () => ID) patientId: string,
    @Arg('userId', () => ID) userId: string,
    @Ctx() ctx: GraphQLContext,
  ): Promise<boolean> {
    const actor = requireRole(ctx, 'ADMIN');
    const { careTeams, audit } = ctx.services;
    const added = await careTeams.assign(ctx.em, actor.userId, patientId, userId, (_changed, em) =>
      audit.record({ ...ctx, em }, [allowed('care_team.assign', patientId, 'OPERATIONS', ['userId'])]),
    );
    forget(ctx, patientId);
    // The audit row has no column for the member; this line (same request id) names them.
    ctx.log.info({ memberId: userId, by: actor.userId, added }, 'care team member assigned');
    return true;
  }

  @Mutation(() => Boolean, {
    description: 'ADMIN: takes a user off a patient’s care team; their access ends with their next request.',
  })
  async removeCareTeamMember(
    @Arg('patientId', () => ID) patientId: string,
    @Arg('userId', () => ID) userId: string,
    @Ctx() ctx: GraphQLContext,
  ): Promise<boolean> {
    const actor = requireRole(ctx, 'ADMIN');
    const { careTeams, audit } = ctx.services;
    const removed = await careTeams.remove(ctx.em, patientId, userId, (_changed, em) =>
      audit.record({ ...ctx, em }, [allowed('care_team.remove', patientId, 'OPERATIONS', ['userId'])]),
    );
    forget(ctx, patientId);
    ctx.log.info({ memberId: userId, by: actor.userId, removed }, 'care team member removed');
    return true;
  }

  @Query(() => [User], {
    description: 'A patient’s care team: for ADMIN and for members of that team; NOT_FOUND for anyone else.',
  })
  async careTeam(@Arg('patientId', () => ID) patientId: string, @Ctx() ctx: GraphQLContext): Promise<User[]> {
    const actor = requireRole(ctx, 'ADMIN', 'PHYSICIAN', 'NURSE');
    const { careTeams, audit } = ctx.services;
    await assertPatientExists(ctx.em, patientId);
    const member = await careTeams.isMember(ctx.em, patientId, actor.userId);
    if (!member && actor.role !== 'ADMIN') throw notFound('Patient');

    const users = await careTeams.members(ctx.em, patientId);
    await audit.record(ctx, [allowed('care_team.read', patientId, member ? 'TREATMENT' : 'OPERATIONS')]);
    return users;
  }
}

/** Break-glass: opening, listing and revoking emergency access grants. */
@Resolver(() => BreakGlassGrant)
export class BreakGlassResolver {
  @Mutation(() => BreakGlassGrant, {
    description:
      'PHYSICIAN or NURSE outside the care team: emergency access to one patient for a limited time. ' +
      'The reason (10 to 500 characters) is stored sealed; each grant raises a security event for privacy-officer ' +
      'review. Accounts with TOTP need a second factor from the last 10 minutes (stepUpMfa).',
  })
  async breakGlass(
    @Arg('patientId', () => ID) patientId: string,
    @PhiArg(PhiCategory.CLINICAL) @Arg('reason', () => String) reason: string,
    @Ctx() ctx: GraphQLContext,
  ): Promise<BreakGlassGrant> {
    const actor = requireRole(ctx, 'PHYSICIAN', 'NURSE');
    const { breakGlass, audit } = ctx.services;
    const grant = await breakGlass.grant(ctx.em, actor, patientId, reason, async (opened, minutes, em) => {
      // Ids and the duration only: the reason may describe the patient and stays sealed.
      await audit.securityEvent(em, {
        eventType: 'BREAK_GLASS',
        severity: 'HIGH',
        actorId: actor.userId,
        patientId: opened.patientId,
        details: { grantId: opened.id, minutes },
      });
      await audit.record({ ...ctx, em }, [allowed('break_glass.grant', opened.patientId, 'EMERGENCY', ['reason'])]);
    });
    forget(ctx, grant.patientId);
    ctx.log.warn({ grantId: grant.id, by: actor.userId }, 'break-glass access granted');
    return grant;
  }

  @Query(() => [BreakGlassGrant], {
    description:
      'Break-glass grants, newest first (at most 500): all of them for PRIVACY_OFFICER and ADMIN, ' +
      'your own for clinicians.',
  })
  async breakGlassGrants(
    @Arg('activeOnly', () => Boolean, { nullable: true, defaultValue: true }) activeOnly: boolean | null,
    @Ctx() ctx: GraphQLContext,
  ): Promise<BreakGlassGrant[]> {
    const actor = requireRole(ctx, 'PRIVACY_OFFICER', 'ADMIN', 'PHYSICIAN', 'NURSE');
    const ownerId = actor.role === 'PHYSICIAN' || actor.role === 'NURSE' ? actor.userId : null;
    return ctx.services.breakGlass.list(ctx.em, ownerId, activeOnly !== false);
  }

  @Mutation(() => Boolean, {
    description: 'Ends a break-glass grant at once: PRIVACY_OFFICER, ADMIN, or the clinician who holds it.',
  })
  async revokeBreakGlass(@Arg('grantId', () => ID) grantId: string, @Ctx() ctx: GraphQLContext): Promise<boolean> {
    const actor = requireRole(ctx, 'PRIVACY_OFFICER', 'ADMIN', 'PHYSICIAN', 'NURSE');
    // Revocation stands even if its audit row then fails: keeping emergency access open would be worse.
    const grant = await ctx.services.breakGlass.revoke(ctx.em, actor, grantId);
    forget(ctx, grant.patientId);
    await ctx.services.audit.record(ctx, [allowed('break_glass.revoke', grant.patientId, 'OPERATIONS')]);
    ctx.log.info({ grantId: grant.id, by: actor.userId }, 'break-glass access revoked');
    return true;
  }
}
