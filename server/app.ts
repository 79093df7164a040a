import Router from '@koa/router';
import Koa from 'koa';
import { apiProxy } from './api/proxy';
import { callback } from './auth/callback';
import { login } from './auth/login';
import { sessionInfo } from './auth/session';
import { requireCsrfHeader } from './http/csrf';
import { problemResponses } from './http/problem';
import { requestLog } from './http/request-log';
import { securityHeaders } from './http/security-headers';
import { spaFiles } from './http/static';
import { spaLogout } from './logout/spa';
import { requireUser } from './session/current-user';
import { sessions } from './session/middleware';
import type { Services } from './services';

/**
 * Builds the BFF without listening: tests and main.ts both use it. Middleware reads top to
 * bottom in the order of the defences.
 */
export function createApp(services: Services, options: { apiBaseUrl: string }): Koa {
  const { config, log, stores, signOut } = services;
  const app = new Koa({ keys: [...config.sessionKeys], proxy: false });
  app.on('error', () => {}); // every error is rendered and logged by problemResponses

  const signedIn = requireUser(signOut);
  const router = new Router();
  router.get('/auth/login', login(services));
  router.get('/auth/callback', callback(services));
  router.get('/auth/session', sessionInfo(services));
  router.post('/auth/logout', requireCsrfHeader, signedIn, spaLogout(services));
  router.all(/^\/api(?:\/.*)?$/, requireCsrfHeader, signedIn, apiProxy(services, options.apiBaseUrl));

  const withSession = sessions(app, config, stores.sessions);
  app.use(requestLog(log, config.logRequests));
  app.use(problemResponses(log));
  app.use(securityHeaders(config.production));
  // Sessions only where they are used: static files never touch the store.
  app.use(async (ctx, next) => (ctx.path.startsWith('/auth/') || ctx.path === '/api' || ctx.path.startsWith('/api/') ? withSession(ctx, next) : next()));
  app.use(router.routes());
  app.use(router.allowedMethods({ throw: true }));
  app.use(spaFiles(config.staticDir));
  return app;
}
