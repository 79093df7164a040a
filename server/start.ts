import { OpenedEntries } from './auth/opened-entries';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp } from './app';
import { accessTokens } from './auth/access-token';
import { TokenSealer } from './auth/token-encryption';
import { msalClientFactory } from './auth/msal-client';
import type { Config } from './config';
import { startDevIdp, type DevIdp } from './dev-idp';
import { SAMPLE_API_AUDIENCE, SAMPLE_TODO_API_AUDIENCE } from './dev-idp/provider';
import type { ProxiedApi } from './api/routing';
import { createOutbound } from './http/outbound';
import { discoverIdentityProvider, identityEndpoint, type IdentityProvider } from './identity/provider';
import { createLogger, type Logger } from './log';
import { startMetricsServer } from './metrics/endpoint';
import { createMetrics, noMetrics } from './metrics/metrics';
import { logoutTokenVerifier } from './logout/logout-token';
import { RefreshTokenRevocation } from './logout/revocation';
import { SignOutService } from './logout/sign-out';
import { Tombstones } from './logout/tombstones';
import { startSampleApi, type SampleApi } from './sample-api';
import type { Services } from './services';
import { createStores, type Stores } from './stores';
import { meteredStores } from './stores/metered';

export interface RunningBff {
  url: string;
  services: Services;
  stores: Stores;
  /** Seals token cache entries at rest; tests use it to read what the store holds. */
  sealer: TokenSealer;
  idp: IdentityProvider;
  devIdp?: DevIdp;
  sampleApi?: SampleApi;
  /** The second sample API (audience api://sample-todo-api), the named API `todo` when none is configured. */
  sampleTodoApi?: SampleApi;
  apiBaseUrl: string;
  /** Every API the proxy serves: the default (no name) first, then the named ones. */
  apis: ProxiedApi[];
  /** The metrics listener (METRICS_PORT), e.g. http://127.0.0.1:9464; its path is /metrics. */
  metricsUrl?: string;
  close(): Promise<void>;
}

export interface StartOptions {
  logger?: Logger;
  /** An http.Server already listening (tests pick port 0 first, then build the config). */
  server?: http.Server;
  /** Extra origins registered at the embedded dev IdP (Vite's dev server). */
  extraOrigins?: string[];
  stores?: Stores;
}

/**
 * Starts the BFF with what the configuration asks for: the embedded dev IdP and the sample API
 * when no real ones are configured, the stores, then the Koa app.
 */
