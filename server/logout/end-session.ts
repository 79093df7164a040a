import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Context } from 'koa';
import { sessionKeySealer, type TokenSealer } from '../auth/token-encryption';
import type { Config } from '../config';
import type { IdentityProvider } from '../identity/provider';
import type { Stores } from '../stores';

/** How long the SPA has to follow the end-session URL that POST /auth/logout answers. */
export const END_SESSION_TICKET_TTL_MS = 2 * 60_000;
const PURPOSE = 'bff end-session ticket v1';
/** The ticket id (base64url of 16 bytes) bound to the sealed hint. */
const TICKET_ID = /^[A-Za-z0-9_-]{22}$/;

interface Ticket {
  /** The hint the IdP's dialect wants: an ID token (id_token_hint) or Entra's login_hint. */
  hint?: string;
  expiresAt: number;
  /** The value of the HttpOnly cookie set with the ticket: only that browser can redeem it. */
  browser: string;
}

/**
 * RP-initiated logout (OIDC RP-Initiated Logout 1.0) without letting script see a token. The SPA
 * gets a same-origin, one-time URL, `/auth/end-session?t=<id>.<sealed hint>`; following it, the
 * BFF redirects to the IdP's end_session_endpoint with the hint its dialect wants
 * (IdentityProvider.endSessionHint): the ID token travels only in that redirect. The hint is
 * sealed (AES-256-GCM, a key from SESSION_KEYS) and bound to the ticket id; a ticket works once
 * (its id is taken as a lease for its lifetime: atomic across instances) and for
 * END_SESSION_TICKET_TTL_MS.
 *
 * The ticket is bound to the browser that signed out: POST /auth/logout also sets an HttpOnly
 * cookie whose value the sealed ticket holds, so a script that reads the ticket (XSS) cannot
 * redeem it anywhere else and learn the ID token.
 *
 * Without a ticket, or with one that is used, expired or not ours, the redirect carries no hint:
 * a signed-out SPA can still end the IdP session (the IdP then asks which account, as Entra's
 * own sign-out page does).
 */
export class EndSession {
  private readonly sealer: TokenSealer;

  constructor(
    private readonly config: Pick<Config, 'publicUrl' | 'postLogoutRedirectUri' | 'sessionKeys' | 'production'>,
    private readonly idp: Pick<IdentityProvider, 'endSessionEndpoint' | 'endSessionHint' | 'clientId'>,
    /** Marks a ticket used, once across every instance (a lease that lives as long as the ticket). */
    private readonly stores: Pick<Stores, 'lease'>,
  ) {
    this.sealer = sessionKeySealer(config.sessionKeys, PURPOSE);
  }

  private get cookieName() {
    return this.config.production ? '__Secure-bff.endsession' : 'bff.endsession';
  }

  private cookieOptions(maxAge?: number) {
    return { path: '/auth/', httpOnly: true, sameSite: 'lax' as const, secure: this.config.production, signed: false, overwrite: true, ...(maxAge ? { maxAge } : {}) };
  }

  /**
   * The same-origin URL the SPA follows to end the IdP session; `hint` per the IdP's dialect.
   * Sets the cookie that binds the ticket to this browser.
   */
  ticketUrl(ctx: Context, hint: string | undefined, now = Date.now()): string {
    const id = randomBytes(16).toString('base64url');
    const browser = randomBytes(16).toString('base64url');
    ctx.cookies.set(this.cookieName, browser, this.cookieOptions(END_SESSION_TICKET_TTL_MS));
    const sealed = this.sealer.seal(JSON.stringify({ hint, expiresAt: now + END_SESSION_TICKET_TTL_MS, browser } satisfies Ticket), id);
    return `${this.config.publicUrl}/auth/end-session?t=${id}.${sealed}`;
  }

  /** GET /auth/end-session: redirects to the IdP's end-session endpoint (with the hint, once). */
  route() {
    return async (ctx: Context) => {
      ctx.set('Cache-Control', 'no-store');
      // HEAD (a link checker, a prefetch) never uses a ticket up.
      const hint = ctx.method === 'GET' ? await this.redeem(ctx.query.t, ctx.cookies.get(this.cookieName, { signed: false })) : undefined;
      if (hint) ctx.cookies.set(this.cookieName, null, this.cookieOptions());
      ctx.redirect(this.endSessionUrl(hint));
    };
  }

  private async redeem(raw: unknown, browser: string | undefined): Promise<string | undefined> {
    if (typeof raw !== 'string' || raw.length > 8192) return undefined;
    const dot = raw.indexOf('.');
    const id = raw.slice(0, dot);
    if (dot < 0 || !TICKET_ID.test(id)) return undefined;
    let ticket: Ticket;
    try {
      ticket = JSON.parse(this.sealer.open(raw.slice(dot + 1), id)) as Ticket;
    } catch {
      return undefined;
    }
    if (typeof ticket.expiresAt !== 'number' || ticket.expiresAt < Date.now() || typeof ticket.hint !== 'string') return undefined;
    if (!browser || typeof ticket.browser !== 'string' || !sameText(browser, ticket.browser)) return undefined;
    // SET NX: of two uses at once, on any instances, one gets the hint.
    const first = await this.stores.lease(`endsession:${id}`, END_SESSION_TICKET_TTL_MS);
    return first ? ticket.hint : undefined;
  }

  private endSessionUrl(hint: string | undefined): string {
    if (!this.idp.endSessionEndpoint) return this.config.postLogoutRedirectUri;
    const url = new URL(this.idp.endSessionEndpoint);
    url.searchParams.set('post_logout_redirect_uri', this.config.postLogoutRedirectUri);
    url.searchParams.set('state', randomBytes(16).toString('base64url'));
    // client_id lets the IdP check post_logout_redirect_uri when there is no hint to name the client.
    url.searchParams.set('client_id', this.idp.clientId);
    if (hint) url.searchParams.set(this.idp.endSessionHint, hint);
    return url.toString();
  }
}

function sameText(a: string, b: string): boolean {
  const [x, y] = [Buffer.from(a), Buffer.from(b)];
  return x.length === y.length && timingSafeEqual(x, y);
}
