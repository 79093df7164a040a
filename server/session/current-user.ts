import type { Context, Next } from 'koa';
import type { TokenCacheRead } from '../auth/token-cache';
import { unauthenticated } from '../errors';
import type { SignOutService } from '../logout/sign-out';
import type { SessionUser } from './data';
import { clearSession, sessionOf } from './middleware';

/** What the session check hands to the route after it: typed, never loose fields of ctx.state. */
export interface SignedInRequest {
  user: SessionUser;
  /** The user's tombstone as the check read it (0: none): the token layer's sign-out guard. */
  signedOutAt: number;
  /** The user's token cache entry, read alongside the check (the API route). */
  prefetched?: TokenCacheRead;
}

const signedInRequests = new WeakMap<Context, SignedInRequest>();

/** The signed-in request's user and what the check read; requireUser must have run before. */
export function signedInRequest(ctx: Context): SignedInRequest {
  const found = signedInRequests.get(ctx);
  if (!found) throw new Error('requireUser must run before this route');
  return found;
}

/**
 * The signed-in user of this request and the tombstone the check read, or undefined. A session
 * whose sign-in began at or before the user's last global sign-out (both by the shared store's
 * clock) is destroyed here, on whichever instance sees it first.
 */
export async function authenticatedUser(ctx: Context, signOut: SignOutService, prefetch?: (user: SessionUser) => TokenCacheRead): Promise<SignedInRequest | undefined> {
  const session = sessionOf(ctx);
  const user = session?.user;
  if (!session || !user || session.createdAt === undefined || session.signInStartedAt === undefined) return undefined;
  // Started now, so that its store round trip overlaps the tombstone's; used only after the check.
  const prefetched = prefetch?.(user);
  const signedOutAt = await signOut.signedOutAt(user.homeAccountId);
  if (signedOutAt !== undefined && signedOutAt >= session.signInStartedAt) {
    clearSession(ctx);
    return undefined;
  }
  return { user, signedOutAt: signedOutAt ?? 0, prefetched };
}

/**
 * Requires a signed-in user whose session outlives the user's last global sign-out.
 * `prefetch` starts a read that needs only the user (the API route: the token cache entry)
 * together with the tombstone check; its result is for after the check (signedInRequest).
 */
export function requireUser(signOut: SignOutService, prefetch?: (user: SessionUser) => TokenCacheRead) {
  return async function signedIn(ctx: Context, next: Next) {
    const request = await authenticatedUser(ctx, signOut, prefetch);
    if (!request) throw unauthenticated();
    signedInRequests.set(ctx, request);
    await next();
  };
}
