import { createHash, randomBytes } from 'node:crypto';
import { ANOTHER_APP_CLIENT_ID } from '../../server/dev-idp/provider';
import type { TestBrowser } from './browser';
import { parseForm } from './browser';

export const ANOTHER_APP_ORIGIN = 'http://localhost:5174';

/**
 * "Another app" as an HTTP client plays it: a public client of the same IdP doing authorization
 * code + PKCE in the user's browser (single sign-on: the IdP session is already there), then
 * redeeming the code itself. Returns its ID token, for an RP-initiated logout of its own.
 */
export async function signInToAnotherApp(browser: TestBrowser, issuer: string, username = 'alice'): Promise<{ idToken: string }> {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const redirectUri = `${ANOTHER_APP_ORIGIN}/`;
  const authorize = new URL(`${issuer}/auth`);
  authorize.search = new URLSearchParams({
    client_id: ANOTHER_APP_CLIENT_ID,
    response_type: 'code',
    redirect_uri: redirectUri,
    scope: 'openid profile offline_access',
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state: randomBytes(8).toString('hex'),
    nonce: randomBytes(8).toString('hex'),
  }).toString();
  let res = await browser.get(authorize.toString());
  for (let hop = 0; hop < 10; hop++) {
    const location = res.headers.location;
    if (res.status === 200 && /name="password"/.test(res.body)) {
      const form = parseForm(res.body, res.url);
      res = await browser.post(form.action, { form: { ...form.fields, username, password: 'password' } });
      continue;
    }
    if (!location) throw new Error(`another app's sign-in stopped at ${res.status} ${res.url}`);
    const next = new URL(location, res.url);
    if (next.origin === ANOTHER_APP_ORIGIN) {
      const code = next.searchParams.get('code');
      if (!code) throw new Error(`another app got no code: ${next}`);
      const token = await browser.post(`${issuer}/token`, {
        form: { grant_type: 'authorization_code', code, redirect_uri: redirectUri, client_id: ANOTHER_APP_CLIENT_ID, code_verifier: verifier },
      });
      if (token.status !== 200) throw new Error(`another app's token request failed: ${token.status} ${token.body}`);
      return { idToken: token.json().id_token };
    }
    res = await browser.get(next.toString());
  }
  throw new Error("another app's sign-in did not finish");
}

/** The end-session URL another app sends the user to when it signs out (RP-initiated logout). */
export function anotherAppEndSessionUrl(issuer: string, idToken: string): string {
  const url = new URL(`${issuer}/session/end`);
  url.search = new URLSearchParams({ id_token_hint: idToken, post_logout_redirect_uri: `${ANOTHER_APP_ORIGIN}/`, client_id: ANOTHER_APP_CLIENT_ID }).toString();
  return url.toString();
}
