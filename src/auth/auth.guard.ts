import type { GraphQLContext } from '../graphql/context';
import { AppError } from '../graphql/errors';

/** The role gates live in access/; re-exported so auth resolvers read like the rest. */
export { requireActor, requireRole } from '../access/role.guard';

// Users who signed in during this request (login, verifyMfa...): they may read their own account
// in the same response although the request itself carried no token.
const signedInDuringRequest = new WeakMap<GraphQLContext, string>();

/** Records that `userId` completed a sign-in in this request. */
export function markSignedIn(ctx: GraphQLContext, userId: string): void {
  signedInDuringRequest.set(ctx, userId);
}

/** Whether the caller may read the account's personal fields (its email): the user themselves or an ADMIN. */
export function mayReadAccount(ctx: GraphQLContext, userId: string): boolean {
  if (ctx.actor) return ctx.actor.userId === userId || ctx.actor.role === 'ADMIN';
  return signedInDuringRequest.get(ctx) === userId;
}

/** The one answer for every failed password sign-in: unknown user, wrong password, disabled or locked. */
export const invalidCredentials = (): AppError => new AppError('Invalid email or password', 'UNAUTHENTICATED');

/** A token that is forged, expired, or names an ended session; HTTP 401 when raised while building the context. */
export const sessionNotValid = (): AppError =>
  new AppError('Session is not valid; sign in again', 'UNAUTHENTICATED', { http: { status: 401 } });

/** The one answer for a failed second factor: wrong, replayed, used or locked. */
export const invalidSecondFactor = (): AppError => new AppError('Invalid authentication code', 'UNAUTHENTICATED');

/** A challenge token that is forged, expired, already used or for another step. */
export const invalidChallenge = (): AppError =>
  new AppError('Sign-in challenge is not valid; sign in again', 'UNAUTHENTICATED');
