import { randomUUID } from 'node:crypto';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import Router from '@koa/router';
import Koa from 'koa';
import { ensureDevCertificates } from '../../../server/dev-idp/certs';
import { authorize, login } from './authorize';
import type { ReceivedAssertion } from './client-assertion';
import { Directory, type AppRegistration, type ExposedApi, type TokenRequestRecord } from './directory';
import { endSession } from './logout';
import { instanceDiscovery, keys, openidConfiguration } from './metadata';
import { token } from './token';
import { loginHint, TokenIssuer } from './tokens';

export type { AppRegistration, ExposedApi, TokenRequestRecord } from './directory';
export type { ReceivedAssertion } from './client-assertion';

/**
 * A test-only Microsoft Entra ID on loopback HTTPS: one tenant, the v2.0 endpoints MSAL Node and
 * the BFF use, behaving as Entra does where the BFF can tell (test/support only; never imported
 * by server/ code). Known differences from the real service, among others: one host and no
 * aliases; tenant by GUID only; access tokens v2.0-shaped but with `aud` = the Application ID
 * URI (real v2.0 tokens carry the API's client id, v1.0 ones the sts.windows.net issuer);
 * fixed lifetimes; one signing key, never rotated; no consent screen (signing in consents to
 * every scope the authorize request names, and a token for any scope never consented to is
 * refused with AADSTS65001, suberror consent_required, as Entra does); no MFA or Conditional Access
 * (an authentication context asked for in the `claims` parameter is granted at once, and kept
 * by the refresh tokens of that sign-in);
 * response_mode=query only; client secrets and certificates (no federated credentials), one
 * certificate per app, and a client assertion's jti is refused a second use; refresh tokens never invalidated at all
 * (Entra does on password reset or admin revocation); one account per browser session.
 */
export interface EntraEmulatorOptions {
  tenantId?: string;
  /** APIs of the tenant ("Expose an API"); default api://sample-api with access_as_user. */
  apis?: ExposedApi[];
  accessTokenTtlSeconds?: number;
  /** Where the dev CA lives (shared with the dev IdP). */
  certDir?: string;
  /** false: ID tokens carry no `sid` (the optional claim was never added); default true. */
  sidClaim?: boolean;
}

export interface EntraAccount {
  oid: string;
  tid: string;
  /** MSAL's homeAccountId for this user: `<oid>.<tid>`. */
  homeAccountId: string;
  upn: string;
  /** The ID token's login_hint claim. */
  loginHint: string;
  /** The sid of each emulator session of the user not signed out yet, oldest first. */
  sids: string[];
}

export interface EntraEmulator {
  /** https://localhost:<port>: what ENTRA_CLOUD_INSTANCE is set to. */
  origin: string;
  tenantId: string;
  issuer: string;
  /** The dev CA (PEM) and its file: OIDC_CA_FILE. */
  ca: string;
  caFile: string;
  /** Registers an app, as the portal does; redirect URIs may be added later. */
  registerApplication(app: AppRegistration): AppRegistration;
  /** Every request received, as `METHOD /path` (no query): what MSAL and the BFF asked for. */
  requests: string[];
  /** Every authorize request's parameters, in order. */
  authorizeRequests: URLSearchParams[];
  /** Every token request's grant type and `claims` parameter, in order. */
  tokenRequests: TokenRequestRecord[];
  /** Every client assertion that authenticated an app (header and claims), in order. */
  clientAssertions: ReceivedAssertion[];
  /** Every front-channel logout URL it would load at sign-out. */
  frontchannelLogoutUrls(): string[];
  account(login: string): EntraAccount;
  close(): Promise<void>;
}

export async function startEntraEmulator(options: EntraEmulatorOptions = {}): Promise<EntraEmulator> {
  const certs = await ensureDevCertificates(options.certDir ?? '.dev-idp');
  const app = new Koa();
  // Listen first: every URL the emulator serves names its port. Requests are taken once routed.
  const server = https.createServer({ key: certs.key, cert: certs.cert });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, 'localhost', () => resolve());
  });
  const origin = `https://localhost:${(server.address() as AddressInfo).port}`;
  // Entra's tenant ids are lower-case GUIDs; MSAL lower-cases the authority anyway.
  const tenantId = (options.tenantId ?? randomUUID()).toLowerCase();
  const issuer = `${origin}/${tenantId}/v2.0`;
  const dir = new Directory(tenantId, options.apis ?? [{ appIdUri: 'api://sample-api', scopes: ['access_as_user'] }]);
  const tokens = await TokenIssuer.create(issuer, tenantId, options.accessTokenTtlSeconds ?? 3599, options.sidClaim ?? true);

  const requests: string[] = [];
  app.use((ctx, next) => {
    requests.push(`${ctx.method} ${ctx.path}`);
    return next();
  });
  const router = new Router();
  router.get('/common/discovery/instance', instanceDiscovery(origin, tenantId));
  router.get('/:tenant/v2.0/.well-known/openid-configuration', openidConfiguration(origin, tenantId));
  router.get('/:tenant/discovery/v2.0/keys', keys(tokens));
  router.get('/:tenant/oauth2/v2.0/authorize', authorize(dir));
  router.post('/:tenant/login', login(dir));
  router.post('/:tenant/oauth2/v2.0/token', token(dir, tokens));
  router.get('/:tenant/oauth2/v2.0/logout', endSession(dir));
  app.use(router.routes());
  app.use(router.allowedMethods());
  server.on('request', app.callback());

  return {
    origin,
    tenantId,
    issuer,
    ca: certs.ca,
    caFile: certs.caFile,
    requests,
    authorizeRequests: dir.authorizeRequests,
    tokenRequests: dir.tokenRequests,
    clientAssertions: dir.clientAssertions,
    registerApplication(registration) {
      dir.apps.set(registration.clientId, registration);
      return registration;
    },
    frontchannelLogoutUrls: () => [...dir.apps.values()].flatMap((a) => (a.frontchannelLogoutUrl ? [a.frontchannelLogoutUrl] : [])),
    account(login) {
      const user = dir.users.find((u) => u.login === login || u.upn === login);
      if (!user) throw new Error(`no user ${login} in the emulated tenant`);
      return {
        oid: user.oid,
        tid: tenantId,
        homeAccountId: `${user.oid}.${tenantId}`,
        upn: user.upn,
        loginHint: loginHint(user, tenantId),
        sids: [...dir.sessions.values()].filter((s) => s.oid === user.oid).map((s) => s.sid),
      };
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
