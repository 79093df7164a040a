import type { Context } from 'koa';
import type { SessionInfo } from '../../shared/api';
import { authenticatedUser } from '../session/current-user';
import { sessionOf } from '../session/middleware';
import type { Services } from '../services';
import { SilentSignIn } from './silent-sign-in';

/**
 * GET /auth/session: who is signed in, display claims only, never a token. Signed out, it says
 * whether the SPA may try a silent sign-in now (silent-sign-in.ts).
 */
export function sessionInfo({ config, signOut }: Services) {
  const silentSignIn = new SilentSignIn(config);
  return async function describeSession(ctx: Context) {
    ctx.set('Cache-Control', 'no-store');
    const user = (await authenticatedUser(ctx, signOut))?.user;
    const session = sessionOf(ctx);
    if (!user || !session?.createdAt) {
      ctx.body = (silentSignIn.suggest(ctx) ? { isAuthenticated: false, silentSignIn: true } : { isAuthenticated: false }) satisfies SessionInfo;
      return;
    }
    silentSignIn.keepSignedInMark(ctx);
    const expiresAt = Math.min(session.createdAt + config.sessionAbsoluteMs, (session.lastSeen ?? session.createdAt) + config.sessionIdleMs);
    ctx.body = {
      isAuthenticated: true,
      user: { name: user.name, username: user.username, ...(user.email ? { email: user.email } : {}) },
      expiresAt: new Date(expiresAt).toISOString(),
    } satisfies SessionInfo;
  };
}
