import { Arg, Ctx, FieldResolver, ID, Mutation, Query, Resolver, Root } from 'type-graphql';

import type { GraphQLContext } from '../graphql/context';
import { notFound } from '../graphql/errors';
import { requireActor, requireRole } from './auth.guard';
import { Session } from './session.entity';
import { isUuid } from '../db/ids';

/** Session review and revocation: one's own sessions, and any account's for ADMIN. */
@Resolver(() => Session)
export class SessionResolver {
  @FieldResolver(() => Boolean, { description: 'Whether this is the session of the current request.' })
  current(@Root() session: Session, @Ctx() ctx: GraphQLContext): boolean {
    return ctx.actor?.sessionId === session.id;
  }

  @Query(() => [Session], { description: "The caller's open sessions, newest first." })
  async mySessions(@Ctx() ctx: GraphQLContext): Promise<Session[]> {
    const actor = requireActor(ctx);
    return ctx.services.auth.sessions.list(ctx.em, actor.userId, false);
  }

  @Query(() => [Session], { description: "ADMIN: an account's sessions, newest first (at most 100)." })
  async userSessions(
    @Arg('userId', () => ID) userId: string,
    @Arg('includeEnded', () => Boolean, { defaultValue: false }) includeEnded: boolean,
    @Ctx() ctx: GraphQLContext,
  ): Promise<Session[]> {
    requireRole(ctx, 'ADMIN');
    if (!isUuid(userId) || !(await ctx.services.auth.users.findById(ctx.em, userId))) throw notFound('User');
    return ctx.services.auth.sessions.list(ctx.em, userId, includeEnded);
  }

  @Mutation(() => Boolean, { description: 'Ends a session at once: ADMIN any session, others their own.' })
  async revokeSession(@Arg('sessionId', () => ID) sessionId: string, @Ctx() ctx: GraphQLContext): Promise<boolean> {
    const actor = requireActor(ctx);
    return ctx.services.auth.revokeSession(ctx.em, actor, sessionId, ctx.log);
  }
}
