import type { RedisTarget } from './stores/redis-connection';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { generateTokenCacheKey, parseTokenCacheKeys, TokenCacheKeyError, type TokenCacheKey } from './auth/token-encryption';
import { ClientKeyError, loadCertificateCredential, loadPrivateKeyJwtCredential, type ClientCredential } from './identity/client-keys';

/**
 * Configuration is read once, here, from the environment; nothing else reads process.env.
 * A bad value stops the process with one message that names every bad variable.
 */

export type IdentityConfig =
  | {
      kind: 'dev';
      port: number;
      accessTokenTtlSeconds: number;
      frontchannel: boolean;
      backchannel: boolean;
      rotateRefreshTokens: boolean;
      /** How the BFF authenticates at the embedded dev IdP (DEV_IDP_CLIENT_AUTH); private_key_jwt keys live in .dev-idp/. */
      clientAuth: 'client_secret_post' | 'private_key_jwt';
    }
  | { kind: 'oidc'; authority: string; clientId: string; credential: ClientCredential; caFile?: string; ca?: string }
  | { kind: 'entra'; tenantId: string; clientId: string; credential: ClientCredential; cloudInstance: string; caFile?: string; ca?: string };

export interface Config {
  production: boolean;
  port: number;
  host: string;
  /** The public origin, e.g. http://localhost:3000: every URL we build starts from here. */
  publicUrl: string;
  sessionKeys: string[];
  sessionKeysGenerated: boolean;
  /** AES-256-GCM keys for token cache entries at rest; the first seals. */
  tokenCacheKeys: TokenCacheKey[];
  tokenCacheKeyGenerated: boolean;
  /** Trust X-Forwarded-Proto/-For from a TLS-terminating proxy in front of the BFF. */
  trustProxy: boolean;
  /** Largest request body /api/* forwards. */
  maxApiBodyBytes: number;
  sessionIdleMs: number;
  sessionAbsoluteMs: number;
  loginTimeoutMs: number;
  /** The shared Redis (REDIS_URL with REDIS_CLUSTER, or REDIS_SENTINEL); in-memory stores when absent. */
  redis?: RedisTarget;
  /** Prepended to every Redis key, so several deployments can share one Redis. */
  redisKeyPrefix: string;
  identity: IdentityConfig;
  /**
   * The default API (API_BASE_URL, at /api/*) and the named ones (DOWNSTREAM_APIS, each at
   * /api/<name>/*). A missing baseUrl is an embedded sample API (development only).
   */
  api: { baseUrl?: string; scopes: string[]; timeoutMs: number; samplePort: number; sampleTodoPort: number; named: DownstreamApi[] };
  /** OPENED_ENTRY_CACHE_MB in bytes: opened token cache entries kept per instance (opened-entries.ts); 0: none. */
  openedEntryCacheBytes: number;
  /** An access token is reused while at least this share of its lifetime is left (cached-token.ts). */
  accessTokenMinRemainingShare: number;
  postLogoutRedirectUri: string;
  backchannelLogout: boolean;
  /** Accept logout tokens without `exp` when `iat` is recent (providers that omit it; FINDINGS). */
  logoutTokenExpOptional: boolean;
  /** RFC 7009 revocation of a signed-out user's refresh tokens, where the IdP has a revocation_endpoint (logout/revocation.ts). */
  revokeRefreshTokens: boolean;
  /** How long a sign-out started in the SPA waits for the IdP's end of session before revoking anyway (ms). */
  revocationDeadlineMs: number;
  /** Least time between two JWKS fetches triggered by an unknown `kid` (an IdP-load guard). */
  jwksCooldownMs: number;
  staticDir: string;
  logRequests: boolean;
  /** SILENT_SIGN_IN: the SPA may try one prompt=none sign-in when it loads signed out (auth/silent-sign-in.ts); default on with the dev IdP only. */
  silentSignIn: boolean;
  /** Prometheus metrics (server/metrics/); undefined: none collected and no endpoint (neither METRICS_PORT nor METRICS_TOKEN). */
  metrics?: MetricsConfig;
}

/**
 * Where /metrics is served: on its own listener (METRICS_PORT, on METRICS_HOST, loopback by
 * default) or, without a port, on the main port; `token` (METRICS_TOKEN) is then required as a
 * bearer token, and on the own listener too when set.
 */
export interface MetricsConfig {
  port?: number;
  host: string;
  token?: string;
}

