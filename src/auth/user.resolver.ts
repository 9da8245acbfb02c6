import { Arg, Ctx, FieldResolver, ID, Mutation, Resolver, Root } from 'type-graphql';

import type { GraphQLContext } from '../graphql/context';
import { mayReadAccount, requireRole } from './auth.guard';
import { CreateUserInput } from './auth.types';
import { User } from './user.entity';

/** Account administration, and the sealed fields of User. */
@Resolver(() => User)
export class UserResolver {
  @FieldResolver(() => String, {
    nullable: true,
    description: 'Sign-in email; visible to the user themselves and to ADMIN, null otherwise.',
  })
  async email(@Root() user: User, @Ctx() ctx: GraphQLContext): Promise<string | null> {
    if (!mayReadAccount(ctx, user.id)) return null;
    return String(await ctx.services.vault.open(ctx.em, user, 'email'));
  }

  @Mutation(() => User, { description: 'ADMIN: creates an account.' })
  async createUser(
    @Arg('input', () => CreateUserInput) input: CreateUserInput,
    @Ctx() ctx: GraphQLContext,
  ): Promise<User> {
    const actor = requireRole(ctx, 'ADMIN');
    return ctx.services.auth.users.create(ctx.em, input, ctx.log, actor.userId);
  }

  @Mutation(() => Boolean, { description: 'ADMIN: disables an account and ends all its sessions at once.' })
  async disableUser(@Arg('userId', () => ID) userId: string, @Ctx() ctx: GraphQLContext): Promise<boolean> {
    const actor = requireRole(ctx, 'ADMIN');
    await ctx.services.auth.disableUser(ctx.em, actor, userId, ctx.log);
    return true;
  }

  @Mutation(() => Boolean, { description: 'ADMIN: re-enables a disabled account and clears its sign-in lockout.' })
  async enableUser(@Arg('userId', () => ID) userId: string, @Ctx() ctx: GraphQLContext): Promise<boolean> {
    const actor = requireRole(ctx, 'ADMIN');
    await ctx.services.auth.enableUser(ctx.em, actor, userId, ctx.log);
    return true;
  }
}
