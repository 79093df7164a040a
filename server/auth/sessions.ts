import type { Context } from 'koa';
import type { UserSessionList } from '../../shared/api';
import { signedInRequest } from '../session/current-user';
import { sessionOf, type Sessions } from '../session/middleware';
import type { Asker, UserSessions } from '../session/user-sessions';

/**
 * "Your sessions" (X-CSRF and a signed-in session required, see app.ts):
 * - GET /auth/sessions: the user's BFF sessions (UserSessionList), named by handles, never ids;
 * - DELETE /auth/sessions/:handle: ends one other session of the user ("Sign out this device"),
 *   204; 404 `not_found` for a handle that names no session of this user; 409 `current_session`
 *   for the caller's own (its way out is the global sign-out, POST /auth/logout).
 */
export function userSessionRoutes(userSessions: UserSessions, sessions: Sessions) {
  const askerOf = (ctx: Context): Asker => {
    const { user, signedOutAt } = signedInRequest(ctx);
    return { homeAccountId: user.homeAccountId, sessionId: sessions.currentId(ctx), session: sessionOf(ctx)!, signedOutAt, requestId: ctx.state.requestId };
  };
  return {
    list: async function listSessions(ctx: Context) {
      ctx.set('Cache-Control', 'no-store');
      ctx.body = { sessions: await userSessions.list(askerOf(ctx)) } satisfies UserSessionList;
    },
    end: async function endSession(ctx: Context & { params: { handle?: string } }) {
      ctx.set('Cache-Control', 'no-store');
      await userSessions.end(askerOf(ctx), ctx.params.handle ?? '');
      ctx.status = 204;
    },
  };
}
