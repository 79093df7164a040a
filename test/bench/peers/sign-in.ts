import { parseForm, TestBrowser } from '../../support/browser';

/** What a browser sends with a top-level navigation (mod_auth_openidc answers 401 to requests that do not accept HTML). */
const NAVIGATION = { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' };

/**
 * Signs in through a peer as a new user would: opens the protected page, follows the peer
 * to the dev IdP, fills its login form (as test/support/stack.ts signInAt does), follows the
 * IdP back to the peer's callback and on to the page, which must then answer 200 with
 * `expectBody` in it. Returns the Cookie header the browser now sends to the peer, made of the
 * cookies the peer set (a browser would add the IdP's too: cookies do not tell ports apart).
 */
export async function signInThroughPeer(browser: TestBrowser, pageUrl: string, username: string, expectBody: string): Promise<string> {
  const origin = new URL(pageUrl).origin;
  const seen = browser.received.length;
  let res = await browser.get(pageUrl, { headers: NAVIGATION });
  const trail: string[] = [];
  for (let hop = 0; hop < 16; hop++) {
    trail.push(`${res.status} ${res.url}`);
    if (res.status === 200 && /name="password"/.test(res.body)) {
      const form = parseForm(res.body, res.url);
      res = await browser.post(form.action, { form: { ...form.fields, username, password: 'password' } });
      continue;
    }
    if (res.status === 200 && res.url === pageUrl) {
      if (!res.body.includes(expectBody)) throw new Error(`signed in at ${pageUrl}, but its answer lacks ${expectBody}: ${res.body.slice(0, 300)}`);
      const names = new Set(
        browser.received
          .slice(seen)
          .filter((r) => new URL(r.url).origin === origin)
          .flatMap((r) => (r.headers['set-cookie'] ?? []).map((c) => c.slice(0, c.indexOf('=')).trim())),
      );
      const cookies = (await browser.jar.getCookies(pageUrl)).filter((c) => names.has(c.key));
      if (cookies.length === 0) throw new Error(`signed in at ${pageUrl}, but the browser holds no cookie of it`);
      return cookies.map((c) => c.cookieString()).join('; ');
    }
    const location = res.headers.location;
    if (res.status < 300 || res.status >= 400 || !location) {
      throw new Error(`sign-in at ${pageUrl} stopped at ${res.status} ${res.url}: ${res.body.slice(0, 500)}\n${trail.join('\n')}`);
    }
    res = await browser.get(new URL(location, res.url).toString(), { headers: NAVIGATION });
  }
  throw new Error(`sign-in at ${pageUrl} did not come back to the page:\n${trail.join('\n')}`);
}
