import { createHash, randomBytes } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import type { EntraUser } from './directory';

/** The resource an access token is for, as Entra picks it from the requested scopes. */
export interface Resource {
  aud: string;
  /** Short scope names, space-separated, as Entra's `scp` claim has them. */
  scp: string;
  /** The granted scopes as the token response's `scope` field lists them. */
  scope: string;
}

/**
 * Entra's v2.0 tokens: RS256, header typ `JWT` for ID and access tokens alike (not RFC 9068's
 * `at+jwt`), a key of the tenant's JWKS, `ver: "2.0"`.
 */
export class TokenIssuer {
  private constructor(
    private readonly privateKey: CryptoKey,
    private readonly publicJwk: JWK,
    readonly issuer: string,
    readonly tenantId: string,
    private readonly ttlSeconds: number,
    private readonly sidClaim: boolean,
  ) {}

  /** `sidClaim: false`: a tenant that never added the optional `sid` claim (only `session_state` carries it). */
  static async create(issuer: string, tenantId: string, ttlSeconds: number, sidClaim = true): Promise<TokenIssuer> {
    const { privateKey, publicKey } = await generateKeyPair('RS256');
    const kid = randomBytes(20).toString('base64url');
    const jwk = { ...(await exportJWK(publicKey)), kid, use: 'sig', issuer };
    return new TokenIssuer(privateKey, jwk, issuer, tenantId, ttlSeconds, sidClaim);
  }

  get expiresIn() {
    return this.ttlSeconds;
  }

  jwks(): { keys: JWK[] } {
    return { keys: [this.publicJwk] };
  }

  idToken(user: EntraUser, clientId: string, sid: string, nonce?: string): Promise<string> {
    return this.sign({
      aud: clientId,
      name: user.name,
      ...(nonce ? { nonce } : {}),
      oid: user.oid,
      preferred_username: user.upn,
      ...(this.sidClaim ? { sid } : {}),
      sub: pairwiseSubject(user.oid, clientId),
      tid: this.tenantId,
      // An optional claim at Entra (Token configuration); the end-session request's logout_hint.
      login_hint: loginHint(user, this.tenantId),
    });
  }

  /** `acrs`: the Conditional Access authentication contexts this sign-in satisfied. */
  accessToken(user: EntraUser, clientId: string, resource: Resource, acrs: readonly string[] = []): Promise<string> {
    return this.sign({
      ...(acrs.length > 0 ? { acrs: [...acrs] } : {}),
      aud: resource.aud,
      azp: clientId,
      // 1: the client authenticated with a secret.
      azpacr: '1',
      name: user.name,
      oid: user.oid,
      preferred_username: user.upn,
      scp: resource.scp,
      sub: pairwiseSubject(user.oid, clientId),
      tid: this.tenantId,
    });
  }

  private sign(claims: JWTPayload): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ ...claims, uti: randomBytes(16).toString('base64url'), ver: '2.0' })
      .setProtectedHeader({ typ: 'JWT', alg: 'RS256', kid: this.publicJwk.kid! })
      .setIssuer(this.issuer)
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(now + this.ttlSeconds)
      .sign(this.privateKey);
  }
}

/** Entra's `sub` is pairwise: the same user has a different `sub` in every app, unlike `oid`. */
export function pairwiseSubject(oid: string, clientId: string): string {
  return createHash('sha256').update(`${oid}\n${clientId}`).digest('base64url');
}

/** An opaque value that names the account, as Entra's `login_hint` claim does. */
export function loginHint(user: EntraUser, tenantId: string): string {
  return `O.${Buffer.from(JSON.stringify({ oid: user.oid, tid: tenantId, upn: user.upn })).toString('base64url')}`;
}

/** The token response's `client_info`: MSAL builds homeAccountId `<uid>.<utid>` from it. */
export function clientInfo(oid: string, tenantId: string): string {
  return Buffer.from(JSON.stringify({ uid: oid, utid: tenantId })).toString('base64url');
}
