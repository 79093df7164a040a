import { createRemoteJWKSet, customFetch, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import { HttpError } from '../errors';
import type { Outbound } from '../http/outbound';

export const BACKCHANNEL_EVENT = 'http://schemas.openid.net/event/backchannel-logout';
/** Asymmetric algorithms only: never `none`, never an HMAC keyed by something public. */
const ASYMMETRIC = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];
export const LOGOUT_TOKEN_MAX_AGE_S = 300;
const CLOCK_SKEW_S = 30;

export interface LogoutToken {
  jti: string;
  sub?: string;
  sid?: string;
  iat: number;
}

export interface LogoutTokenVerifierOptions {
  issuer: string;
  clientId: string;
  jwksUri: string;
  outbound: Outbound;
  /** The IdP's id_token_signing_alg_values_supported, when it publishes them. */
  algorithms?: string[];
  cooldownMs: number;
  /**
   * Accept a token without `exp` when its `iat` is within LOGOUT_TOKEN_MAX_AGE_S
   * (LOGOUT_TOKEN_EXP_OPTIONAL=1): Glewlwyd 2.7, Keycloak before 23.0.4, Ory Hydra, authentik
   * before 2025.8.2 and LemonLDAP::NG send none (FINDINGS). Off by default: §2.6 validates
   * `exp` as for ID tokens.
   */
  expOptional?: boolean;
}

/**
 * `typ` values a logout token may carry (§2.4 and errata §4.1: `logout+jwt` is RECOMMENDED, and
 * requiring it breaks most deployments). Absent, `JWT` (Keycloak before 24, Glewlwyd) and
 * `logout+jwt` are accepted; a `typ` naming any other kind (`at+jwt`, `secevent+jwt`, …) is not,
 * so no other token of the IdP's can be replayed here.
 */
const LOGOUT_TOKEN_TYPES = new Set(['jwt', 'application/jwt', 'logout+jwt', 'application/logout+jwt']);

/** Why a logout token was refused, in a word an operator can count (bff_logout_token_refusals_total); the message says more. */
export type LogoutTokenRefusalReason =
  | 'expired'
  | `missing_${Claim}`
  | `invalid_${Claim}`
  | 'algorithm'
  | 'unknown_key'
  | 'signature'
  | 'malformed'
  | 'typ'
  | 'events'
  | 'nonce'
  | 'no_subject';
type Claim = 'iss' | 'aud' | 'iat' | 'exp' | 'nbf' | 'jti' | 'sub' | 'claim';

/** A 400 invalid_logout_token with its reason. */
export class LogoutTokenRefusal extends HttpError {
  constructor(
    readonly reason: LogoutTokenRefusalReason,
    message: string,
  ) {
    super(400, 'invalid_logout_token', message);
    this.name = 'LogoutTokenRefusal';
  }
}

const invalid = (reason: LogoutTokenRefusalReason, message: string) => new LogoutTokenRefusal(reason, message);

/**
 * Validates a logout_token as OIDC Back-Channel Logout 1.0, section 2.6, requires: signature
 * from the IdP's JWKS (an unknown kid refetches it, at most once per cooldown), algorithm,
 * iss, aud, iat, exp, typ, events, no nonce, sub and/or sid, jti.
 */
export function logoutTokenVerifier(options: LogoutTokenVerifierOptions) {
  const jwks = createRemoteJWKSet(new URL(options.jwksUri), {
    [customFetch]: options.outbound.fetchForJose,
    cooldownDuration: options.cooldownMs,
    timeoutDuration: 5000,
  });
  const algorithms = (options.algorithms ?? ASYMMETRIC).filter((a) => ASYMMETRIC.includes(a));

  return async function verifyLogoutToken(token: string): Promise<LogoutToken> {
    let payload: JWTPayload;
    let typ: string | undefined;
    try {
      const verified = await jwtVerify(token, jwks, {
        issuer: options.issuer,
        audience: options.clientId,
        algorithms,
        maxTokenAge: LOGOUT_TOKEN_MAX_AGE_S,
        clockTolerance: CLOCK_SKEW_S,
        requiredClaims: options.expOptional ? ['iat', 'jti'] : ['iat', 'exp', 'jti'],
      });
      payload = verified.payload;
      typ = verified.protectedHeader.typ;
    } catch (err) {
      const refusal = refusalOf(err);
      if (refusal === 'unavailable') throw new HttpError(503, 'upstream_unavailable', "The identity provider's keys could not be fetched; retry later.", { cause: err });
      throw refusal;
    }
    if (typ !== undefined && (typeof typ !== 'string' || !LOGOUT_TOKEN_TYPES.has(typ.toLowerCase()))) {
      throw invalid('typ', `The logout token's typ header names another kind of token (${String(typ).slice(0, 40).replace(/[^\w+./-]/g, '?')}).`);
    }
    const events = payload.events;
    if (!events || typeof events !== 'object' || Array.isArray(events)) throw invalid('events', 'The logout token has no events object.');
    // Own members only: the token's JSON is the sender's input (a `__proto__` member included).
    const event = Object.hasOwn(events, BACKCHANNEL_EVENT) ? (events as Record<string, unknown>)[BACKCHANNEL_EVENT] : undefined;
    if (!event || typeof event !== 'object' || Array.isArray(event)) throw invalid('events', 'The logout token is not a back-channel logout event.');
    if (Object.hasOwn(payload, 'nonce')) throw invalid('nonce', 'A logout token must not carry a nonce.');
    const sub = typeof payload.sub === 'string' && payload.sub ? payload.sub : undefined;
    const sid = typeof payload.sid === 'string' && payload.sid ? payload.sid : undefined;
    if (!sub && !sid) throw invalid('no_subject', 'The logout token names neither a subject nor a session.');
    if (typeof payload.jti !== 'string' || !payload.jti) throw invalid('missing_jti', 'The logout token has no jti.');
    return { jti: payload.jti, sub, sid, iat: payload.iat! };
  };
}

const CLAIMS = new Set<string>(['iss', 'aud', 'iat', 'exp', 'nbf', 'jti', 'sub']);

function refusalOf(err: unknown): LogoutTokenRefusal | 'unavailable' {
  if (err instanceof joseErrors.JWTExpired) return invalid('expired', 'The logout token has expired.');
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    const claim = (CLAIMS.has(err.claim) ? err.claim : 'claim') as Claim;
    return err.reason === 'missing'
      ? invalid(`missing_${claim}`, `The logout token has no ${err.claim} claim${err.claim === 'exp' ? ' (LOGOUT_TOKEN_EXP_OPTIONAL=1 accepts such tokens from providers that omit it)' : ''}.`)
      : invalid(`invalid_${claim}`, `The logout token's ${err.claim} claim is not valid.`);
  }
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return invalid('algorithm', 'The logout token is signed with an algorithm that is not accepted.');
  if (err instanceof joseErrors.JWKSNoMatchingKey) return invalid('unknown_key', 'The logout token is signed with an unknown key.');
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return invalid('signature', 'The logout token signature is not valid.');
  if (err instanceof joseErrors.JWKSTimeout || !(err instanceof joseErrors.JOSEError) || /JSON Web Key Set/.test(err.message)) {
    // The IdP's keys could not be fetched (down, slow, not JSON): not the token's fault; a 503
    // lets the IdP retry, where a 400 would be final.
    return 'unavailable';
  }
  return invalid('malformed', 'The logout token is not a valid signed JWT.');
}
