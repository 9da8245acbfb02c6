import { Arg, Ctx, ID, Mutation, Query, Resolver } from 'type-graphql';

import { forget, reachOne } from '../access/reach';
import { requireRole } from '../access/role.guard';
import { allowed } from '../audit/audit.service';
import type { GraphQLContext } from '../graphql/context';
import { forbidden, notFound } from '../graphql/errors';
import { Consent, ConsentType } from './consent.entity';
import type { ConsentRecorder } from './consent.service';
import { CONSENT_MANAGERS, ConsentInput, ConsentState } from './consent.types';

/**
 * Checks that the caller may manage this patient's consents and returns the purpose for the audit
 * row. The shield rule gates the role; the role is checked again here because ADMIN, for one,
 * reaches every patient through the access service. A patient out of reach is NOT_FOUND.
 */
async function consentPurpose(ctx: GraphQLContext, patientId: string): Promise<string> {
  const actor = requireRole(ctx, ...CONSENT_MANAGERS);
  if (!(await ctx.services.consents.patientExists(ctx.em, patientId))) throw notFound('Patient');

  // Privacy staff manage consent for any patient but are given no access decision, so no PHI.
  if (actor.role === 'PRIVACY_OFFICER') return 'PRIVACY';
  return (await reachOne(ctx, patientId)).purpose;
}

// Consents that open a patient's data to someone: an integrator (DATA_SHARING) or the care team's view of
// sensitive encounters (SENSITIVE_DATA). Only the patient, or privacy staff recording the patient's own
// signed consent, may grant them, never the staff who would gain the access.
const ACCESS_GRANTING = new Set<ConsentType>([ConsentType.DATA_SHARING, ConsentType.SENSITIVE_DATA]);

/** The caller as recorded on the consent row: PORTAL for the patient themself, API for staff. */
function recorder(ctx: GraphQLContext): ConsentRecorder {
  const actor = requireRole(ctx, ...CONSENT_MANAGERS);
  return {
    userId: actor.userId,
    role: actor.role,
    channel: actor.role === 'PATIENT' ? 'PORTAL' : 'API',
    ip: ctx.ip || null,
    userAgent: ctx.userAgent || null,
  };
}

/** Consent: grants and withdrawals as append-only records, and a patient's consent state. */
@Resolver()
export class ConsentResolver {
  @Mutation(() => Consent, {
    description:
      'Records a grant of one consent type under a policy version. DATA_SHARING and SENSITIVE_DATA, which open the ' +
      'record to others, are recorded only by the patient or by a privacy officer.',
  })
  async grantConsent(
    @Arg('input', () => ConsentInput) input: ConsentInput,
    @Ctx() ctx: GraphQLContext,
  ): Promise<Consent> {
    const purpose = await consentPurpose(ctx, input.patientId);
    const actor = requireRole(ctx, ...CONSENT_MANAGERS);
    if (ACCESS_GRANTING.has(input.type) && actor.role !== 'PATIENT' && actor.role !== 'PRIVACY_OFFICER')
      throw forbidden();

    const consent = await ctx.em.transactional(async (em) => {
      const tctx = { ...ctx, em };
      const granted = await ctx.services.consents.grant(
        em,
        input.patientId,
        input.type,
        input.policyVersion,
        recorder(ctx),
      );
      await ctx.services.audit.record(tctx, [
        allowed('consent.grant', granted.patientId, purpose, ['type', 'policyVersion']),
      ]);
      if (ACCESS_GRANTING.has(input.type) && actor.role !== 'PATIENT') {
        await ctx.services.audit.securityEvent(em, {
          eventType: 'CONSENT_RECORDED_BY_STAFF',
          severity: 'MEDIUM',
          actorId: actor.userId,
          patientId: input.patientId,
          details: { consentId: granted.id, type: input.type },
        });
      }
      return granted;
    });
    forget(ctx, input.patientId);
    return consent;
  }

  @Mutation(() => Consent, {
    description:
      'Records a withdrawal of one consent type, effective from the next request; its policyVersion is null.',
  })
  async withdrawConsent(
    @Arg('patientId', () => ID) patientId: string,
    @Arg('type', () => ConsentType) type: ConsentType,
    @Ctx() ctx: GraphQLContext,
  ): Promise<Consent> {
    const purpose = await consentPurpose(ctx, patientId);

    const consent = await ctx.em.transactional(async (em) => {
      const withdrawn = await ctx.services.consents.withdraw(em, patientId, type, recorder(ctx));
      await ctx.services.audit.record({ ...ctx, em }, [
        allowed('consent.withdraw', withdrawn.patientId, purpose, ['type']),
      ]);
      return withdrawn;
    });
    forget(ctx, patientId);
    return consent;
  }

  @Query(() => ConsentState, {
    description: "A patient's current consent per type and the full history, oldest first.",
  })
  async consents(@Arg('patientId', () => ID) patientId: string, @Ctx() ctx: GraphQLContext): Promise<ConsentState> {
    const purpose = await consentPurpose(ctx, patientId);

    const state = await ctx.services.consents.history(ctx.em, patientId);

    await ctx.services.audit.record(ctx, [allowed('consent.read', patientId, purpose, ['current', 'history'])]);
    return state;
  }
}
