import { Arg, Ctx, Mutation, Query, Resolver } from 'type-graphql';

import type { GraphQLContext } from '../graphql/context';
import { NOT_PHI_INPUT, NotPhiInput } from '../phi/phi.decorator';
import { markSignedIn, requireActor } from './auth.guard';
import type { SignInResult } from './auth.service';
import { AuthPayload } from './auth.types';
import type { ClientInfo, IssuedTokens } from './session.service';
import { User } from './user.entity';

/** The request's client details and logger, as the auth services take them. */
export function clientOf(ctx: GraphQLContext): ClientInfo {
  return { ip: ctx.ip, userAgent: ctx.userAgent, log: ctx.log };
}

/** Builds the payload for issued tokens; the user may read their own account in this response. */
export async function tokenPayload(ctx: GraphQLContext, tokens: IssuedTokens): Promise<AuthPayload> {
  const payload = new AuthPayload();
  payload.accessToken = tokens.accessToken;
  payload.refreshToken = tokens.refreshToken;
  payload.expiresAt = tokens.expiresAt;
  payload.user = await ctx.em.findOne(User, { id: tokens.userId });
  markSignedIn(ctx, tokens.userId);
  return payload;
}

async function signInPayload(ctx: GraphQLContext, result: SignInResult): Promise<AuthPayload> {
  if (result.kind === 'session') return tokenPayload(ctx, result.tokens);
  const payload = new AuthPayload();
  payload.mfaRequired = true;
  payload.mfaEnrollmentRequired = result.enrollmentRequired;
  payload.mfaChallengeToken = result.challengeToken;
  return payload;
}

/** Sign-in, refresh, sign-out and the current user. */
@Resolver()
export class AuthResolver {
  @Mutation(() => AuthPayload, {
    description: 'Signs in with email and password; answers with tokens or a second-factor challenge.',
  })
  async login(
    @NotPhiInput(NOT_PHI_INPUT.accountEmail) @Arg('email', () => String) email: string,
    @NotPhiInput(NOT_PHI_INPUT.credential) @Arg('password', () => String) password: string,
    @Ctx() ctx: GraphQLContext,
  ): Promise<AuthPayload> {
    const result = await ctx.services.auth.login(ctx.em, email, password, clientOf(ctx));
    return signInPayload(ctx, result);
  }

  @Mutation(() => AuthPayload, { description: 'Completes a sign-in with a TOTP code or a recovery code.' })
  async verifyMfa(
    @NotPhiInput(NOT_PHI_INPUT.token) @Arg('challengeToken', () => String) challengeToken: string,
    @NotPhiInput(NOT_PHI_INPUT.oneTimeCode) @Arg('code', () => String, { nullable: true }) code: string | null,
    @NotPhiInput(NOT_PHI_INPUT.oneTimeCode)
    @Arg('recoveryCode', () => String, { nullable: true })
    recoveryCode: string | null,
    @Ctx() ctx: GraphQLContext,
  ): Promise<AuthPayload> {
    const factor = { code, recoveryCode };
    const tokens = await ctx.services.auth.completeSignIn(ctx.em, challengeToken, factor, clientOf(ctx));
    return tokenPayload(ctx, tokens);
  }

  @Mutation(() => AuthPayload, { description: 'Exchanges a refresh token (single use) for new tokens.' })
  async refreshSession(
    @NotPhiInput(NOT_PHI_INPUT.token) @Arg('refreshToken', () => String) refreshToken: string,
    @Ctx() ctx: GraphQLContext,
  ): Promise<AuthPayload> {
    const tokens = await ctx.services.auth.refresh(ctx.em, refreshToken, clientOf(ctx));
    return tokenPayload(ctx, tokens);
  }

  @Mutation(() => Boolean, { description: 'Ends the current session at once.' })
  async logout(@Ctx() ctx: GraphQLContext): Promise<boolean> {
    const actor = requireActor(ctx);
    await ctx.services.auth.logout(ctx.em, actor, ctx.log);
    return true;
  }

  @Query(() => User, { nullable: true, description: 'The signed-in user, or null for anonymous callers.' })
  async me(@Ctx() ctx: GraphQLContext): Promise<User | null> {
    if (!ctx.actor) return null;
    return ctx.em.findOne(User, { id: ctx.actor.userId });
  }
}
