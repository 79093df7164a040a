import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { JWK } from 'jose';
import type { Context, Next } from 'koa';
import { ensureDevCertificates } from './certs';
import { frontchannelLogoutPage } from './frontchannel';
import { interactions } from './interactions';
import { loadPrivateKeyJwtCredential, type ClientCredential } from '../identity/client-keys';
import { ensureDevClientKey, ensureDevKeys } from './keys';
import { createDevProvider, DEV_BFF_CLIENT_ID, DEV_BFF_CLIENT_SECRET } from './provider';

export { DEV_BFF_CLIENT_ID, DEV_BFF_CLIENT_SECRET };

export interface DevIdpOptions {
  /** 0 picks a free port (tests). */
  port: number;
  host?: string;
  dataDir?: string;
  bffOrigins: string[];
  accessTokenTtlSeconds?: number;
  /** Front-channel logout iframes on the logout page; default on (DEV_IDP_FRONTCHANNEL). */
  frontchannel?: boolean;
  /** Back-channel logout tokens; default on (DEV_IDP_BACKCHANNEL). */
  backchannel?: boolean;
  /** Refresh-token rotation with reuse detection; default off (DEV_IDP_ROTATE_REFRESH_TOKENS). */
  rotateRefreshTokens?: boolean;
  /** How the BFF client authenticates (DEV_IDP_CLIENT_AUTH); default client_secret_post. */
  clientAuth?: 'client_secret_post' | 'private_key_jwt';
  /** Origins of "another app", the public SPA client. */
  anotherAppOrigins?: string[];
  /** Told of each token grant (type and client only), for dev logs and tests. */
  onGrant?: (grant: { grantType: string; clientId: string }) => void;
  /** Told of each refused token request (type and error code only). */
  onGrantError?: (grant: { grantType: string; error: string }) => void;
}

export interface DevIdp {
  issuer: string;
  ca: string;
  caFile: string;
  clientId: string;
  clientSecret: string;
  /** The BFF's credential here: the dev secret, or the private_key_jwt key made in dataDir. */
  credential: ClientCredential;
  /** With private_key_jwt: the BFF's key file (what OIDC_CLIENT_KEY_FILE names for a BFF of `npm run idp`). */
  clientKeyFile?: string;
  /** The private signing key: tests sign logout tokens the way the IdP does. */
  signingKey: JWK;
  close(): Promise<void>;
}

/**
 * The embedded development identity provider: oidc-provider over HTTPS on loopback, with seeded
 * users, a login form, implied consent for our own clients and RP-initiated logout.
 */
export async function startDevIdp(options: DevIdpOptions): Promise<DevIdp> {
  const dataDir = options.dataDir ?? '.dev-idp';
  const [certs, keys] = await Promise.all([ensureDevCertificates(dataDir), ensureDevKeys(dataDir)]);
  const clientKeyFile = options.clientAuth === 'private_key_jwt' ? await ensureDevClientKey(dataDir) : undefined;
  const credential: ClientCredential = clientKeyFile ? loadPrivateKeyJwtCredential(clientKeyFile) : { kind: 'client_secret_post', secret: DEV_BFF_CLIENT_SECRET };
  let handler: (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void = (_req, res) => {
    res.statusCode = 503;
    res.end();
  };
  const server = https.createServer({ key: certs.key, cert: certs.cert }, (req, res) => handler(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? 'localhost', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const issuer = `https://localhost:${port}`;
  const provider = createDevProvider({
    issuer,
    bffOrigins: options.bffOrigins,
    accessTokenTtlSeconds: options.accessTokenTtlSeconds ?? 3600,
    jwks: keys.jwks,
    cookieKeys: keys.cookieKeys,
    frontchannel: options.frontchannel ?? true,
    backchannel: options.backchannel ?? true,
    rotateRefreshTokens: options.rotateRefreshTokens ?? false,
    anotherAppOrigins: options.anotherAppOrigins ?? ['http://localhost:5174'],
    clientAuth: options.clientAuth,
  });
  if (options.onGrantError) {
    const onGrantError = options.onGrantError;
    provider.on('grant.error', (ctx, err) => onGrantError({ grantType: String(ctx.oidc.params?.grant_type), error: String((err as { error?: unknown }).error ?? 'server_error') }));
  }
  if (options.onGrant) {
    const onGrant = options.onGrant;
    provider.on('grant.success', (ctx) => onGrant({ grantType: String(ctx.oidc.params?.grant_type), clientId: ctx.oidc.client?.clientId ?? '' }));
  }
  provider.use(firstPartyAuthorizeRequests);
  if (options.frontchannel ?? true) provider.use(frontchannelLogoutPage(provider, issuer));
  provider.use(interactions(provider));
  handler = provider.callback();
  return {
    issuer,
    ca: certs.ca,
    caFile: certs.caFile,
    clientId: DEV_BFF_CLIENT_ID,
    clientSecret: DEV_BFF_CLIENT_SECRET,
    credential,
    clientKeyFile,
    signingKey: keys.jwks.keys[0]!,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * Makes authorization requests of our own clients behave as Entra's do, before oidc-provider
 * sees them:
 * - `sid` in the ID token: oidc-provider adds it only for back-channel clients or when the
 *   claims parameter asks for it; Entra always sends it, and our sign-out needs it.
 * - refresh tokens: oidc-provider drops offline_access unless prompt=consent (OIDC Core 11);
 *   consent for our clients is then granted without a screen (interactions.ts). Not with
 *   prompt=none (a silent sign-in, which must not show anything): there the grant the user
 *   already has decides (offlineAccessForSilentSignIn, provider.ts).
 */
function withSidClaim(claims: string | null): string {
  let parsed: { id_token?: Record<string, unknown> };
  try {
    parsed = claims ? JSON.parse(claims) : {};
  } catch {
    return claims ?? ''; // malformed: let oidc-provider reject it
  }
  if (!parsed || typeof parsed !== 'object') return claims ?? '';
  return JSON.stringify({ ...parsed, id_token: { ...(parsed.id_token ?? {}), sid: { essential: true } } });
}

async function firstPartyAuthorizeRequests(ctx: Context, next: Next) {
  if (ctx.path === '/auth' && ctx.method === 'GET') {
    const params = new URLSearchParams(ctx.querystring);
    params.set('claims', withSidClaim(params.get('claims')));
    const prompts = new Set((params.get('prompt') ?? '').split(' ').filter(Boolean));
    if ((params.get('scope') ?? '').split(' ').includes('offline_access') && !prompts.has('none')) {
      prompts.add('consent');
      params.set('prompt', [...prompts].join(' '));
    }
    ctx.querystring = params.toString();
  }
  return next();
}
