import Provider, { errors, type ClientMetadata, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import type { JWK } from 'jose';
import { DEFAULT_SAMPLE_API_SCOPE, SAMPLE_TODO_API_SCOPE } from '../config';
import { CLIENT_JWKS_PATH } from '../identity/client-keys';
import { DEV_TENANT_ID, findUserById } from './users';

export const DEV_BFF_CLIENT_ID = 'bff';
/** "Another app": a public SPA client of the same IdP, used to start a sign-out elsewhere. */
export const ANOTHER_APP_CLIENT_ID = 'another-app';
/** Dev only: the BFF's secret at the embedded IdP. Production secrets come from ENTRA_* or OIDC_* variables. */
export const DEV_BFF_CLIENT_SECRET = 'dev-only-bff-secret-not-for-production';
export const SAMPLE_API_AUDIENCE = 'api://sample-api';
export const SAMPLE_TODO_API_AUDIENCE = 'api://sample-todo-api';
/** The dev IdP's APIs (resource servers): each audience and the Entra-style scopes that name it. */
const RESOURCES = new Map<string, string[]>([
  [SAMPLE_API_AUDIENCE, [DEFAULT_SAMPLE_API_SCOPE]],
  [SAMPLE_TODO_API_AUDIENCE, [SAMPLE_TODO_API_SCOPE]],
]);

/** The audiences whose scopes `scope` (a space-separated request parameter) names. */
function resourcesNamedBy(scope: unknown): string[] {
  const requested = String(scope ?? '').split(' ');
  return [...RESOURCES].filter(([, scopes]) => scopes.some((s) => requested.includes(s))).map(([audience]) => audience);
}

export interface DevProviderOptions {
  issuer: string;
  /** Origins of the BFF (and of Vite's dev server) whose callback URLs are registered. */
  bffOrigins: string[];
  accessTokenTtlSeconds: number;
  /**
   * Rotate refresh tokens with reuse detection (DEV_IDP_ROTATE_REFRESH_TOKENS=1), as Auth0, Okta
   * and Keycloak's "Revoke Refresh Token" do: each refresh returns a new refresh token, and
   * oidc-provider answers a second use of a rotated one with invalid_grant and revokes the grant.
   */
  rotateRefreshTokens?: boolean;
  jwks: { keys: JWK[] };
  cookieKeys: string[];
  /** Render front-channel logout iframes on the logout page (DEV_IDP_FRONTCHANNEL). */
  frontchannel: boolean;
  /** POST logout tokens to back-channel logout URIs (DEV_IDP_BACKCHANNEL). */
  backchannel: boolean;
  /** Origins of "another app" (its page comes with the SPA). */
  anotherAppOrigins: string[];
  /**
   * How the BFF authenticates (DEV_IDP_CLIENT_AUTH): its secret in the body, or private_key_jwt
   * with the public key read from the BFF's JWKS at the first origin (/.well-known/jwks.json).
   */
  clientAuth?: 'client_secret_post' | 'private_key_jwt';
}

function bffClient(origins: string[], options: DevProviderOptions): ClientMetadata {
  const [primary] = origins;
  // MSAL posts its secret in the body (FINDINGS); oidc-provider defaults to Basic. With
  // private_key_jwt the IdP fetches the BFF's JWKS (its loopback fetch allows the BFF's origin).
  const credential: Partial<ClientMetadata> =
    options.clientAuth === 'private_key_jwt'
      ? { token_endpoint_auth_method: 'private_key_jwt', jwks_uri: `${primary}${CLIENT_JWKS_PATH}` }
      : { token_endpoint_auth_method: 'client_secret_post', client_secret: DEV_BFF_CLIENT_SECRET };
  return {
    client_id: DEV_BFF_CLIENT_ID,
    client_name: 'BFF (development)',
    ...credential,
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: origins.map((o) => `${o}/auth/callback`),
    post_logout_redirect_uris: origins.map((o) => `${o}/`),
    frontchannel_logout_uri: `${primary}/auth/frontchannel-logout`,
    ...(options.backchannel ? { backchannel_logout_uri: `${primary}/auth/backchannel-logout`, backchannel_logout_session_required: true } : {}),
  };
}

function anotherAppClient(origins: string[]): ClientMetadata {
  return {
    client_id: ANOTHER_APP_CLIENT_ID,
    client_name: 'Another app',
    application_type: 'web',
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: origins.map((o) => `${o}/`),
    post_logout_redirect_uris: origins.map((o) => `${o}/`),
  };
}

export function createDevProvider(options: DevProviderOptions): Provider {
  const configuration: Configuration = {
    clients: [bffClient(options.bffOrigins, options), anotherAppClient(options.anotherAppOrigins)],
    // oidc-provider dropped Front-Channel Logout; we keep the client's URI and render the iframes.
    extraClientMetadata: {
      properties: ['frontchannel_logout_uri'],
      validator: (_ctx, key, value) => {
        if (key === 'frontchannel_logout_uri' && value !== undefined && !/^https?:\/\//.test(String(value))) {
          throw new errors.InvalidClientMetadata('frontchannel_logout_uri must be an http(s) URL');
        }
      },
    },
    // Back-channel delivery to the BFF on loopback: oidc-provider's own fetch refuses loopback
    // addresses (an SSRF guard); the dev IdP only ever calls URIs it registered itself.
    fetch: loopbackFetch,
    jwks: options.jwks as Configuration['jwks'],
    cookies: { keys: options.cookieKeys },
    findAccount: async (_ctx, id) => {
      const user = findUserById(id);
      if (!user) return undefined;
      return {
        accountId: user.id,
        claims: async () => ({
          sub: user.id,
          oid: user.id,
          tid: DEV_TENANT_ID,
          name: user.name,
          preferred_username: user.username,
          login_hint: user.username,
          email: user.email,
        }),
      };
    },
    claims: {
      openid: ['sub', 'oid', 'tid'],
      profile: ['name', 'preferred_username', 'login_hint'],
      email: ['email'],
    },
    scopes: ['openid', 'offline_access', 'profile', 'email'],
    // Entra-style access tokens carry who the caller is, so the API need not call userinfo.
    // An authentication context asked for in the claims parameter (`access_token.acrs`, as in
    // Entra's claims challenges) is granted at once: the dev IdP has no second factor to ask for.
    extraTokenClaims: async (ctx, token) => {
      const user = 'accountId' in token && typeof token.accountId === 'string' ? findUserById(token.accountId) : undefined;
      if (!user) return undefined;
      // The code grant's access token does not copy the claims request (the refresh grant's does):
      // read it from the code being redeemed.
      const entities = ctx?.oidc.entities as { AuthorizationCode?: { claims?: unknown }; RefreshToken?: { claims?: unknown } } | undefined;
      const acrs = requestedAuthContexts((token as { claims?: unknown }).claims ?? entities?.AuthorizationCode?.claims ?? entities?.RefreshToken?.claims);
      return { oid: user.id, tid: DEV_TENANT_ID, name: user.name, preferred_username: user.username, ...(acrs.length > 0 ? { acrs } : {}) };
    },
    // The code flow's ID token carries the profile claims too, as Entra's does (FINDINGS).
    conformIdTokenClaims: false,
    loadExistingGrant: offlineAccessForSilentSignIn,
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: false },
      claimsParameter: { enabled: true },
      rpInitiatedLogout: { enabled: true, logoutSource, postLogoutSuccessSource },
      backchannelLogout: { enabled: true },
      // RFC 7009 §2.1: a client revokes only its own tokens (the BFF's at sign-out); said
      // explicitly, as oidc-provider asks, rather than left to its default.
      revocation: { enabled: true, allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId },
      resourceIndicators: {
        enabled: true,
        // MSAL sends Entra-style scopes and no `resource`: map each API scope to its audience.
        // An authorize request may name several APIs (incremental consent asks for the default
        // API's scopes alongside); a token request gets the one its `scope` names, and only
        // from a grant that holds it: a refresh for scopes the sign-in did not ask for is
        // invalid_scope (the refresh token lacks them), as a real IdP refuses ungranted scopes.
        defaultResource: (ctx: KoaContextWithOIDC, _client: unknown, oneOf?: readonly string[]) => {
          // The code grant takes no `scope` parameter, but MSAL sends the one it redeems for (as Entra reads it): the raw form has it.
          const named = resourcesNamedBy(ctx.oidc.params?.scope ?? (ctx.oidc.body as { scope?: unknown } | undefined)?.scope);
          if (oneOf) {
            const chosen = oneOf.filter((r) => named.includes(r));
            return chosen.length === 1 ? chosen[0]! : [...oneOf];
          }
          return named.length > 1 ? named : named[0];
        },
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx: KoaContextWithOIDC, resource: string) => {
          const scopes = RESOURCES.get(resource);
          if (!scopes) throw new errors.InvalidTarget();
          return {
            scope: scopes.join(' '),
            audience: resource,
            accessTokenTTL: options.accessTokenTtlSeconds,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
    ttl: {
      AccessToken: options.accessTokenTtlSeconds,
      AuthorizationCode: 60,
      IdToken: 3600,
      RefreshToken: 14 * 86_400,
      Interaction: 600,
      Session: 86_400,
      Grant: 14 * 86_400,
    },
    rotateRefreshToken: options.rotateRefreshTokens ?? false,
    renderError: async (ctx, out) => {
      ctx.type = 'html';
      ctx.body = page('Sign-in error', `<h1>Something went wrong</h1>${Object.entries(out).map(([k, v]) => `<p><strong>${escapeHtml(k)}</strong>: ${escapeHtml(String(v))}</p>`).join('')}`);
    },
  };
  const provider = new Provider(options.issuer, configuration);
  provider.proxy = false;
  return provider;
}

/**
 * oidc-provider's default grant lookup, plus refresh tokens for the BFF's silent sign-in:
 * oidc-provider drops offline_access from any request whose prompt lacks `consent` (OIDC Core
 * §11), so a `prompt=none` sign-in would get no refresh token (and its tokens would end with the
 * IdP session). §11 allows offline access "unless other conditions … are in place": here, that
 * the user already granted this client offline_access at an interactive sign-in (the grant in
 * the IdP session holds it), as Entra keeps issuing refresh tokens to prompt=none. No grant
 * holding it, or another client: nothing changes. Runs after the scope check, before the code.
 */
async function offlineAccessForSilentSignIn(ctx: KoaContextWithOIDC) {
  const { oidc } = ctx;
  const clientId = oidc.client?.clientId;
  const grantId = (oidc.result?.consent as { grantId?: string } | undefined)?.grantId || (clientId ? oidc.session?.grantIdFor(clientId) : undefined);
  const grant = grantId ? await oidc.provider.Grant.find(grantId) : undefined;
  const params = oidc.params as { scope?: string } | undefined;
  const asked = String(ctx.query.scope ?? '').split(' ').includes('offline_access');
  const granted = grant?.getOIDCScope().split(' ').includes('offline_access') ?? false;
  if (clientId === DEV_BFF_CLIENT_ID && oidc.prompts.has('none') && asked && granted && params && !params.scope?.split(' ').includes('offline_access')) {
    params.scope = `${params.scope ?? ''} offline_access`.trim();
  }
  return grant;
}

/** `access_token.acrs` of a claims request: `{ "essential": true, "value": "c1" }` or `{ "values": [...] }`. */
function requestedAuthContexts(claims: unknown): string[] {
  const acrs = (claims as { access_token?: { acrs?: { value?: unknown; values?: unknown } } } | undefined)?.access_token?.acrs;
  const values = [acrs?.value, ...(Array.isArray(acrs?.values) ? acrs.values : [])];
  return values.filter((v): v is string => typeof v === 'string');
}

/** Like Entra, signing out at the IdP signs the user out of every app (logout=yes). */
async function logoutSource(ctx: KoaContextWithOIDC, form: string) {
  const withLogout = form.replace('</form>', '<input type="hidden" name="logout" value="yes"/></form>');
  ctx.type = 'html';
  ctx.body = page(
    'Sign out',
    `<h1>Sign out</h1><p>Sign out of the development identity provider and of every app you signed in to with it?</p>${withLogout}
<button type="submit" form="op.logoutForm" autofocus>Yes, sign me out</button>`,
  );
}

async function postLogoutSuccessSource(ctx: KoaContextWithOIDC) {
  ctx.type = 'html';
  ctx.body = page('Signed out', '<h1>Signed out</h1><p>You have signed out of every app.</p>');
}

async function loopbackFetch(input: string | URL | Request, init: RequestInit = {}): Promise<Response> {
  const target = new URL(input instanceof Request ? input.url : input);
  if (!['localhost', '127.0.0.1', '[::1]'].includes(target.hostname)) {
    throw new Error(`the dev IdP only calls loopback addresses, not ${target.hostname}`);
  }
  const headers = Object.fromEntries(new Headers(init.headers).entries());
  const body = init.body === undefined || init.body === null ? undefined : String(init.body);
  if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body));
  const transport = target.protocol === 'https:' ? await import('node:https') : await import('node:http');
  return new Promise<Response>((resolve, reject) => {
    const req = transport.request(target, { method: init.method ?? 'GET', headers, timeout: 2500 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(new Response(res.statusCode === 204 ? null : Buffer.concat(chunks), { status: res.statusCode ?? 502 })));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('back-channel request timed out')));
    req.on('error', reject);
    req.end(body);
  });
}

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${escapeHtml(title)}</title>
<style>body{font-family:system-ui,sans-serif;background:#f4f5f7;margin:0;display:grid;place-items:center;min-height:100vh}main{background:#fff;padding:2rem;border-radius:12px;box-shadow:0 2px 12px rgba(0,0,0,.08);width:min(22rem,90vw)}label{display:block;margin:.75rem 0 .25rem}input{width:100%;padding:.5rem;box-sizing:border-box}button{margin-top:1rem;width:100%;padding:.6rem;border:0;border-radius:6px;background:#2557d6;color:#fff;font-size:1rem;cursor:pointer}.error{color:#b00020}</style>
</head><body><main>${body}</main></body></html>`;
}
