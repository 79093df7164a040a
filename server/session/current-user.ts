import type { Context, Next } from 'koa';
import { unauthenticated } from '../errors';
import type { SignOutService } from '../logout/sign-out';
import type { SessionUser } from './data';
import { clearSession, sessionOf } from './middleware';

/**
 * The signed-in user of this request, or undefined. A session created before the user's last
 * global sign-out is destroyed here, on whichever instance sees it first.
 */
export async function authenticatedUser(ctx: Context, signOut: SignOutService): Promise<SessionUser | undefined> {
  const session = sessionOf(ctx);
  const user = session?.user;
  if (!session || !user || session.createdAt === undefined) return undefined;
  if (await signOut.isSignedOut(user, session.createdAt)) {
    clearSession(ctx);
    return undefined;
  }
  return user;
}

export function requireUser(signOut: SignOutService) {
  return async function signedIn(ctx: Context, next: Next) {
    const user = await authenticatedUser(ctx, signOut);
    if (!user) throw unauthenticated();
    ctx.state.user = user;
    await next();
  };
}
