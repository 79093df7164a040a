import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';
import type { SignOutPath } from '../logout/sign-out';

/**
 * What operators count (README, "Metrics"). Routes and services call these small typed methods;
 * only this module knows prom-client. Every label value is one of a fixed, small set: never a
 * user, session, sid, token or raw path (a label value is kept in memory forever, and is read by
 * whoever can scrape).
 */
export interface Metrics {
  /** False for noMetrics (no endpoint configured): callers may skip work done only for metrics. */
  readonly enabled: boolean;
  /** A global sign-out of one user (SignOutService.signOut) finished with `outcome`. */
  signOut(path: SignOutPath, outcome: SignOutOutcome): void;
  /** A signed-in session was written and its cookie set (Sessions.begin). */
  sessionStarted(): void;
  /** `count` sessions ended for `reason` (see SessionEndReason). */
  sessionsEnded(reason: SessionEndReason, count?: number): void;
  /** One silent token renewal at the IdP (refresh token grant): ok, or why it failed. */
  refreshGrant(outcome: RefreshOutcome): void;
  /** A call that waited for another's token acquisition instead of starting its own. */
  singleFlightWait(kind: SingleFlightWait): void;
  /** One call to a store (stores/metered.ts); `failed`: it threw (StoreUnavailableError). */
  storeCall(store: StoreName, operation: StoreOperation, failed: boolean): void;
  /** A back-channel logout token refused with 400 (logout/backchannel.ts): a LogoutTokenRefusal reason or the problem code. */
  logoutTokenRefused(reason: string): void;
  /** One HTTP request: its route pattern (http.ts routeLabel), final status, duration in seconds. */
  requestFinished(route: string, status: number, seconds: number): void;
  /** The Prometheus text exposition format (version 0.0.4) of every series. */
  exposition(): Promise<{ contentType: string; body: string }>;
}

/**
 * ok; unreplicated: the tombstone did not reach REDIS_SIGNOUT_REPLICAS replicas in time (503,
 * the caller retries); store_unavailable: a store failed at another step (503); error: anything else.
 */
export type SignOutOutcome = 'ok' | 'unreplicated' | 'store_unavailable' | 'error';

/**
 * sign_out: ended by a global sign-out (the sessions it deleted); idle, absolute: found past
 * SESSION_IDLE_MINUTES or SESSION_ABSOLUTE_HOURS on use; fixation: the browser's previous session,
 * ended by a new sign-in in that browser (never carried over); device_signout: ended by the user
 * from the sessions page ("sign out this device").
 */
export type SessionEndReason = 'sign_out' | 'idle' | 'absolute' | 'fixation' | 'device_signout';

/**
 * ok; invalid_grant: the IdP refused the refresh token (revoked, expired, reused);
 * consent_required: scopes not granted yet (incremental consent); interaction_required: the IdP
 * wants the user (or no refresh token was there); upstream: the IdP could not be reached or
 * answered with an error of its own; error: anything else (e.g. an unreadable cache entry).
 */
export type RefreshOutcome = 'ok' | 'invalid_grant' | 'consent_required' | 'interaction_required' | 'upstream' | 'error';

/** in_process: joined a call of this instance for the same user and scopes; lease: waited for another instance's refresh of the user. */
export type SingleFlightWait = 'in_process' | 'lease';

/** The Stores namespaces, plus the shared store's leases, clock (now) and replication wait. */
export type StoreName = 'sessions' | 'tokens' | 'logout' | 'leases' | 'clock' | 'replication' | 'ping';
export type StoreOperation = 'get' | 'set' | 'delete' | 'delete_if' | 'set_if' | 'lease' | 'release' | 'now' | 'wait' | 'ping';

const SIGN_OUT_PATHS: SignOutPath[] = ['spa', 'frontchannel', 'backchannel'];
const SIGN_OUT_OUTCOMES: SignOutOutcome[] = ['ok', 'unreplicated', 'store_unavailable', 'error'];
const SESSION_END_REASONS: SessionEndReason[] = ['sign_out', 'idle', 'absolute', 'fixation', 'device_signout'];
const REFRESH_OUTCOMES: RefreshOutcome[] = ['ok', 'invalid_grant', 'consent_required', 'interaction_required', 'upstream', 'error'];
const SINGLE_FLIGHT_WAITS: SingleFlightWait[] = ['in_process', 'lease'];

