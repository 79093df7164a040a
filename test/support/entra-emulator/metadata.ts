import type { Context } from 'koa';
import type { TokenIssuer } from './tokens';

/**
 * The tenant's v2.0 discovery document, field for field as Entra serves it (with our host):
 * front-channel logout yes, back-channel logout not mentioned, no revocation endpoint, and no
 * code_challenge_methods_supported although PKCE works.
 */
export function discoveryDocument(origin: string, tenantId: string) {
  const base = `${origin}/${tenantId}`;
  return {
    token_endpoint: `${base}/oauth2/v2.0/token`,
    token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
    jwks_uri: `${base}/discovery/v2.0/keys`,
    response_modes_supported: ['query', 'fragment', 'form_post'],
    subject_types_supported: ['pairwise'],
    id_token_signing_alg_values_supported: ['RS256'],
    response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
    scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
    issuer: `${base}/v2.0`,
    request_uri_parameter_supported: false,
    userinfo_endpoint: 'https://graph.microsoft.com/oidc/userinfo',
    authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
    device_authorization_endpoint: `${base}/oauth2/v2.0/devicecode`,
    http_logout_supported: true,
    frontchannel_logout_supported: true,
    end_session_endpoint: `${base}/oauth2/v2.0/logout`,
    claims_supported: ['sub', 'iss', 'cloud_instance_name', 'cloud_instance_host_name', 'cloud_graph_host_name', 'msgraph_host', 'aud', 'exp', 'iat', 'auth_time', 'acr', 'nonce', 'preferred_username', 'name', 'tid', 'ver', 'at_hash', 'c_hash', 'email'],
    kerberos_endpoint: `${base}/kerberos`,
    tenant_region_scope: 'EU',
    cloud_instance_name: new URL(origin).hostname,
    cloud_graph_host_name: 'graph.windows.net',
    msgraph_host: 'graph.microsoft.com',
    rbac_url: 'https://pas.windows.net',
  };
}

export function openidConfiguration(origin: string, tenantId: string) {
  return function serveDiscovery(ctx: Context) {
    if (ctx.params.tenant !== tenantId) return tenantNotFound(ctx, ctx.params.tenant!);
    ctx.set('Cache-Control', 'max-age=86400, private');
    ctx.body = discoveryDocument(origin, tenantId);
  };
}

export function keys(tokens: TokenIssuer) {
  return function serveKeys(ctx: Context) {
    if (ctx.params.tenant !== tokens.tenantId) return tenantNotFound(ctx, ctx.params.tenant!);
    ctx.set('Cache-Control', 'max-age=86400, private');
    ctx.body = tokens.jwks();
  };
}

/**
 * GET /common/discovery/instance?api-version=1.1&authorization_endpoint=…: MSAL's instance
 * discovery (it asks login.microsoftonline.com unless the host is in knownAuthorities). This
 * cloud has one host and no aliases.
 */
export function instanceDiscovery(origin: string, tenantId: string) {
  return function discoverInstance(ctx: Context) {
    const endpoint = typeof ctx.query.authorization_endpoint === 'string' ? URL.parse(ctx.query.authorization_endpoint) : null;
    const host = new URL(origin).host;
    if (!endpoint || endpoint.host !== host) {
      ctx.status = 400;
      ctx.body = { error: 'invalid_instance', error_description: 'AADSTS50049: Unknown or invalid instance.', error_codes: [50049] };
      return;
    }
    const tenant = endpoint.pathname.split('/')[1] || tenantId;
    ctx.body = {
      tenant_discovery_endpoint: `${origin}/${tenant}/v2.0/.well-known/openid-configuration`,
      'api-version': '1.1',
      metadata: [{ preferred_network: host, preferred_cache: host, aliases: [host] }],
    };
  };
}

function tenantNotFound(ctx: Context, tenant: string) {
  ctx.status = 400;
  ctx.body = {
    error: 'invalid_tenant',
    error_description: `AADSTS90002: Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`,
    error_codes: [90002],
  };
}
