import type { Context } from 'koa';
import { currentSession, SESSION_COOKIE } from './authorize';
import type { BrowserSession, Directory } from './directory';
import { escapeHtml, page } from './http';
import { loginHint } from './tokens';

/**
 * GET /{tenant}/oauth2/v2.0/logout?post_logout_redirect_uri=&logout_hint=: ends the emulator
 * session, then renders a page whose hidden iframes load the front-channel logout URL of every
 * app signed in through that session as Entra does (`?sid=<guid>`, no `iss`), and goes on to
 * post_logout_redirect_uri when it is a registered redirect URI. Refresh tokens stay valid.
 */
export function endSession(dir: Directory) {
  return async function logout(ctx: Context) {
    ctx.set('Cache-Control', 'no-store');
    ctx.type = 'html';
    if (ctx.params.tenant !== dir.tenantId) {
      ctx.status = 400;
      ctx.body = page('Sign out', `<p id="error">AADSTS90002: Tenant '${escapeHtml(ctx.params.tenant!)}' not found.</p>`);
      return;
    }
    const q = ctx.query;
    const str = (v: unknown) => (typeof v === 'string' && v ? v : undefined);
    const session = currentSession(ctx, dir);
    const hint = str(q.logout_hint);
    const user = session ? dir.userByOid(session.oid) : undefined;
    // Without a logout_hint for the signed-in account, Entra asks which account to sign out.
    if (session && user && hint !== loginHint(user, dir.tenantId)) {
      const picked = new URLSearchParams(ctx.querystring);
      picked.set('logout_hint', loginHint(user, dir.tenantId));
      ctx.body = page('Sign out', `<h1>Pick an account</h1><p>Which account do you want to sign out of?</p>
<a id="account" href="${escapeHtml(`${ctx.path}?${picked}`)}">${escapeHtml(user.upn)}</a>`);
      return;
    }
    const next = registeredRedirect(dir, str(q.post_logout_redirect_uri), str(q.client_id), session);
    const frames = session ? frontchannelFrames(dir, session) : [];
    if (session) {
      dir.endSession(session);
      ctx.cookies.set(SESSION_COOKIE, '', { httpOnly: true, secure: true, sameSite: 'none', path: '/', expires: new Date(0) });
    }
    ctx.body = signedOutPage(frames, next);
  };
}

function frontchannelFrames(dir: Directory, session: BrowserSession): string[] {
  const frames: string[] = [];
  for (const clientId of session.clients) {
    const uri = dir.apps.get(clientId)?.frontchannelLogoutUrl;
    if (!uri) continue;
    const url = new URL(uri);
    url.searchParams.set('sid', session.sid);
    frames.push(url.toString());
  }
  return frames;
}

/** post_logout_redirect_uri must be a redirect URI of the app (client_id, or those of this session). */
function registeredRedirect(dir: Directory, uri: string | undefined, clientId: string | undefined, session: BrowserSession | undefined): string | undefined {
  if (!uri) return undefined;
  const clientIds = clientId ? [clientId] : [...(session?.clients ?? [])];
  return clientIds.some((id) => dir.apps.get(id)?.redirectUris.includes(uri)) ? uri : undefined;
}

function signedOutPage(frames: string[], next: string | undefined): string {
  const iframes = frames.map((f) => `<iframe class="frontchannel-logout" title="sign-out" src="${escapeHtml(f)}" style="display:none" width="0" height="0"></iframe>`).join('\n');
  const onward = next
    ? `<meta http-equiv="refresh" content="5;url=${escapeHtml(next)}">
<a id="continue" href="${escapeHtml(next)}">Continue</a>
<script>(function(){var left=${frames.length};function go(){location.replace(document.getElementById('continue').href)}if(left===0)go();document.querySelectorAll('iframe.frontchannel-logout').forEach(function(f){function done(){if(--left<=0)go()}f.addEventListener('load',done);f.addEventListener('error',done)})})()</script>`
    : '<p>It’s a good idea to close all browser windows.</p>';
  return page('Sign out', `<h1>You signed out of your account</h1>\n${iframes}\n${onward}`);
}
