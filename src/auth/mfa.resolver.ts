import { Arg, Ctx, Mutation, Resolver } from 'type-graphql';

import type { GraphQLContext } from '../graphql/context';
import { AppError } from '../graphql/errors';
import { NOT_PHI_INPUT, NotPhiInput } from '../phi/phi.decorator';
import { clientOf, tokenPayload } from './auth.resolver';
import { requireActor } from './auth.guard';
import { AuthPayload, TotpConfirmation, TotpEnrollment } from './auth.types';
import type { User } from './user.entity';

/** Replacing an enrolled authenticator needs a second-factor check this recent. */
const REENROL_MFA_MAX_AGE_MS = 10 * 60_000;

/**
 * The account an enrolment operation acts on: from an enrolment challenge (first sign-in of a
 * role that requires MFA) or from the caller's session. Replacing an enrolled factor from a
 * session needs a recent step-up, so a stolen access token alone cannot swap the authenticator.
 */
async function enrollingUser(
  ctx: GraphQLContext,
  challengeToken: string | null,
): Promise<{ user: User; viaChallenge: boolean }> {
  const { auth } = ctx.services;
  if (challengeToken) return { user: await auth.challengedUser(ctx.em, challengeToken, 'enrol'), viaChallenge: true };
  const actor = requireActor(ctx);
  const user = await auth.accountOf(ctx.em, actor);
  const recentMfa = actor.mfaAt && Date.now() - actor.mfaAt.getTime() <= REENROL_MFA_MAX_AGE_MS;
  if (user.totpEnabledAt && !recentMfa) {
    throw new AppError('Confirm your current second factor first (stepUpMfa)', 'FORBIDDEN');
  }
  return { user, viaChallenge: false };
}

/** TOTP enrolment, step-up and removal. */
@Resolver()
export class MfaResolver {
  @Mutation(() => TotpEnrollment, {
    description: 'Starts TOTP enrolment, signed in or with an enrolment challenge; the secret is shown only here.',
  })
  async enrollTotp(
    @NotPhiInput(NOT_PHI_INPUT.token)
    @Arg('challengeToken', () => String, { nullable: true })
    challengeToken: string | null,
    @Ctx() ctx: GraphQLContext,
  ): Promise<TotpEnrollment> {
    const { user } = await enrollingUser(ctx, challengeToken);
    const started = await ctx.services.auth.mfa.startEnrollment(ctx.em, user);
    return Object.assign(new TotpEnrollment(), started);
  }

  @Mutation(() => TotpConfirmation, {
    description:
      'Confirms TOTP enrolment with a first code; returns recovery codes once, and tokens when it completes a sign-in.',
  })
  async confirmTotp(
    @NotPhiInput(NOT_PHI_INPUT.oneTimeCode) @Arg('code', () => String) code: string,
    @NotPhiInput(NOT_PHI_INPUT.token)
    @Arg('challengeToken', () => String, { nullable: true })
    challengeToken: string | null,
    @Ctx() ctx: GraphQLContext,
  ): Promise<TotpConfirmation> {
    const { auth } = ctx.services;
    const { user, viaChallenge } = await enrollingUser(ctx, challengeToken);
    const confirmation = new TotpConfirmation();
    confirmation.recoveryCodes = await auth.mfa.confirmEnrollment(ctx.em, user, code, ctx.log);
    if (viaChallenge) {
      confirmation.auth = await tokenPayload(ctx, await auth.sessions.start(ctx.em, user, clientOf(ctx), new Date()));
    } else {
      confirmation.auth = await tokenPayload(ctx, await auth.sessions.markMfa(ctx.em, requireActor(ctx), new Date()));
    }
    return confirmation;
  }

  @Mutation(() => AuthPayload, {
    description: 'Checks the second factor again within a session; returns an access token with the new MFA time.',
  })
  async stepUpMfa(
    @NotPhiInput(NOT_PHI_INPUT.oneTimeCode) @Arg('code', () => String, { nullable: true }) code: string | null,
    @NotPhiInput(NOT_PHI_INPUT.oneTimeCode)
    @Arg('recoveryCode', () => String, { nullable: true })
    recoveryCode: string | null,
    @Ctx() ctx: GraphQLContext,
  ): Promise<AuthPayload> {
    const actor = requireActor(ctx);
    const tokens = await ctx.services.auth.stepUp(ctx.em, actor, { code, recoveryCode }, ctx.log);
    return tokenPayload(ctx, tokens);
  }

  @Mutation(() => Boolean, {
    description: 'Removes TOTP after a valid code; refused for roles that require a second factor.',
  })
  async disableTotp(
    @NotPhiInput(NOT_PHI_INPUT.oneTimeCode) @Arg('code', () => String) code: string,
    @Ctx() ctx: GraphQLContext,
  ): Promise<boolean> {
    const actor = requireActor(ctx);
    const user = await ctx.services.auth.accountOf(ctx.em, actor);
    await ctx.services.auth.mfa.disable(ctx.em, user, code, ctx.log);
    return true;
  }
}
