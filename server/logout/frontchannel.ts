import type { Context } from 'koa';
import { badRequest, HttpError } from '../errors';
import type { Services } from '../services';

/**
 * GET /auth/frontchannel-logout?sid= (&iss=): the IdP loads this in a hidden, cross-site iframe
 * after a sign-out anywhere, so no cookie can be relied on: the user is found on the server by
 * (issuer, sid). Entra sends `sid` alone; the spec sends `iss` with it, and it must be ours.
 */
export function frontchannelLogout({ idp, signOut }: Services) {
  return async function logoutFromFrontchannel(ctx: Context) {
    // Only this page may be framed, and only by the IdP.
    ctx.set('Content-Security-Policy', `default-src 'none'; frame-ancestors ${idp.origin}`);
    ctx.set('Cache-Control', 'no-cache, no-store');
    ctx.set('Pragma', 'no-cache');
    if (ctx.querystring.length > 2048) throw badRequest('bad_request', 'The query string is too long.');
    const { iss, sid } = ctx.query;
    if (Array.isArray(iss) || Array.isArray(sid)) throw badRequest('bad_request', 'iss and sid may each appear once.');
    if (!sid) throw badRequest('bad_request', 'The sid parameter is required.');
    if (iss !== undefined && iss !== idp.issuer) throw new HttpError(400, 'invalid_issuer', 'The iss parameter does not name this application\'s identity provider.');

    let user = await signOut.userBySid(idp.issuer, sid);
    if (!user) {
      // Not recorded (yet): remembered, then looked up again, for a sign-in whose callback is
      // still under way with this sid (sign-out.ts, idpSessionEnded).
      await signOut.idpSessionEnded(idp.issuer, sid, 'frontchannel');
      user = await signOut.userBySid(idp.issuer, sid);
    }
    const sessionsEnded = user ? (await signOut.signOut(user, 'frontchannel', ctx.state.requestId)).sessionsEnded : 0;
    // Signed out here already (from the SPA): the IdP confirms its end of session, which a held
    // refresh-token revocation waits for (in the background).
    if (!user) void signOut.idpEndedSession(idp.issuer, { sid }, 'frontchannel', ctx.state.requestId);
    ctx.status = 200;
    ctx.type = 'html';
    ctx.body = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Signed out</title></head><body>${sessionsEnded > 0 ? 'Signed out.' : 'Nothing to sign out.'}</body></html>`;
  };
}
