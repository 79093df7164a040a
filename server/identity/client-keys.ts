import { createHash, createPrivateKey, createPublicKey, X509Certificate, type JsonWebKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';

/**
 * The BFF's client credential at its identity provider, as configured: exactly one kind per
 * provider. Keys are kept as PEM text (not KeyObjects) so the frozen configuration can hold them;
 * client-credential.ts imports them once.
 */
export type ClientCredential = ClientSecretCredential | CertificateCredential | PrivateKeyJwtCredential;

/** client_secret_post (OIDC Core §9): the secret in the token request's body. */
export interface ClientSecretCredential {
  kind: 'client_secret_post';
  secret: string;
}

/**
 * Entra's certificate credential: a client assertion (RFC 7523) signed with the certificate's
 * private key and naming the certificate by thumbprint, as MSAL's `auth.clientCertificate` does.
 */
export interface CertificateCredential {
  kind: 'certificate';
  /** The private key, PKCS#8 PEM (RSA: Entra takes RSA certificates only). */
  privateKeyPem: string;
  /**
   * The certificate's thumbprint, lower-case hex: SHA-256 (header `x5t#S256`, PS256), or SHA-1
   * (`x5t`, RS256) when only a SHA-1 thumbprint was given (the portal shows that one).
   */
  thumbprint: { alg: 'sha256' | 'sha1'; hex: string };
  /** The certificate chain, PEM, when given as a file: sent as `x5c` (subject name/issuer auth). */
  certificatePem?: string;
}

/** Where the BFF publishes the public key of its private_key_jwt credential (auth/client-jwks.ts): the IdP's jwks_uri for it. */
export const CLIENT_JWKS_PATH = '/.well-known/jwks.json';

export type ClientAssertionAlg = 'RS256' | 'PS256' | 'ES256';

/** private_key_jwt (OIDC Core §9, RFC 7523 §2.2): an assertion signed with our key, its public half published as a JWKS. */
export interface PrivateKeyJwtCredential {
  kind: 'private_key_jwt';
  /** PKCS#8 PEM. */
  privateKeyPem: string;
  alg: ClientAssertionAlg;
  kid: string;
  /** The public key as a JWK (kty and its public members, kid, alg, use): what the JWKS route serves. */
  publicJwk: PublicJwk;
}

export type PublicJwk = { kty: string; kid: string; alg: ClientAssertionAlg; use: 'sig' } & Record<string, string>;

/** A key or certificate file that cannot serve; the message says why, without the variable's name. */
export class ClientKeyError extends Error {
  override name = 'ClientKeyError';
  /** Which file is at fault: the private key, or the certificate. */
  constructor(message: string, readonly about: 'key' | 'certificate' = 'key') {
    super(message);
  }
}

const KEY_FORMS = 'an unencrypted private key, PEM (BEGIN PRIVATE KEY, BEGIN RSA PRIVATE KEY or BEGIN EC PRIVATE KEY) or a private JWK (JSON)';

function readText(file: string, what: string, about: ClientKeyError['about'] = 'key'): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    throw new ClientKeyError(`cannot read ${file}; expects a readable file with ${what}`, about);
  }
}

/** A private key from PEM or JWK text; `jwk` is the file's own JWK (its kid and alg count), when it was one. */
function parsePrivateKey(text: string, file: string): { key: KeyObject; jwk?: JsonWebKey & { kid?: string; alg?: string } } {
  const trimmed = text.trim();
  try {
    if (trimmed.startsWith('{')) {
      const jwk = JSON.parse(trimmed) as JsonWebKey & { kid?: string; alg?: string };
      if (typeof jwk.d !== 'string') throw new ClientKeyError(`${file} holds a public JWK; expects ${KEY_FORMS}`);
      return { key: createPrivateKey({ key: jwk, format: 'jwk' }), jwk };
    }
    if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(trimmed)) {
      throw new ClientKeyError(`${file} holds an encrypted key; expects ${KEY_FORMS}`);
    }
    return { key: createPrivateKey(trimmed) };
  } catch (err) {
    if (err instanceof ClientKeyError) throw err;
    throw new ClientKeyError(`${file} holds no private key; expects ${KEY_FORMS}`);
  }
}

/**
 * The JWK thumbprint of a public key (RFC 7638 §3): SHA-256 over its required members in
 * lexicographic order, no whitespace. Computed here because configuration is read synchronously
 * and jose's calculateJwkThumbprint is async; a unit test checks the two agree.
 */
