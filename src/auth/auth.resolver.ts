import { Ctx, Query, Resolver } from 'type-graphql';

import type { GraphQLContext } from '../graphql/context';
import { User } from './user.entity';

/** Sign-in, sessions and the current user. */
@Resolver()
export class AuthResolver {
  @Query(() => User, { nullable: true, description: 'The signed-in user, or null for anonymous callers.' })
  me(@Ctx() _ctx: GraphQLContext): User | null {
    return null;
  }
}
