/**
 * "Another app": a small third-party SPA at the same identity provider as the BFF, and the
 * only place in this repository that uses @azure/msal-browser. It is a public client
 * (`another-app`, PKCE, no secret) that keeps its own tokens in its own origin's
 * sessionStorage, as SPAs using MSAL.js do. Signing out here (logoutRedirect) ends the session
 * at the IdP, which then tells the BFF (front-channel iframe, back-channel POST): a global
 * sign-out started from another app.
 */
import { BrowserCacheLocation, ProtocolMode, PublicClientApplication, type AccountInfo } from '@azure/msal-browser';
import './styles.css';

const CLIENT_ID = 'another-app';

interface AnotherAppConfig {
  /** The IdP's issuer, e.g. https://localhost:4443: its port is known only at run time. */
  authority: string;
}

const root = document.getElementById('app')!;

async function loadConfig(): Promise<AnotherAppConfig> {
  const response = await fetch('/config.json', { cache: 'no-store' });
  if (!response.ok) throw new Error(`/config.json answered ${response.status}`);
  const config = (await response.json()) as Partial<AnotherAppConfig>;
  if (typeof config.authority !== 'string' || !config.authority.startsWith('https://')) throw new Error('/config.json names no https authority');
  return { authority: config.authority };
}

function createClient({ authority }: AnotherAppConfig): PublicClientApplication {
  const here = `${window.location.origin}/`;
  return new PublicClientApplication({
    auth: {
      clientId: CLIENT_ID,
      authority,
      // Not Entra: no instance discovery, and the IdP's own discovery document.
      knownAuthorities: [new URL(authority).host],
      redirectUri: here,
      postLogoutRedirectUri: here,
    },
    cache: { cacheLocation: BrowserCacheLocation.SessionStorage },
    // In msal-browser 5, protocolMode sits under `system` (under `auth` it is ignored).
    system: { protocolMode: ProtocolMode.OIDC },
  });
}

function render(html: string, actions: Record<string, () => void> = {}) {
  root.innerHTML = html;
  for (const [id, action] of Object.entries(actions)) document.getElementById(id)?.addEventListener('click', action);
  root.querySelector<HTMLElement>('h1')?.focus();
}

const escape = (value: string) => value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function showSignedIn(msal: PublicClientApplication, account: AccountInfo) {
  render(
    `<h1 tabindex="-1">Signed in as ${escape(account.name ?? account.username)}</h1>
<p class="muted">Another app signed you in with the same identity provider session (username <strong>${escape(account.username)}</strong>).</p>
<p class="muted">Signing out here ends that session at the identity provider, which then signs you out of every app you used it with, the Global Sign-out BFF included.</p>
<button id="sign-out" type="button">Sign out</button>`,
    {
      // MSAL sends neither id_token_hint nor client_id by itself; without one of them an OIDC
      // provider may not honour post_logout_redirect_uri (RP-Initiated Logout 1.0, section 2).
      'sign-out': () => void msal.logoutRedirect({ account, idTokenHint: account.idToken, extraQueryParameters: { client_id: CLIENT_ID } }),
    },
  );
}

function showSignedOut(msal: PublicClientApplication) {
  render(
    `<h1 tabindex="-1">You are signed out of Another app</h1>
<p class="muted">Sign in with the development identity provider. If you are signed in to the BFF already, no password is asked (single sign-on).</p>
<button id="sign-in" type="button">Sign in</button>`,
    { 'sign-in': () => void msal.loginRedirect({ scopes: ['openid', 'profile'] }) },
  );
}

function showError(err: unknown) {
  const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  render(`<h1 tabindex="-1">Another app could not start</h1><p class="error" role="alert">${escape(message)}</p>`);
}

async function start() {
  const msal = createClient(await loadConfig());
  await msal.initialize();
  const result = await msal.handleRedirectPromise();
  const account = result?.account ?? msal.getAllAccounts()[0] ?? null;
  if (account) showSignedIn(msal, account);
  else showSignedOut(msal);
}

start().catch(showError);
