import type { Context, Next } from 'koa';
import { unauthenticated } from '../errors';
import type { SignOutService } from '../logout/sign-out';
import type { SessionUser } from './data';
import { clearSession, sessionOf } from './middleware';

/**
 * The signed-in user of this request, or undefined. A session created before the user's last
 * global sign-out is destroyed here, on whichever instance sees it first. The tombstone read
 * (0: none) is left in ctx.state.signedOutAt for the token layer.
 */
export async function authenticatedUser(ctx: Context, signOut: SignOutService, prefetch?: (user: SessionUser) => unknown): Promise<SessionUser | undefined> {
  const session = sessionOf(ctx);
  const user = session?.user;
  if (!session || !user || session.createdAt === undefined) return undefined;
  // Started now, so that its store round trip overlaps the tombstone's; used only after the check.
  const prefetched = prefetch?.(user);
  const signedOutAt = await signOut.signedOutAt(user.homeAccountId);
  if (signedOutAt !== undefined && signedOutAt >= session.createdAt) {
    clearSession(ctx);
    return undefined;
  }
  ctx.state.signedOutAt = signedOutAt ?? 0;
  ctx.state.prefetched = prefetched;
  return user;
}

/**
 * Requires a signed-in user whose session outlives the user's last global sign-out.
 * `prefetch` starts a read that needs only the user (the API route: the token cache entry)
 * together with the tombstone check; its result (ctx.state.prefetched) is for after the check.
 */
export function requireUser(signOut: SignOutService, prefetch?: (user: SessionUser) => unknown) {
  return async function signedIn(ctx: Context, next: Next) {
    const user = await authenticatedUser(ctx, signOut, prefetch);
    if (!user) throw unauthenticated();
    ctx.state.user = user;
    await next();
  };
}