export function jwkThumbprint(jwk: JsonWebKey): string {
  const required = jwk.kty === 'RSA' ? { e: jwk.e, kty: jwk.kty, n: jwk.n } : { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y };
  return createHash('sha256').update(JSON.stringify(required)).digest('base64url');
}

/** The algorithms a key can sign client assertions with: RSA of 2048+ bits, or EC P-256. */
function algorithmsFor(key: KeyObject): ClientAssertionAlg[] {
  const details = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === 'rsa' && (details?.modulusLength ?? 0) >= 2048) return ['RS256', 'PS256'];
  if (key.asymmetricKeyType === 'ec' && details?.namedCurve === 'prime256v1') return ['ES256'];
  throw new ClientKeyError(`expects an RSA key of 2048 bits or more, or an EC P-256 key; got ${key.asymmetricKeyType ?? 'an unknown kind'}${details?.modulusLength ? ` of ${details.modulusLength} bits` : ''}${details?.namedCurve ? ` on ${details.namedCurve}` : ''}`);
}

/**
 * private_key_jwt from a key file (PEM or JWK). `alg`: the one asked for, else the JWK's own,
 * else RS256 for RSA and ES256 for EC P-256. `kid`: the one asked for, else the JWK's own, else
 * the RFC 7638 thumbprint. Throws ClientKeyError when the file is unreadable, not a private key,
 * of an unsupported kind, or not fit for the algorithm.
 */
export function loadPrivateKeyJwtCredential(file: string, options: { kid?: string; alg?: ClientAssertionAlg } = {}): PrivateKeyJwtCredential {
  const { key, jwk } = parsePrivateKey(readText(file, KEY_FORMS), file);
  const fits = algorithmsFor(key);
  const alg = options.alg ?? (jwk?.alg as ClientAssertionAlg | undefined) ?? fits[0]!;
  if (!fits.includes(alg)) throw new ClientKeyError(`the key in ${file} cannot sign ${alg}; it fits ${fits.join(' or ')}`);
  const pub = createPublicKey(key).export({ format: 'jwk' });
  const kid = options.kid ?? jwk?.kid ?? jwkThumbprint(pub);
  // Only the public members: never d, p, q, dp, dq or qi.
  const members: Record<string, string> = pub.kty === 'RSA' ? { n: pub.n!, e: pub.e! } : { crv: pub.crv!, x: pub.x!, y: pub.y! };
  return {
    kind: 'private_key_jwt',
    privateKeyPem: key.export({ format: 'pem', type: 'pkcs8' }) as string,
    alg,
    kid,
    publicJwk: { kty: pub.kty!, ...members, kid, alg, use: 'sig' },
  };
}

/**
 * Entra's certificate credential from a private key file (PEM) and either the certificate's PEM
 * file (thumbprint computed, chain sent as x5c) or its thumbprint (hex; 64 digits SHA-256,
 * 40 SHA-1). Throws ClientKeyError; its `about` names the file at fault.
 */
export function loadCertificateCredential(keyFile: string, certificate: { file: string } | { thumbprint: string }): CertificateCredential {
  const { key } = parsePrivateKey(readText(keyFile, "the certificate's private key, unencrypted PEM"), keyFile);
  if (key.asymmetricKeyType !== 'rsa') {
    throw new ClientKeyError(`the key in ${keyFile} is ${key.asymmetricKeyType ?? 'not RSA'}; expects the RSA private key of the certificate (Entra takes RSA certificates; MSAL signs PS256)`);
  }
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < 2048) throw new ClientKeyError(`the key in ${keyFile} is RSA of ${bits} bits; expects an RSA key of 2048 bits or more`);
  const privateKeyPem = key.export({ format: 'pem', type: 'pkcs8' }) as string;
  if ('thumbprint' in certificate) {
    const hex = certificate.thumbprint.replace(/[:\s]/g, '').toLowerCase();
    return { kind: 'certificate', privateKeyPem, thumbprint: { alg: hex.length === 40 ? 'sha1' : 'sha256', hex } };
  }
  const certificatePem = readText(certificate.file, 'the certificate, PEM (BEGIN CERTIFICATE)', 'certificate');
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(certificatePem);
  } catch {
    throw new ClientKeyError(`${certificate.file} holds no certificate; expects a PEM certificate (BEGIN CERTIFICATE)`, 'certificate');
  }
  if (!leaf.checkPrivateKey(key)) throw new ClientKeyError(`the key in ${keyFile} is not the private key of the certificate in ${certificate.file}`);
  return { kind: 'certificate', privateKeyPem, thumbprint: { alg: 'sha256', hex: createHash('sha256').update(leaf.raw).digest('hex') }, certificatePem };
}
