import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { TestBrowser } from '../support/browser';
import { echo, RawUpstream } from '../support/raw-upstream';
import { startStack, type Stack } from '../support/stack';

/** Headers a downstream API could use against the BFF's origin if they were passed back. */
const DANGEROUS: [string, string][] = [
  ['Content-Security-Policy', "default-src *; script-src * 'unsafe-inline' 'unsafe-eval'"],
  ['Content-Security-Policy-Report-Only', 'default-src *'],
  ['X-Content-Type-Options', 'sniff'],
  ['X-Frame-Options', 'ALLOWALL'],
  ['Referrer-Policy', 'unsafe-url'],
  ['Cross-Origin-Opener-Policy', 'unsafe-none'],
  ['Cross-Origin-Embedder-Policy', 'unsafe-none'],
  ['Cross-Origin-Resource-Policy', 'cross-origin'],
  ['Permissions-Policy', 'camera=*'],
  ['Access-Control-Allow-Origin', 'https://evil.example'],
  ['Access-Control-Allow-Credentials', 'true'],
  ['Access-Control-Allow-Headers', 'x-csrf'],
  ['Access-Control-Expose-Headers', '*'],
  ['Refresh', '0; url=https://evil.example/'],
  ['Set-Cookie', 'bff.sid=planted; Path=/'],
  ['Set-Cookie2', 'x=1'],
  ['Strict-Transport-Security', 'max-age=0'],
  ['Link', '<https://evil.example/x.css>; rel=stylesheet'],
  ['Clear-Site-Data', '"cookies", "storage"'],
  ['WWW-Authenticate', 'Basic realm="api"'],
  ['Proxy-Authenticate', 'Basic realm="api"'],
  ['X-Powered-By', 'Express'],
  ['Server', 'internal-api/1.2.3'],
  ['Alt-Svc', 'h3=":443"'],
  ['Upgrade', 'h2c'],
  ['Keep-Alive', 'timeout=1'],
  ['Trailer', 'X-Checksum'],
  ['Location', 'https://evil.example/phish'],
  ['Content-Location', 'https://evil.example/'],
  ['Cache-Control', 'public, max-age=31536000'],
  ['Expires', 'Thu, 01 Jan 2099 00:00:00 GMT'],
  ['X-Request-Id', 'from-the-api'],
  ['X-XSS-Protection', '0'],
  ['X-DNS-Prefetch-Control', 'on'],
  ['X-Internal-Host', 'db-7.internal'],
  ['Retry-After', '3600'],
  ['Vary', '*'],
  ['Accept-Ranges', 'bytes'],
  ['Report-To', '{"url":"https://evil.example/r"}'],
  ['NEL', '{"report_to":"x","max_age":1}'],
  ['Origin-Agent-Cluster', '?0'],
  ['Timing-Allow-Origin', '*'],
  ['Service-Worker-Allowed', '/'],
  ['Public-Key-Pins', 'max-age=1'],
  ['Expect-CT', 'max-age=1'],
  ['Document-Policy', 'force-load-at-top'],
];

/** Representation metadata the SPA may need; the test's API sends each. */
const REPRESENTATION: [string, string][] = [
  ['Content-Type', 'application/json'],
  ['Content-Language', 'en'],
  ['Content-Disposition', 'inline'],
  ['ETag', '"v1"'],
  ['Last-Modified', 'Tue, 01 Dec 2026 00:00:00 GMT'],
];

/** RFC 9110 §8 at /api/*: what the API says about the representation, nothing about the BFF's origin. */
describe('API proxy response headers', () => {
  let upstream: RawUpstream;
  let stack: Stack;
  let browser: TestBrowser;
  let own: Record<string, string | string[] | undefined>;

  beforeAll(async () => {
    upstream = await RawUpstream.start();
    stack = await startStack({ API_BASE_URL: upstream.url });
    browser = stack.browser();
    await stack.signIn(browser, 'alice');
    // The BFF's own security headers, as on a route the API has no part in.
    own = (await browser.api(`${stack.url}/auth/session`)).headers;
  });
  beforeEach(() => upstream.reset());
  afterAll(async () => {
    await stack?.close();
    await upstream?.close();
  });

  // What the BFF's answer may carry: the representation headers, Node's framing of the BFF's own
  // answer, and what the BFF itself sets (security headers, no-store, its request id).
  const ALLOWED = new Set(['content-type', 'content-language', 'content-disposition', 'etag', 'last-modified', 'content-encoding', 'content-length', 'transfer-encoding', 'date', 'connection', 'keep-alive']);
  const BFF_OWN = ['content-security-policy', 'x-content-type-options', 'referrer-policy', 'cross-origin-opener-policy'];

  it.each([
    ['a small answer', 200, 'GET', 100],
    ['a streamed answer', 200, 'GET', 200_000],
    ['an answer to HEAD', 200, 'HEAD', 100],
    ['an error answer', 500, 'GET', 100],
    ['a 429', 429, 'GET', 100],
    ['a redirect', 302, 'GET', 10],
  ])("%s reaches the browser with the API's representation headers only, under the BFF's own security headers", async (_, status, method, size) => {
    upstream.respond = () => ({ status, headers: [...DANGEROUS, ...REPRESENTATION], body: JSON.stringify({ pad: 'p'.repeat(size) }) });
    const res = await browser.api(`${stack.url}/api/things`, { method });
    expect(res.status).toBe(status);
    const unexpected = Object.keys(res.headers).filter((name) => !ALLOWED.has(name) && !BFF_OWN.includes(name) && name !== 'cache-control' && name !== 'x-request-id');
    expect(unexpected).toEqual(status === 429 ? ['retry-after'] : []);
    for (const name of BFF_OWN) expect(res.headers[name]).toBe(own[name]);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.headers['keep-alive'] ?? 'timeout=5').toBe('timeout=5');
    expect(res.headers.connection ?? 'keep-alive').toBe('keep-alive');
    for (const [name, value] of REPRESENTATION) expect(res.headers[name.toLowerCase()]).toBe(value);
    if (method === 'GET') expect(res.json().pad.length).toBe(size);
  });

  it('Retry-After passes on 429 and 503 only; Location only as the /api path of a resource under the API base', async () => {
    const answer = async (status: number, headers: [string, string][]) => {
      upstream.respond = (req) => ({ ...echo(req), status, headers });
      return (await browser.api(`${stack.url}/api/todos/new`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } })).headers;
    };
    expect((await answer(503, [['Retry-After', '7']]))['retry-after']).toBe('7');
    expect((await answer(200, [['Retry-After', '7']]))['retry-after']).toBeUndefined();
    expect((await answer(201, [['Location', '/todos/3']])).location).toBe('/api/todos/3');
    expect((await answer(201, [['Location', '3?x=1']])).location).toBe('/api/todos/3?x=1');
    expect((await answer(201, [['Location', `${upstream.url}/todos/4`]])).location).toBe('/api/todos/4');
    for (const elsewhere of ['https://evil.example/todos/3', '//evil.example/x', 'http://127.0.0.1:1/todos/3', 'javascript:alert(1)']) {
      expect((await answer(201, [['Location', elsewhere]])).location).toBeUndefined();
    }
  });
});
