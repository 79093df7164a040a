import { CookieKeys } from './session/cookie-keys';
import Router from '@koa/router';
import Koa from 'koa';
import { apiProxy } from './api/proxy';
import type { ProxiedApi } from './api/routing';
import { HttpError } from './errors';
import { callback } from './auth/callback';
import { clientJwks } from './auth/client-jwks';
import { login } from './auth/login';
import { PendingLogins } from './auth/pending-logins';
import { sessionInfo } from './auth/session';
import { SilentSignIn } from './auth/silent-sign-in';
import { userSessionRoutes } from './auth/sessions';
import { startTokenCacheRead } from './auth/token-cache';
import { requireCsrfHeader } from './http/csrf';
import { healthz, readyz } from './http/health';
import { CLIENT_JWKS_PATH } from './identity/client-keys';
import { boundedUrl } from './http/limits';
import { problemResponses } from './http/problem';
import { requestLog } from './http/request-log';
import { METRICS_PATH, metricsRoute } from './metrics/endpoint';
import { requestMetrics, routeLabeller } from './metrics/http';
import { securityHeaders } from './http/security-headers';
import { spaFiles } from './http/static';
import { backchannelLogout, methodNotAllowed, noCache } from './logout/backchannel';
import { EndSession } from './logout/end-session';
import { frontchannelLogout } from './logout/frontchannel';
import type { LogoutToken } from './logout/logout-token';
import { spaLogout } from './logout/spa';
import { requireUser } from './session/current-user';
import { sessions } from './session/middleware';
import { UserSessions } from './session/user-sessions';
import type { Services } from './services';

/**
 * Builds the BFF without listening: tests and main.ts both use it. Middleware reads top to
 * bottom in the order of the defences.
 */
export interface AppOptions {
  /** The default API (no name, at /api/*) and the named ones (at /api/<name>/*). */
  apis: ProxiedApi[];
  /** Back-channel logout is on when a verifier is given (off for IdPs without it, e.g. Entra). */
  verifyLogoutToken?: (token: string) => Promise<LogoutToken>;
}

export function createApp(services: Services, options: AppOptions): Koa {
  const { config, log, stores, signOut } = services;
  // Behind a TLS-terminating proxy (TRUST_PROXY=1), X-Forwarded-Proto/-For are believed.
  const app = new Koa({ proxy: config.trustProxy });
  app.keys = new CookieKeys(config.sessionKeys);
  app.on('error', () => {}); // every error is rendered and logged by problemResponses

  // Sessions only where they are used: static files and the logout callbacks never read one.
  const sessionStore = sessions(app, config, stores.sessions, services.tombstones, services.metrics);
  // A browser whose session ends gets no silent sign-in until it signs in with a click.
  const session = new SilentSignIn(config).watch(sessionStore.middleware);
  const pendingLogins = new PendingLogins({ sessionKeys: config.sessionKeys, production: config.production, timeoutMs: config.loginTimeoutMs });
  const signedIn = requireUser(signOut);
  const router = new Router();
  // Neither reads the session: pending sign-ins live in their own cookies; the callback ends
  // the browser's previous session and starts a new one itself.
  router.get('/auth/login', login(services, pendingLogins));
  router.get('/auth/callback', callback(services, pendingLogins, sessionStore));
  router.get('/auth/session', session, sessionInfo(services));
  const endSession = new EndSession(config, services.idp, stores);
  router.post('/auth/logout', requireCsrfHeader, session, signedIn, spaLogout(services, endSession));
  // "Your sessions": the user's own BFF sessions, and ending one of the others (not the IdP's).
  const yourSessions = userSessionRoutes(new UserSessions(config, stores.sessions, signOut, services.tombstones, log, services.metrics), sessionStore);
  router.get('/auth/sessions', requireCsrfHeader, session, signedIn, yourSessions.list);
  router.delete('/auth/sessions/:handle', requireCsrfHeader, session, signedIn, yourSessions.end);
  // No session needed: a signed-out SPA can still end the IdP session (without a hint).
  router.get('/auth/end-session', endSession.route());
  router.get('/auth/frontchannel-logout', frontchannelLogout(services));
  if (options.verifyLogoutToken) {
    router.post('/auth/backchannel-logout', noCache, backchannelLogout(services, options.verifyLogoutToken));
    router.get('/auth/backchannel-logout', noCache, methodNotAllowed('POST'));
  }
  router.get(CLIENT_JWKS_PATH, clientJwks(services.idp.credential));
  router.get('/healthz', healthz);
  // On the main port only behind METRICS_TOKEN, and only without a listener of its own (METRICS_PORT).
  if (config.metrics?.token && config.metrics.port === undefined) router.get(METRICS_PATH, metricsRoute(services.metrics, config.metrics.token));
  router.get('/readyz', readyz(stores));
  // The API route reads the user's token cache entry alongside the tombstone check (one round trip).
  const signedInWithTokens = requireUser(signOut, (user) => startTokenCacheRead(stores.tokens, user.homeAccountId));
  router.all(/^\/api(?:\/.*)?$/, requireCsrfHeader, session, signedInWithTokens, apiProxy(services, options.apis));

  app.use(requestLog(log, config.logRequests));
  if (services.metrics.enabled) app.use(requestMetrics(services.metrics, routeLabeller(options.apis)));
  app.use(problemResponses(log));
  app.use(boundedUrl);
  app.use(securityHeaders(config.production));
  if (config.production) {
    // PUBLIC_URL is https in production: the user's connection is TLS even where ours (from
    // the proxy) is not, so Secure cookies are right whatever X-Forwarded-Proto says.
    app.use(async (ctx, next) => {
      ctx.cookies.secure = true;
      await next();
    });
  }
  app.use(router.routes());
  // A method no route knows (PROPFIND, M-SEARCH, …) is the client's mistake: 405, never a 5xx.
  const notAllowed = () => new HttpError(405, 'method_not_allowed', 'Method not allowed.');
  app.use(router.allowedMethods({ throw: true, notImplemented: notAllowed, methodNotAllowed: notAllowed }));
  app.use(spaFiles(config.staticDir));
  return app;
}
