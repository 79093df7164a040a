import { claimsRequest, MAX_CLAIMS_BYTES, utf8 } from '../auth/sign-in-request';
import { challengesOf } from './www-authenticate';

/**
 * What a 401 from the API asks of the BFF, read from its Bearer challenge (RFC 6750 §3):
 * - `claims`: `error="insufficient_claims"` with `claims="<base64 JSON>"`, a claims challenge
 *   (Entra Conditional Access authentication context, Continuous Access Evaluation): the
 *   user must sign in again with that claims request;
 * - `invalid_token`: the API refuses this token (revoked, expired early): a new one is needed;
 * - `other`: anything else, a malformed challenge or claims value included.
 */
export type TokenRejection = { kind: 'claims'; claims: string } | { kind: 'invalid_token' } | { kind: 'other' };

/** Base64 of at most MAX_CLAIMS_BYTES, padded or not, in either alphabet (Entra sends standard base64). */
const MAX_ENCODED_CLAIMS = Math.ceil(MAX_CLAIMS_BYTES / 3) * 4;
const BASE64 = /^(?:[A-Za-z0-9+/]+|[A-Za-z0-9_-]+)={0,2}$/;

/**
 * Reads the first Bearer challenge that names an error (its WWW-Authenticate field lines, as
 * Node's `headersDistinct` has them). One challenge decides, so two cannot be played off
 * against each other.
 */
export function tokenRejection(fieldLines: readonly string[] | undefined): TokenRejection {
  const challenge = challengesOf(fieldLines).find((c) => c.scheme === 'bearer' && c.params.has('error'));
  switch (challenge?.params.get('error')) {
    case 'insufficient_claims': {
      const claims = decodeClaims(challenge!.params.get('claims'));
      return claims ? { kind: 'claims', claims } : { kind: 'other' };
    }
    case 'invalid_token':
      return { kind: 'invalid_token' };
    default:
      return { kind: 'other' };
  }
}

/** The claims request in a challenge's `claims` value: base64 of a JSON object (claimsRequest), or undefined. */
export function decodeClaims(encoded: string | undefined): string | undefined {
  if (!encoded || encoded.length > MAX_ENCODED_CLAIMS || !BASE64.test(encoded)) return undefined;
  // A lone sixth bit group is no byte: a cut value, not one Node should quietly shorten.
  if (encoded.replace(/=+$/, '').length % 4 === 1) return undefined;
  // Node's base64 decoder takes both alphabets; BASE64 has allowed one of them only.
  const text = utf8(Buffer.from(encoded, 'base64'));
  return text === undefined ? undefined : claimsRequest(text);
}