/** A named downstream API (DOWNSTREAM_APIS): `/api/<name>/*` goes to `baseUrl` with a token for exactly `scopes`. */
export interface DownstreamApi {
  /** A lower-case path segment, unique. */
  name: string;
  /** No path, query or fragment beyond the API's base path, no trailing slash; undefined: the sample todo API (development only). */
  baseUrl?: string;
  scopes: string[];
  timeoutMs: number;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export const DEFAULT_SAMPLE_API_SCOPE = 'api://sample-api/access_as_user';
/** The second sample API of `npm start`, a named API at /api/todo/* with an audience of its own. */
export const SAMPLE_TODO_API_NAME = 'todo';
export const SAMPLE_TODO_API_SCOPE = 'api://sample-todo-api/access_as_user';

const port = (fallback: number) =>
  z.coerce.number({ error: 'expects a port number (1-65535)' }).int('expects a whole port number').min(0).max(65535).default(fallback);
const positive = (fallback: number, unit: string) =>
  z.coerce.number({ error: `expects a positive number of ${unit}` }).positive(`expects a positive number of ${unit}`).default(fallback);
const httpUrl = z.url({ protocol: /^https?$/, error: 'expects an absolute http(s) URL' });
const httpsUrl = z.url({ protocol: /^https$/, error: 'expects an absolute https URL' });
const nonEmpty = z.string().trim().min(1, 'must not be empty');
const flag = z.enum(['0', '1', 'true', 'false'], { error: 'expects 1/true or 0/false' }).transform((v) => v === '1' || v === 'true');

/** REDIS_SENTINEL: `<primary name>@<host>:<port>[,<host>:<port>…]`; a host is a name, IPv4, or [IPv6]. */
const SENTINEL_FORM = /^([\w.-]+)@((?:(?:[\w.-]+|\[[0-9a-fA-F:.]+\]):\d{1,5})(?:,(?:[\w.-]+|\[[0-9a-fA-F:.]+\]):\d{1,5})*)$/;

const schema = z.object({
  NODE_ENV: z.string().optional(),
  PORT: port(3000),
  HOST: z.string().default('localhost'),
  PUBLIC_URL: httpUrl.default('http://localhost:3000'),
  SESSION_KEYS: z
    .string()
    .transform((v) => v.split(',').map((k) => k.trim()).filter(Boolean))
    .pipe(z.array(z.string().min(32, 'each key must be at least 32 characters')).min(1, 'expects at least one key'))
    .optional(),
  TOKEN_CACHE_KEY: z.string().optional(),
  TRUST_PROXY: flag.default(false),
  API_MAX_BODY_BYTES: positive(1_048_576, 'bytes'),
  SESSION_IDLE_MINUTES: positive(30, 'minutes'),
  SESSION_ABSOLUTE_HOURS: positive(12, 'hours'),
  LOGIN_TIMEOUT_MINUTES: positive(10, 'minutes'),
  REDIS_URL: z.url({ protocol: /^rediss?$/, error: 'expects a redis:// or rediss:// URL' }).optional(),
  REDIS_KEY_PREFIX: z.string().regex(/^[\w.:-]{0,64}$/, 'expects up to 64 letters, digits, _ . : or -').default('bff:'),
  REDIS_CLUSTER: flag.default(false),
  OPENED_ENTRY_CACHE_MB: z.coerce.number({ error: 'expects a number of MiB (0 turns the cache off)' }).min(0, 'expects a number of MiB (0 turns the cache off)').max(4096, 'expects at most 4096 MiB').default(64),
  REDIS_SENTINEL: z
    .string()
    .regex(SENTINEL_FORM, 'expects <primary name>@<host>:<port>[,<host>:<port>…], e.g. mymaster@10.0.0.5:26379,10.0.0.6:26379')
    .refine((v) => parseSentinels(v)?.sentinels.every(({ port }) => port >= 1 && port <= 65535) ?? true, 'expects every sentinel port in 1-65535')
    .optional(),
  REDIS_PASSWORD: nonEmpty.optional(),
  REDIS_SIGNOUT_REPLICAS: z.coerce.number({ error: 'expects a whole number of replicas (0 or more)' }).int('expects a whole number of replicas (0 or more)').min(0, 'expects a whole number of replicas (0 or more)').max(16, 'expects at most 16').optional(),
  REDIS_ALLOW_PLAINTEXT: flag.default(false),
  SINGLE_INSTANCE_MEMORY_STORES: flag.default(false),
  ENTRA_TENANT_ID: nonEmpty.optional(),
  ENTRA_CLIENT_ID: nonEmpty.optional(),
  ENTRA_CLIENT_SECRET: nonEmpty.optional(),
  ENTRA_CLIENT_CERTIFICATE_KEY_FILE: nonEmpty.optional(),
  ENTRA_CLIENT_CERTIFICATE_FILE: nonEmpty.optional(),
  ENTRA_CLIENT_CERTIFICATE_THUMBPRINT: z
    .string()
    .regex(/^(?:[0-9a-fA-F]{2}:?){19}[0-9a-fA-F]{2}$|^(?:[0-9a-fA-F]{2}:?){31}[0-9a-fA-F]{2}$/, 'expects the certificate\'s thumbprint in hex: 64 digits (SHA-256) or 40 (SHA-1), colons allowed')
    .optional(),
  ENTRA_CLOUD_INSTANCE: httpsUrl.default('https://login.microsoftonline.com'),
  OIDC_AUTHORITY: httpsUrl.optional(),
  OIDC_CLIENT_ID: nonEmpty.optional(),
  OIDC_CLIENT_SECRET: nonEmpty.optional(),
  OIDC_CLIENT_KEY_FILE: nonEmpty.optional(),
  OIDC_CLIENT_KEY_ID: z.string().regex(/^[\x21-\x7e]{1,128}$/, 'expects a key id of 1-128 printable characters, no spaces').optional(),
  OIDC_CLIENT_KEY_ALG: z.enum(['RS256', 'PS256', 'ES256'], { error: 'expects RS256, PS256 (RSA keys) or ES256 (EC P-256 keys)' }).optional(),
  OIDC_CA_FILE: nonEmpty.optional(),
  DEV_IDP_PORT: port(4443),
  DEV_IDP_ACCESS_TOKEN_TTL: positive(3600, 'seconds'),
  DEV_IDP_FRONTCHANNEL: flag.default(true),
  DEV_IDP_BACKCHANNEL: flag.default(true),
  DEV_IDP_ROTATE_REFRESH_TOKENS: flag.default(false),
  DEV_IDP_CLIENT_AUTH: z.enum(['client_secret_post', 'private_key_jwt'], { error: 'expects client_secret_post or private_key_jwt' }).default('client_secret_post'),
  JWKS_REFETCH_COOLDOWN_SECONDS: z.coerce.number({ error: 'expects a number of seconds (0 or more)' }).min(0, 'expects a number of seconds (0 or more)').default(30),
  API_BASE_URL: httpUrl.optional(),
  API_ALLOW_PLAINTEXT_HTTP: flag.default(false),
  API_SCOPES: z
    .string()
    .transform((v) => v.split(/[\s,]+/).filter(Boolean))
    .pipe(z.array(z.string()).min(1, 'expects at least one scope'))
    .optional(),
  API_TIMEOUT_MS: positive(10_000, 'milliseconds'),
  ACCESS_TOKEN_MIN_REMAINING_SHARE: z.coerce
    .number({ error: 'expects a share between 0 and 1, e.g. 0.25' })
    .gt(0, 'expects a share between 0 and 1, e.g. 0.25')
    .lt(1, 'expects a share between 0 and 1, e.g. 0.25')
    .default(0.25),
  SAMPLE_API_PORT: port(4000),
  SAMPLE_TODO_API_PORT: z.coerce.number({ error: 'expects a port number (1-65535)' }).int('expects a whole port number').min(0).max(65535).optional(),
  DOWNSTREAM_APIS: z.string().optional(),
  POST_LOGOUT_REDIRECT_URI: httpUrl.optional(),
  BACKCHANNEL_LOGOUT: flag.optional(),
  LOGOUT_TOKEN_EXP_OPTIONAL: flag.default(false),
  REVOKE_REFRESH_TOKENS: flag.default(true),
  REVOCATION_DEADLINE_SECONDS: positive(180, 'seconds'),
  STATIC_DIR: z.string().default('dist/client'),
  LOG_REQUESTS: flag.default(true),
  SILENT_SIGN_IN: flag.optional(),
  METRICS_PORT: z.coerce.number({ error: 'expects a port number (1-65535)' }).int('expects a whole port number').min(0, 'expects a port number (1-65535)').max(65535, 'expects a port number (1-65535)').optional(),
  METRICS_HOST: z.string().trim().min(1, 'must not be empty').optional(),
  METRICS_TOKEN: z.string().min(32, 'expects a token of at least 32 characters, e.g. METRICS_TOKEN=$(openssl rand -base64 32)').regex(/^[\x21-\x7e]+$/, 'expects printable characters without spaces (it is sent as a bearer token)').optional(),
});

type Env = Record<string, string | undefined>;

export function loadConfig(env: Env = process.env): Readonly<Config> {
  // An empty variable counts as unset, as in most shells' `VAR= cmd`.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = schema.safeParse(cleaned);
  const problems: string[] = [];
  if (!parsed.success) {
    for (const issue of parsed.error.issues) problems.push(`${String(issue.path[0])}: ${issue.message}`);
    throw new ConfigError(problems);
  }
  const e = parsed.data;
  const production = e.NODE_ENV === 'production';
  const publicUrl = new URL(e.PUBLIC_URL);
  if (publicUrl.pathname !== '/' || publicUrl.search || publicUrl.hash) {
    problems.push('PUBLIC_URL: expects an origin only, e.g. https://app.example.com (no path, query or fragment)');
  }

  // A provider is meant when any of its variables is set: then its ids are required, and
  // exactly one client credential (entraCredential, oidcCredential).
  const entraIds = ['ENTRA_TENANT_ID', 'ENTRA_CLIENT_ID'] as const;
  const oidcIds = ['OIDC_AUTHORITY', 'OIDC_CLIENT_ID'] as const;
  const entraSet = [...entraIds, ...ENTRA_CREDENTIAL_VARS].filter((k) => e[k] !== undefined);
  const oidcSet = [...oidcIds, ...OIDC_CREDENTIAL_VARS].filter((k) => e[k] !== undefined);
  if (entraSet.length > 0 && oidcSet.length > 0) {
    problems.push(`ENTRA_* and OIDC_*: set one identity provider, not both (found ${[...entraSet, ...oidcSet].join(', ')})`);
  }
  for (const [ids, set] of [[entraIds, entraSet], [oidcIds, oidcSet]] as const) {
    if (set.length > 0) {
      for (const k of ids.filter((k) => !set.includes(k as never))) problems.push(`${k}: is required when ${set.join(', ')} is set`);
    }
  }
  const entraClientCredential = entraSet.length > 0 ? entraCredential(e, problems) : undefined;
  const oidcClientCredential = oidcSet.length > 0 ? oidcCredential(e, problems) : undefined;

  let tokenCacheKeys: TokenCacheKey[] | undefined;
  if (e.TOKEN_CACHE_KEY) {
    try {
      tokenCacheKeys = parseTokenCacheKeys(e.TOKEN_CACHE_KEY);
    } catch (err) {
      if (!(err instanceof TokenCacheKeyError)) throw err;
      problems.push(`TOKEN_CACHE_KEY: ${err.message}; e.g. TOKEN_CACHE_KEY=k1:$(openssl rand -base64 32)`);
    }
  }
  if (e.POST_LOGOUT_REDIRECT_URI && new URL(e.POST_LOGOUT_REDIRECT_URI).origin !== publicUrl.origin) {
    problems.push('POST_LOGOUT_REDIRECT_URI: must be on the origin of PUBLIC_URL (same-origin only, no open redirect)');
  }

  if (e.SINGLE_INSTANCE_MEMORY_STORES && (e.REDIS_URL || e.REDIS_SENTINEL)) {
    problems.push(`SINGLE_INSTANCE_MEMORY_STORES: asks for in-memory stores, but ${e.REDIS_URL ? 'REDIS_URL' : 'REDIS_SENTINEL'} is set; unset one of them`);
  }
  if (e.REDIS_SENTINEL && (e.REDIS_URL || e.REDIS_CLUSTER)) {
    problems.push('REDIS_SENTINEL: names the primary and its sentinels; it cannot be combined with REDIS_URL or REDIS_CLUSTER=1 (unset those)');
  }
  if (e.REDIS_CLUSTER && !e.REDIS_URL) problems.push('REDIS_CLUSTER: expects REDIS_URL to name a root node of the cluster');
  if (e.REDIS_PASSWORD && !e.REDIS_SENTINEL) {
    problems.push('REDIS_PASSWORD: is for REDIS_SENTINEL only; with REDIS_URL, put the password in the URL (redis://:password@host:port)');
  }

  if (e.ENTRA_TENANT_ID && ['common', 'organizations', 'consumers'].includes(e.ENTRA_TENANT_ID.toLowerCase())) {
    // Multi-tenant aliases have a templated issuer ({tenantid}): front-channel logout, keyed on
    // (issuer, sid), could never find the user. One tenant per deployment.
    problems.push(`ENTRA_TENANT_ID: expects your tenant's id or domain, not "${e.ENTRA_TENANT_ID}" (multi-tenant authorities are not supported)`);
  }

  let ca: string | undefined;
  if (e.OIDC_CA_FILE) {
    try {
      ca = readFileSync(e.OIDC_CA_FILE, 'utf8');
      if (!ca.includes('BEGIN CERTIFICATE')) problems.push(`OIDC_CA_FILE: ${e.OIDC_CA_FILE} holds no PEM certificate`);
    } catch {
      problems.push(`OIDC_CA_FILE: cannot read ${e.OIDC_CA_FILE}; expects a readable PEM file`);
    }
  }

  let identity: IdentityConfig;
  if (e.ENTRA_TENANT_ID && e.ENTRA_CLIENT_ID && entraClientCredential) {
    identity = {
      kind: 'entra',
      tenantId: e.ENTRA_TENANT_ID,
      clientId: e.ENTRA_CLIENT_ID,
      credential: entraClientCredential,
      cloudInstance: e.ENTRA_CLOUD_INSTANCE.replace(/\/+$/, ''),
      caFile: e.OIDC_CA_FILE,
      ca,
    };
  } else if (e.OIDC_AUTHORITY && e.OIDC_CLIENT_ID && oidcClientCredential) {
    identity = {
      kind: 'oidc',
      authority: e.OIDC_AUTHORITY.replace(/\/+$/, ''),
      clientId: e.OIDC_CLIENT_ID,
      credential: oidcClientCredential,
      caFile: e.OIDC_CA_FILE,
      ca,
    };
  } else {
    identity = {
      kind: 'dev',
      port: e.DEV_IDP_PORT,
      accessTokenTtlSeconds: e.DEV_IDP_ACCESS_TOKEN_TTL,
      frontchannel: e.DEV_IDP_FRONTCHANNEL,
      backchannel: e.DEV_IDP_BACKCHANNEL,
      rotateRefreshTokens: e.DEV_IDP_ROTATE_REFRESH_TOKENS,
      clientAuth: e.DEV_IDP_CLIENT_AUTH,
    };
  }

  if (production) {
    if (!e.SESSION_KEYS) problems.push('SESSION_KEYS: is required in production (comma-separated keys of 32+ characters)');
    if (!e.TOKEN_CACHE_KEY) problems.push('TOKEN_CACHE_KEY: is required in production (<id>:<base64 of 32 random bytes>, comma-separated for rotation)');
    if (identity.kind === 'dev') problems.push('ENTRA_* or OIDC_*: production needs a real identity provider; the embedded dev IdP is for development only');
    if (!e.API_BASE_URL) problems.push('API_BASE_URL: is required in production; the sample API is for development only');
    if (publicUrl.protocol !== 'https:') problems.push('PUBLIC_URL: must be https in production');
    problems.push(...productionTransportProblems(e));
    if (e.JWKS_REFETCH_COOLDOWN_SECONDS < 1) {
      // Each logout token with an unknown kid may trigger a fetch: 0 lets anyone make us hammer the IdP.
      problems.push('JWKS_REFETCH_COOLDOWN_SECONDS: must be at least 1 in production (0 lets every logout token with an unknown kid refetch the IdP\'s JWKS)');
    }
  }
  const named = downstreamApis(env, e, production);
  problems.push(...named.problems);
  problems.push(...metricsProblems(e));
  if (problems.length > 0) throw new ConfigError(problems);

  const sessionKeys = e.SESSION_KEYS ?? [randomBytes(32).toString('base64url')];
  const config: Config = {
    production,
    port: e.PORT,
    host: e.HOST,
    publicUrl: publicUrl.origin,
    sessionKeys,
    sessionKeysGenerated: !e.SESSION_KEYS,
    tokenCacheKeys: tokenCacheKeys ?? [generateTokenCacheKey()],
    tokenCacheKeyGenerated: !tokenCacheKeys,
    trustProxy: e.TRUST_PROXY,
    maxApiBodyBytes: e.API_MAX_BODY_BYTES,
    sessionIdleMs: e.SESSION_IDLE_MINUTES * 60_000,
    sessionAbsoluteMs: e.SESSION_ABSOLUTE_HOURS * 3_600_000,
    loginTimeoutMs: e.LOGIN_TIMEOUT_MINUTES * 60_000,
    redis: redisTarget(e),
    redisKeyPrefix: e.REDIS_KEY_PREFIX,
    identity,
    api: {
      baseUrl: e.API_BASE_URL?.replace(/\/+$/, ''),
      scopes: e.API_SCOPES ?? [DEFAULT_SAMPLE_API_SCOPE],
      timeoutMs: e.API_TIMEOUT_MS,
      samplePort: e.SAMPLE_API_PORT,
      // With SAMPLE_API_PORT=0 (tests) the todo API takes a free port too.
      sampleTodoPort: e.SAMPLE_TODO_API_PORT ?? (e.SAMPLE_API_PORT === 0 ? 0 : e.SAMPLE_API_PORT + 1),
      named: named.apis,
    },
    accessTokenMinRemainingShare: e.ACCESS_TOKEN_MIN_REMAINING_SHARE,
    openedEntryCacheBytes: Math.floor(e.OPENED_ENTRY_CACHE_MB * 2 ** 20),
    postLogoutRedirectUri: e.POST_LOGOUT_REDIRECT_URI ?? `${publicUrl.origin}/`,
    backchannelLogout: e.BACKCHANNEL_LOGOUT ?? identity.kind !== 'entra',
    logoutTokenExpOptional: e.LOGOUT_TOKEN_EXP_OPTIONAL,
    revokeRefreshTokens: e.REVOKE_REFRESH_TOKENS,
    revocationDeadlineMs: e.REVOCATION_DEADLINE_SECONDS * 1000,
    jwksCooldownMs: e.JWKS_REFETCH_COOLDOWN_SECONDS * 1000,
    staticDir: e.STATIC_DIR,
    logRequests: e.LOG_REQUESTS,
    silentSignIn: e.SILENT_SIGN_IN ?? identity.kind === 'dev',
    ...(e.METRICS_PORT !== undefined || e.METRICS_TOKEN ? { metrics: { port: e.METRICS_PORT, host: (e.METRICS_HOST ?? DEFAULT_METRICS_HOST).replace(/^\[(.*)\]$/, '$1'), token: e.METRICS_TOKEN } } : {}),
  };
  return deepFreeze(config);
}

const ENTRA_CERTIFICATE_VARS = ['ENTRA_CLIENT_CERTIFICATE_KEY_FILE', 'ENTRA_CLIENT_CERTIFICATE_FILE', 'ENTRA_CLIENT_CERTIFICATE_THUMBPRINT'] as const;
const ENTRA_CREDENTIAL_VARS = ['ENTRA_CLIENT_SECRET', ...ENTRA_CERTIFICATE_VARS] as const;
const OIDC_KEY_VARS = ['OIDC_CLIENT_KEY_FILE', 'OIDC_CLIENT_KEY_ID', 'OIDC_CLIENT_KEY_ALG'] as const;
const OIDC_CREDENTIAL_VARS = ['OIDC_CLIENT_SECRET', ...OIDC_KEY_VARS] as const;

/**
 * Entra's client credential: a secret, or a certificate (its private key from a PEM file, and the
 * certificate from a PEM file or by thumbprint), never both. Problems name the variables.
 */
function entraCredential(e: z.infer<typeof schema>, problems: string[]): ClientCredential | undefined {
  const certificateSet = ENTRA_CERTIFICATE_VARS.filter((k) => e[k] !== undefined);
  if (e.ENTRA_CLIENT_SECRET && certificateSet.length > 0) {
    problems.push(`ENTRA_CLIENT_SECRET and ${certificateSet.join(', ')}: set one client credential, not both: a secret (ENTRA_CLIENT_SECRET) or a certificate (ENTRA_CLIENT_CERTIFICATE_*)`);
    return undefined;
  }
  if (e.ENTRA_CLIENT_SECRET) return { kind: 'client_secret_post', secret: e.ENTRA_CLIENT_SECRET };
  const { ENTRA_CLIENT_CERTIFICATE_KEY_FILE: keyFile, ENTRA_CLIENT_CERTIFICATE_FILE: certificateFile, ENTRA_CLIENT_CERTIFICATE_THUMBPRINT: thumbprint } = e;
  if (certificateSet.length === 0) {
    problems.push(
      'ENTRA_CLIENT_SECRET or ENTRA_CLIENT_CERTIFICATE_KEY_FILE: a client credential is required: a secret (ENTRA_CLIENT_SECRET), or a certificate ' +
        '(ENTRA_CLIENT_CERTIFICATE_KEY_FILE with ENTRA_CLIENT_CERTIFICATE_FILE or ENTRA_CLIENT_CERTIFICATE_THUMBPRINT)',
    );
    return undefined;
  }
  const before = problems.length;
  if (!keyFile) problems.push(`ENTRA_CLIENT_CERTIFICATE_KEY_FILE: is required when ${certificateSet.join(', ')} is set: the certificate's private key, a PEM file`);
  if (certificateFile && thumbprint) {
    problems.push('ENTRA_CLIENT_CERTIFICATE_FILE and ENTRA_CLIENT_CERTIFICATE_THUMBPRINT: set one, not both (with the file, the thumbprint is computed from it)');
  } else if (!certificateFile && !thumbprint) {
    problems.push(
      'ENTRA_CLIENT_CERTIFICATE_FILE or ENTRA_CLIENT_CERTIFICATE_THUMBPRINT: is required with ENTRA_CLIENT_CERTIFICATE_KEY_FILE: the certificate as a PEM file ' +
        '(its chain is sent as x5c, for subject name/issuer authentication), or its thumbprint',
    );
  }
  if (problems.length > before || !keyFile) return undefined;
  try {
    return loadCertificateCredential(keyFile, certificateFile ? { file: certificateFile } : { thumbprint: thumbprint! });
  } catch (err) {
    if (!(err instanceof ClientKeyError)) throw err;
    problems.push(`${err.about === 'certificate' ? 'ENTRA_CLIENT_CERTIFICATE_FILE' : 'ENTRA_CLIENT_CERTIFICATE_KEY_FILE'}: ${err.message}`);
    return undefined;
  }
}

/** A generic provider's client credential: a secret (client_secret_post), or a private key file (private_key_jwt), never both. */
function oidcCredential(e: z.infer<typeof schema>, problems: string[]): ClientCredential | undefined {
  const keySet = OIDC_KEY_VARS.filter((k) => e[k] !== undefined);
  if (e.OIDC_CLIENT_SECRET && keySet.length > 0) {
    problems.push(`OIDC_CLIENT_SECRET and ${keySet.join(', ')}: set one client credential, not both: a secret (OIDC_CLIENT_SECRET) or a private key (OIDC_CLIENT_KEY_*)`);
    return undefined;
  }
  if (e.OIDC_CLIENT_SECRET) return { kind: 'client_secret_post', secret: e.OIDC_CLIENT_SECRET };
  if (!e.OIDC_CLIENT_KEY_FILE) {
    problems.push(
      keySet.length > 0
        ? `OIDC_CLIENT_KEY_FILE: is required when ${keySet.join(', ')} is set: the private key (PEM or JWK) that signs the client assertions`
        : 'OIDC_CLIENT_SECRET or OIDC_CLIENT_KEY_FILE: a client credential is required: a secret (client_secret_post), or a private key file, PEM or JWK (private_key_jwt)',
    );
    return undefined;
  }
  try {
    return loadPrivateKeyJwtCredential(e.OIDC_CLIENT_KEY_FILE, { kid: e.OIDC_CLIENT_KEY_ID, alg: e.OIDC_CLIENT_KEY_ALG });
  } catch (err) {
    if (!(err instanceof ClientKeyError)) throw err;
    problems.push(`OIDC_CLIENT_KEY_FILE: ${err.message}${e.OIDC_CLIENT_KEY_ALG ? ' (OIDC_CLIENT_KEY_ALG)' : ''}`);
    return undefined;
  }
}

const LOOPBACK_FORMS = 'localhost, 127.0.0.0/8 or [::1]';

/** A named API's name: a lower-case path segment of letters, digits and inner hyphens. */
const API_NAME = /^[a-z](?:[a-z0-9-]{0,30}[a-z0-9])?$/;
/** A scope as RFC 6749 §3.3 allows one (printable ASCII but space, `"` and `\`). */
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

/** `DOWNSTREAM_API_<NAME>_<FIELD>`: the name upper-cased, hyphens as underscores. */
export const downstreamApiVariable = (name: string, field: 'BASE_URL' | 'SCOPES' | 'TIMEOUT_MS') => `DOWNSTREAM_API_${name.toUpperCase().replace(/-/g, '_')}_${field}`;

/**
 * The named APIs: DOWNSTREAM_APIS=<name>[,<name>…], then for each DOWNSTREAM_API_<NAME>_BASE_URL
 * (required), _SCOPES (required, space- or comma-separated) and _TIMEOUT_MS (default
 * API_TIMEOUT_MS). Unset in development with no API_BASE_URL: the sample todo API as `todo`.
 * A name is a path segment (API_NAME), unique; it takes /api/<name> and everything under it
 * from the default API. No scope belongs to two APIs (the default one included): a token is
 * chosen by scopes, so a shared scope would send one API's token to the other. Base URLs follow
 * API_BASE_URL's rules (https in production unless loopback or API_ALLOW_PLAINTEXT_HTTP=1).
 */
/** The scopes every sign-in and token request asks for (login scopes): never one API's own. */
const OIDC_SCOPES = ['openid', 'profile', 'email', 'offline_access', 'address', 'phone'];

function downstreamApis(env: Env, e: z.infer<typeof schema>, production: boolean): { apis: DownstreamApi[]; problems: string[] } {
  const problems: string[] = [];
  const value = (name: string) => (env[name] === undefined || env[name] === '' ? undefined : env[name]!.trim());
  const names = e.DOWNSTREAM_APIS?.split(',').map((n) => n.trim()) ?? [];
  const apis: DownstreamApi[] = [];
  if (e.DOWNSTREAM_APIS === undefined && !e.API_BASE_URL && !production) {
    apis.push({ name: SAMPLE_TODO_API_NAME, scopes: [SAMPLE_TODO_API_SCOPE], timeoutMs: e.API_TIMEOUT_MS });
  }
  // Every token request asks for these too (OIDC Core §3.1.2.1, §11): as an API's scope they
  // would name every API at once, so no API may claim one.
  const owner = new Map<string, string>(OIDC_SCOPES.map((s) => [s, 'a standard OpenID scope, asked for with every token']));
  for (const s of e.API_SCOPES ?? [DEFAULT_SAMPLE_API_SCOPE]) {
    if (owner.has(s.toLowerCase())) problems.push(`API_SCOPES: the scope ${s} is ${owner.get(s.toLowerCase())}; expects the API's own scopes (e.g. api://my-api/access_as_user)`);
    else owner.set(s.toLowerCase(), 'API_SCOPES');
  }
  for (const name of names) {
    if (!API_NAME.test(name)) {
      problems.push(`DOWNSTREAM_APIS: "${name.slice(0, 40)}" is not a valid API name; expects comma-separated names of lower-case letters, digits and inner hyphens (up to 32), e.g. DOWNSTREAM_APIS=graph,orders`);
      continue;
    }
    if (apis.some((a) => a.name === name)) {
      problems.push(`DOWNSTREAM_APIS: names ${name} twice; each name is one API at /api/${name}/*`);
      continue;
    }
    const urlVar = downstreamApiVariable(name, 'BASE_URL');
    const scopesVar = downstreamApiVariable(name, 'SCOPES');
    const timeoutVar = downstreamApiVariable(name, 'TIMEOUT_MS');
    const baseUrl = checkedBaseUrl(urlVar, value(urlVar), production, e.API_ALLOW_PLAINTEXT_HTTP, problems);
    const scopes = (value(scopesVar) ?? '').split(/[\s,]+/).filter(Boolean);
    if (scopes.length === 0) problems.push(`${scopesVar}: is required for the API ${name} (its scopes, space- or comma-separated, e.g. https://graph.microsoft.com/User.Read)`);
    for (const scope of scopes) {
      const other = owner.get(scope.toLowerCase());
      if (!SCOPE_TOKEN.test(scope)) problems.push(`${scopesVar}: "${scope.slice(0, 60)}" is not a valid scope (RFC 6749 §3.3)`);
      else if (other?.includes(' ')) problems.push(`${scopesVar}: the scope ${scope} is ${other}; expects the API's own scopes (e.g. api://my-api/access_as_user)`);
      else if (other) problems.push(`${scopesVar}: the scope ${scope} is also ${other}'s; a scope names one API, or its token would reach both`);
      else owner.set(scope.toLowerCase(), scopesVar);
    }
    const timeoutRaw = value(timeoutVar);
    const timeoutMs = timeoutRaw === undefined ? e.API_TIMEOUT_MS : Number(timeoutRaw);
    if (!(Number.isFinite(timeoutMs) && timeoutMs > 0)) problems.push(`${timeoutVar}: expects a positive number of milliseconds`);
    if (baseUrl !== undefined) apis.push({ name, baseUrl, scopes, timeoutMs });
  }
  // Variables for an API not in the list are a typo or a forgotten name: say so rather than ignore them.
  for (const key of Object.keys(env)) {
    const m = /^DOWNSTREAM_API_(.+)_(?:BASE_URL|SCOPES|TIMEOUT_MS)$/.exec(key);
    if (m && !names.some((n) => API_NAME.test(n) && n.toUpperCase().replace(/-/g, '_') === m[1])) {
      problems.push(`${key}: names an API that DOWNSTREAM_APIS does not list (${e.DOWNSTREAM_APIS ?? 'it is not set'})`);
    }
  }
  return { apis, problems };
}

/** A named API's base URL, checked as API_BASE_URL is; undefined (with a problem) when it is not usable. */
function checkedBaseUrl(variable: string, raw: string | undefined, production: boolean, allowPlaintext: boolean, problems: string[]): string | undefined {
  if (raw === undefined) {
    problems.push(`${variable}: is required (the API's base URL, e.g. https://graph.microsoft.com/v1.0)`);
    return undefined;
  }
  const parsed = httpUrl.safeParse(raw);
  if (!parsed.success) {
    problems.push(`${variable}: expects an absolute http(s) URL`);
    return undefined;
  }
  const url = new URL(parsed.data);
  if (url.search || url.hash || url.username || url.password) {
    problems.push(`${variable}: expects a base URL without query, fragment or user info`);
    return undefined;
  }
  if (production && !allowPlaintext && url.protocol === 'http:' && !isLoopbackHost(url)) {
    problems.push(
      `${variable}: must be https:// in production, or http:// to a loopback host (${LOOPBACK_FORMS}); got http:// to ${url.hostname}. ` +
        'Set API_ALLOW_PLAINTEXT_HTTP=1 to send access tokens to it unencrypted anyway',
    );
    return undefined;
  }
  return parsed.data.replace(/\/+$/, '');
}

function redisTarget(e: z.infer<typeof schema>): RedisTarget | undefined {
  const replicas = e.REDIS_SIGNOUT_REPLICAS === undefined ? {} : { signOutReplicas: e.REDIS_SIGNOUT_REPLICAS };
  if (e.REDIS_SENTINEL) {
    const { name, sentinels } = parseSentinels(e.REDIS_SENTINEL)!;
    return { kind: 'sentinel', name, sentinels, ...(e.REDIS_PASSWORD ? { password: e.REDIS_PASSWORD } : {}), ...replicas };
  }
  if (e.REDIS_URL) return { kind: e.REDIS_CLUSTER ? 'cluster' : 'standalone', url: e.REDIS_URL, ...replicas };
  return undefined;
}

/** REDIS_SENTINEL's primary name and sentinel addresses (a bracketed IPv6 host unbracketed), or undefined when it is not of SENTINEL_FORM. */
function parseSentinels(value: string): { name: string; sentinels: { host: string; port: number }[] } | undefined {
  const [, name, list] = SENTINEL_FORM.exec(value) ?? [];
  if (name === undefined || list === undefined) return undefined;
  const sentinels = list.split(',').map((address) => {
    const at = address.lastIndexOf(':');
    return { host: address.slice(0, at).replace(/^\[(.*)\]$/, '$1'), port: Number(address.slice(at + 1)) };
  });
  return { name, sentinels };
}

/**
 * Production sends access tokens to the API and sessions and tokens to Redis: in clear text only
 * where the traffic stays on this machine, or where an opt-in says, by its name, what it gives up.
 * Hosts are named, never URLs, which may carry a password.
 */
function productionTransportProblems(e: z.infer<typeof schema>): string[] {
  const problems: string[] = [];
  if (e.API_BASE_URL && !e.API_ALLOW_PLAINTEXT_HTTP) {
    const api = new URL(e.API_BASE_URL);
    if (api.protocol === 'http:' && !isLoopbackHost(api)) {
      problems.push(
        `API_BASE_URL: must be https:// in production, or http:// to a loopback host (${LOOPBACK_FORMS}); got http:// to ${api.hostname}. ` +
          'Set API_ALLOW_PLAINTEXT_HTTP=1 to send access tokens to it unencrypted anyway',
      );
    }
  }
  if (e.REDIS_SENTINEL) {
    if (!e.REDIS_ALLOW_PLAINTEXT) {
      // The sentinels name the primary; the BFF then connects to it, wherever it is, without TLS.
      problems.push(
        'REDIS_SENTINEL: the BFF reaches Sentinel and its primary without TLS (rediss:// is supported with REDIS_URL only). ' +
          'Set REDIS_ALLOW_PLAINTEXT=1 to send sessions and tokens to Redis unencrypted anyway, on a network you trust',
      );
    }
  } else if (!e.REDIS_URL) {
    if (!e.SINGLE_INSTANCE_MEMORY_STORES) {
      problems.push(
        'REDIS_URL: is required in production: in-memory stores keep sessions and sign-outs in this one process, so a sign-out ' +
          'does not reach other instances and is forgotten on restart. Set SINGLE_INSTANCE_MEMORY_STORES=1 to run one instance on in-memory stores anyway',
      );
    }
  } else if (!e.REDIS_ALLOW_PLAINTEXT) {
    const redis = new URL(e.REDIS_URL);
    if (redis.protocol === 'redis:' && e.REDIS_CLUSTER) {
      // The root node only announces the cluster's nodes; the BFF then connects to those, wherever they are.
      problems.push(
        `REDIS_URL: must be rediss:// (TLS) in production with REDIS_CLUSTER=1, even to a loopback root node (the other nodes are wherever the cluster says); got redis:// to ${redis.hostname}. ` +
          'Set REDIS_ALLOW_PLAINTEXT=1 to send sessions and tokens to Redis unencrypted anyway',
      );
    } else if (redis.protocol === 'redis:' && !isLoopbackHost(redis)) {
      problems.push(
        `REDIS_URL: must be rediss:// (TLS) in production, or redis:// to a loopback host (${LOOPBACK_FORMS}); got redis:// to ${redis.hostname}. ` +
          'Set REDIS_ALLOW_PLAINTEXT=1 to send sessions and tokens to Redis unencrypted anyway',
      );
    }
  }
  return problems;
}

/** METRICS_HOST's default: IPv4 loopback, where a Prometheus on the same host finds it (localhost may resolve to ::1 alone). */
export const DEFAULT_METRICS_HOST = '127.0.0.1';

/**
 * Metrics are never public by default: METRICS_HOST needs METRICS_PORT, and a host other than
 * loopback needs METRICS_TOKEN (in development too: the series tell who is active, and when).
 */
function metricsProblems(e: z.infer<typeof schema>): string[] {
  const problems: string[] = [];
  if (e.METRICS_HOST !== undefined && e.METRICS_PORT === undefined) {
    problems.push('METRICS_HOST: is the address of the metrics listener, which METRICS_PORT turns on; set METRICS_PORT too (or unset METRICS_HOST)');
  }
  if (e.METRICS_PORT !== undefined && e.METRICS_PORT !== 0 && e.METRICS_PORT === e.PORT) {
    problems.push(`METRICS_PORT: must differ from PORT (${e.PORT}); to serve /metrics on the main port, unset METRICS_PORT and set METRICS_TOKEN`);
  }
  if (e.METRICS_HOST !== undefined && !e.METRICS_TOKEN) {
    let loopback: boolean;
    try {
      loopback = isLoopbackHost(new URL(`http://${e.METRICS_HOST.includes(':') && !e.METRICS_HOST.startsWith('[') ? `[${e.METRICS_HOST}]` : e.METRICS_HOST}/`));
    } catch {
      problems.push('METRICS_HOST: expects a host name or an IP address to listen on, e.g. 127.0.0.1');
      return problems;
    }
    if (!loopback) {
      problems.push(`METRICS_HOST: ${e.METRICS_HOST} is not a loopback address (${LOOPBACK_FORMS}); set METRICS_TOKEN too, so only a scraper holding it reads the metrics`);
    }
  }
  return problems;
}

/**
 * localhost, 127.0.0.0/8 or ::1, read from the parsed URL's host, so 127.0.0.1.evil.example or
 * a user-info "127.0.0.1@" is not. For http: the URL parser has already put IPv4 in dotted
 * decimal and lower-cased the name; a redis: host is left as written, so only those plain forms
 * count there (127.1 and the like are refused, though a resolver might take them).
 * ::ffff:127.0.0.1 is refused too: a spelling no one needs, whose reach depends on the stack.
 */
function isLoopbackHost(url: URL): boolean {
  const host = url.hostname.toLowerCase();
  if (host === 'localhost' || host === '[::1]') return true;
  const octets = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host)?.slice(1);
  return octets !== undefined && octets.every((o) => Number(o) <= 255 && (o === '0' || !o.startsWith('0')));
}

function deepFreeze<T extends object>(value: T): Readonly<T> {
  for (const v of Object.values(value)) if (v && typeof v === 'object' && !ArrayBuffer.isView(v)) deepFreeze(v);
  return Object.freeze(value);
}