/** Seconds; from a 2 ms static file to a 10 s API timeout (API_TIMEOUT_MS' default). */
const DURATION_BUCKETS = [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface MetricsOptions {
  /** Node's process metrics (CPU, memory, event loop lag, GC) in the same registry (prom-client's collectDefaultMetrics). */
  processMetrics?: boolean;
}

/**
 * A registry of its own per BFF instance (never prom-client's global one: several BFFs in one
 * test process must not share counts). Series that take a known set of labels start at 0, so a
 * rate() over them works from the first scrape and "none yet" reads as 0, not as absent.
 */
export function createMetrics(options: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  const registers = [registry];
  if (options.processMetrics) collectDefaultMetrics({ register: registry });

  const signOuts = new Counter({ name: 'bff_signouts_total', help: 'Global sign-outs of one user, by the path that started it and outcome.', labelNames: ['path', 'outcome'] as const, registers });
  const sessionsStarted = new Counter({ name: 'bff_sessions_started_total', help: 'Signed-in sessions started (a completed sign-in).', registers });
  const sessionsEnded = new Counter({ name: 'bff_sessions_ended_total', help: 'Sessions ended, by reason: sign_out, idle, absolute, fixation, device_signout.', labelNames: ['reason'] as const, registers });
  const refreshes = new Counter({ name: 'bff_token_refreshes_total', help: 'Refresh token grants at the identity provider, by outcome (ok, or why it failed).', labelNames: ['outcome'] as const, registers });
  const waits = new Counter({ name: 'bff_single_flight_waits_total', help: "Access token requests that waited for another's acquisition: in_process (same instance) or lease (another instance's refresh).", labelNames: ['kind'] as const, registers });
  const storeCalls = new Counter({ name: 'bff_store_calls_total', help: 'Calls to the shared store, by store and operation.', labelNames: ['store', 'operation'] as const, registers });
  const storeErrors = new Counter({ name: 'bff_store_errors_total', help: 'Store calls that failed or timed out (answered 503), by store and operation.', labelNames: ['store', 'operation'] as const, registers });
  const refusals = new Counter({ name: 'bff_logout_token_refusals_total', help: 'Back-channel logout requests refused with 400, by reason.', labelNames: ['reason'] as const, registers });
  const durations = new Histogram({
    name: 'bff_http_request_duration_seconds',
    help: 'HTTP request duration in seconds, by route pattern and status class.',
    labelNames: ['route', 'status_class'] as const,
    buckets: DURATION_BUCKETS,
    registers,
  });

  for (const path of SIGN_OUT_PATHS) for (const outcome of SIGN_OUT_OUTCOMES) signOuts.inc({ path, outcome }, 0);
  for (const reason of SESSION_END_REASONS) sessionsEnded.inc({ reason }, 0);
  for (const outcome of REFRESH_OUTCOMES) refreshes.inc({ outcome }, 0);
  for (const kind of SINGLE_FLIGHT_WAITS) waits.inc({ kind }, 0);

  return {
    enabled: true,
    signOut: (path, outcome) => signOuts.inc({ path, outcome }),
    sessionStarted: () => sessionsStarted.inc(),
    sessionsEnded: (reason, count = 1) => {
      if (count > 0) sessionsEnded.inc({ reason }, count);
    },
    refreshGrant: (outcome) => refreshes.inc({ outcome }),
    singleFlightWait: (kind) => waits.inc({ kind }),
    storeCall: (store, operation, failed) => {
      storeCalls.inc({ store, operation });
      if (failed) storeErrors.inc({ store, operation });
    },
    logoutTokenRefused: (reason) => refusals.inc({ reason }),
    requestFinished: (route, status, seconds) => durations.observe({ route, status_class: `${Math.floor(status / 100)}xx` }, seconds),
    exposition: async () => ({ contentType: registry.contentType, body: await registry.metrics() }),
  };
}

/** Metrics off (neither METRICS_PORT nor METRICS_TOKEN): every call does nothing. */
export const noMetrics: Metrics = {
  enabled: false,
  signOut() {},
  sessionStarted() {},
  sessionsEnded() {},
  refreshGrant() {},
  singleFlightWait() {},
  storeCall() {},
  logoutTokenRefused() {},
  requestFinished() {},
  exposition: async () => ({ contentType: 'text/plain; version=0.0.4; charset=utf-8', body: '' }),
};