export async function startBff(config: Config, options: StartOptions = {}): Promise<RunningBff> {
  const log = options.logger ?? createLogger();
  const closers: (() => Promise<unknown> | unknown)[] = [];
  try {
    let devIdp: DevIdp | undefined;
    if (config.identity.kind === 'dev') {
      devIdp = await startDevIdp({
        port: config.identity.port,
        bffOrigins: [...new Set([config.publicUrl, ...(options.extraOrigins ?? [])])],
        accessTokenTtlSeconds: config.identity.accessTokenTtlSeconds,
        frontchannel: config.identity.frontchannel,
        backchannel: config.identity.backchannel && config.backchannelLogout,
        rotateRefreshTokens: config.identity.rotateRefreshTokens,
        clientAuth: config.identity.clientAuth,
      });
      closers.push(() => devIdp!.close());
      log.info('dev-idp.started', { issuer: devIdp.issuer });
    }
    const ca = devIdp?.ca ?? (config.identity.kind === 'dev' ? undefined : config.identity.ca);
    const outbound = createOutbound(ca);
    closers.push(() => outbound.close());
    const idp = await discoverIdentityProvider(identityEndpoint(config, devIdp), outbound);

    let sampleApi: SampleApi | undefined;
    let apiBaseUrl = config.api.baseUrl;
    if (!apiBaseUrl) {
      sampleApi = await startSampleApi({
        port: config.api.samplePort,
        issuer: idp.issuer,
        jwksUri: idp.jwksUri,
        audience: SAMPLE_API_AUDIENCE,
        requiredScope: config.api.scopes[0]!,
        outbound,
      });
      closers.push(() => sampleApi!.close());
      apiBaseUrl = sampleApi.url;
      log.info('sample-api.started', { url: sampleApi.url });
    }
    let sampleTodoApi: SampleApi | undefined;
    const named: ProxiedApi[] = [];
    for (const api of config.api.named) {
      let baseUrl = api.baseUrl;
      if (baseUrl === undefined) {
        // A second audience of its own: a token for the first sample API is refused here, and the reverse.
        sampleTodoApi = await startSampleApi({ port: config.api.sampleTodoPort, issuer: idp.issuer, jwksUri: idp.jwksUri, audience: SAMPLE_TODO_API_AUDIENCE, requiredScope: api.scopes[0]!, outbound });
        closers.push(() => sampleTodoApi!.close());
        baseUrl = sampleTodoApi.url;
        log.info('sample-api.started', { url: baseUrl, api: api.name });
      }
      named.push({ name: api.name, baseUrl, scopes: api.scopes, timeoutMs: api.timeoutMs, mount: `/api/${api.name}` });
    }
    const apis: ProxiedApi[] = [{ baseUrl: apiBaseUrl, scopes: config.api.scopes, timeoutMs: config.api.timeoutMs, mount: '/api' }, ...named];

    // Counting starts only where an endpoint will show it (METRICS_PORT or METRICS_TOKEN).
    const metrics = config.metrics ? createMetrics({ processMetrics: true }) : noMetrics;
    const stores = meteredStores(options.stores ?? createStores(config), metrics);
    closers.push(() => stores.close());
    const tombstones = new Tombstones(stores.logout, config.sessionAbsoluteMs, () => stores.now());
    const sealer = new TokenSealer(config.tokenCacheKeys);
    const msal = msalClientFactory(idp, outbound, { store: stores.tokens, tombstones, sealer, ttlMs: config.sessionAbsoluteMs, log });
    // Closed before the stores (closers run in reverse): no deadline or retry outlives them.
    const revocation = config.revokeRefreshTokens ? new RefreshTokenRevocation(idp, outbound, stores.logout, sealer, log, { deadlineMs: config.revocationDeadlineMs }) : undefined;
    if (revocation) closers.push(() => revocation.close());
    const signOut = new SignOutService(stores, tombstones, log, config.sessionAbsoluteMs, revocation, metrics);
    const opened = new OpenedEntries(sealer, { maxBytes: config.openedEntryCacheBytes });
    closers.push(async () => opened.close());
    const accessToken = accessTokens(msal, log, {
      tokens: stores.tokens,
      leases: stores,
      tombstones,
      opened,
      clientId: idp.clientId,
      authorityTenant: idp.authorityTenant,
      minRemainingShare: config.accessTokenMinRemainingShare,
      metrics,
    });
    const services: Services = { config, idp, msal, accessToken, stores, signOut, tombstones, sealer, log, metrics };
    const verifyLogoutToken = config.backchannelLogout
      ? logoutTokenVerifier({
          issuer: idp.issuer,
          clientId: idp.clientId,
          jwksUri: idp.jwksUri,
          outbound,
          algorithms: idp.signingAlgorithms,
          cooldownMs: config.jwksCooldownMs,
          expOptional: config.logoutTokenExpOptional,
        })
      : undefined;
    const app = createApp(services, { apis, verifyLogoutToken });

    const server = options.server ?? http.createServer();
    server.on('request', app.callback());
    if (!server.listening) {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(config.port, config.host, () => resolve());
      });
    }
    closers.push(
      () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    );
    const metricsPort = config.metrics?.port;
    const metricsServer = metricsPort === undefined ? undefined : await startMetricsServer(metrics, { host: config.metrics!.host, port: metricsPort, token: config.metrics!.token });
    if (metricsServer) {
      closers.push(() => metricsServer.close());
      log.info('metrics.started', { url: `${metricsServer.url}/metrics` });
    }
    const { port } = server.address() as AddressInfo;
    return {
      url: `http://localhost:${port}`,
      services,
      stores,
      sealer,
      idp,
      devIdp,
      sampleApi,
      sampleTodoApi,
      apiBaseUrl,
      apis,
      metricsUrl: metricsServer?.url,
      close: async () => {
        for (const close of closers.reverse()) await close();
      },
    };
  } catch (err) {
    for (const close of closers.reverse()) await Promise.resolve(close()).catch(() => {});
    throw err;
  }
}
