import { createHash, X509Certificate } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, errors, jwtVerify, type JWTPayload, type ProtectedHeaderParameters } from 'jose';
import { EntraError } from './http';

/** RFC 7523 §2.2. */
export const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** A client assertion as received (for tests: what MSAL sent). */
export interface ReceivedAssertion {
  header: ProtectedHeaderParameters;
  payload: JWTPayload;
}

const invalidClient = (aadsts: number, description: string) => new EntraError(401, 'invalid_client', aadsts, description);
const thumbprint = (cert: X509Certificate, alg: 'sha256' | 'sha1') => createHash(alg).update(cert.raw).digest('base64url');

/**
 * Entra's certificate credential check (Microsoft identity platform "certificate credentials"):
 * header `x5t#S256` (or the older `x5t`) names a certificate registered on the app, and `x5c`,
 * when sent, starts with it; PS256 or RS256, verified with that certificate's key; `aud` the
 * tenant's token endpoint; `iss` = `sub` = the client id; `exp` not passed; `jti` present and,
 * here, never used before (RFC 7523 §3 allows the check; whether Entra makes it is not
 * documented). Failures are invalid_client with the AADSTS codes Entra uses for them.
 */
export async function verifyClientAssertion(
  assertion: string,
  app: { clientId: string; certificate: string },
  tokenEndpoint: string,
  usedJtis: Map<string, number>,
): Promise<ReceivedAssertion> {
  let header: ProtectedHeaderParameters;
  try {
    header = decodeProtectedHeader(assertion);
    decodeJwt(assertion);
  } catch {
    throw invalidClient(50027, 'JWT token is invalid or malformed.');
  }
  const cert = new X509Certificate(app.certificate);
  const named = header['x5t#S256'] ?? header.x5t;
  const expected = header['x5t#S256'] !== undefined ? thumbprint(cert, 'sha256') : thumbprint(cert, 'sha1');
  if (typeof named !== 'string' || named !== expected) {
    const hex = typeof named === 'string' ? Buffer.from(named, 'base64url').toString('hex').toUpperCase() : '';
    throw invalidClient(700027, `The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '${hex}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '${app.clientId}'.]`);
  }
  if (Array.isArray(header.x5c) && header.x5c.length > 0 && Buffer.from(String(header.x5c[0]), 'base64').compare(cert.raw) !== 0) {
    throw invalidClient(700027, 'Client assertion failed signature validation: the x5c chain does not start with the registered certificate.');
  }
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(assertion, cert.publicKey, {
      algorithms: ['PS256', 'RS256'],
      audience: tokenEndpoint,
      issuer: app.clientId,
      subject: app.clientId,
      requiredClaims: ['exp', 'jti'],
      // MSAL rounds the time (TimeUtils.nowSeconds) for nbf: half a second ahead of our clock at
      // times. Entra allows minutes of skew; so does the emulator.
      clockTolerance: 300,
    }));
  } catch (err) {
    if (err instanceof errors.JWTExpired) throw invalidClient(700024, 'Client assertion is not within its valid time range.');
    if (err instanceof errors.JWTClaimValidationFailed && err.claim === 'aud') {
      throw invalidClient(50013, `Assertion failed signature validation. [Reason - The audience in the assertion is not '${tokenEndpoint}'.]`);
    }
    if (err instanceof errors.JWTClaimValidationFailed && (err.claim === 'iss' || err.claim === 'sub')) {
      throw invalidClient(700021, "Client assertion application identifier doesn't match 'client_id' parameter.");
    }
    if (err instanceof errors.JWSSignatureVerificationFailed || err instanceof errors.JOSEAlgNotAllowed) {
      throw invalidClient(700027, 'Client assertion contains an invalid signature.');
    }
    throw invalidClient(50027, 'JWT token is invalid or malformed.');
  }
  const now = Date.now() / 1000;
  for (const [jti, exp] of usedJtis) if (exp < now) usedJtis.delete(jti);
  if (usedJtis.has(payload.jti!)) throw invalidClient(50027, 'JWT token is invalid or malformed: its jti has been used before.');
  usedJtis.set(payload.jti!, payload.exp!);
  return { header, payload };
}
