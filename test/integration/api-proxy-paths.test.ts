import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestBrowser } from '../support/browser';
import { RawUpstream } from '../support/raw-upstream';
import { startStack, type Stack } from '../support/stack';

/** `s` percent-encoded `times` times over (each `%` of the previous round becomes `%25`). */
const encodedTimes = (s: string, times: number) => {
  let out = s;
  for (let i = 1; i < times; i++) out = out.replace(/%/g, '%25');
  return out;
};

// Each a single segment, written as a browser would send it (percent-encoded once).
const DOT_SEGMENTS = [
  '.',
  '..',
  '%2e',
  '%2e%2e',
  '%2E%2e',
  '.%2E',
  '..;',
  '..;jsessionid=1',
  '.;x',
  '%2e%2e;',
  '%2e%2e%3b',
  '..%3bx',
  '..%20',
  '%ef%bc%8e%ef%bc%8e', // U+FF0E FULLWIDTH FULL STOP, twice
  '%EF%BC%8E.',
  '%e2%80%a4%e2%80%a4', // U+2024 ONE DOT LEADER, twice
  '%e2%80%a5', // U+2025 TWO DOT LEADER
  '%ef%b9%92%ef%b9%92', // U+FE52 SMALL FULL STOP, twice
  '%c0%ae%c0%ae', // overlong UTF-8 for "."
  '%C0%AE.',
  '%e0%80%ae%e0%80%ae', // three-byte overlong "."
];
const SEPARATORS = ['a%2fb', '%2F', 'a%5cb', '%5C..', '%ef%bc%8f', '%ef%bc%bc', '%c0%af', '%c1%9c', 'a;x=%2f'];
const CONTROLS = ['%00', 'a%0a', '%0d%0aX-Injected:%201', '%09', '%7f', '%c2%85', '%c2%9b'];

const refused = [...DOT_SEGMENTS, ...SEPARATORS, ...CONTROLS].flatMap((segment) =>
  [1, 2, 3].flatMap((times) => {
    const s = encodedTimes(segment, times);
    return [`/api/${s}/admin`, `/api/todos/${s}`, `/api/todos/${s}/x`];
  }),
);

/** RFC 3986 §3.3 and §5.2.4 at /api/*: no path form walks out of the API's base path at any server. */
describe('API proxy paths', () => {
  let upstream: RawUpstream;
  let stack: Stack;
  let browser: TestBrowser;

  beforeAll(async () => {
    upstream = await RawUpstream.start();
    stack = await startStack({ API_BASE_URL: `${upstream.url}/v1` });
    browser = stack.browser();
    await stack.signIn(browser, 'bob');
  });
  afterAll(async () => {
    await stack?.close();
    await upstream?.close();
  });

  it('every encoding of a dot segment, a slash, a backslash or a control character (after ;params, repeated decoding and NFKC) is invalid_path and reaches nothing', async () => {
    const before = upstream.mark();
    const wrong: string[] = [];
    for (const path of [...new Set(refused)]) {
      const res = await browser.api(stack.url, { rawPath: path });
      if (res.status !== 400 || res.json().error !== 'invalid_path') wrong.push(`${path} → ${res.status} ${res.body.slice(0, 80)}`);
    }
    expect(wrong).toEqual([]);
    expect(upstream.since(before)).toEqual({ requests: [], bytes: 0 });
  });

  it.each([
    ['/api/me', '/v1/me'],
    ['/api/todos/42', '/v1/todos/42'],
    ['/api/a;b=c', '/v1/a;b=c'],
    ['/api/caf%C3%A9', '/v1/caf%C3%A9'],
    ['/api/files/report.v2.json', '/v1/files/report.v2.json'],
    ['/api/.well-known/x', '/v1/.well-known/x'],
    ['/api/a..b/c.', '/v1/a..b/c.'],
    ['/api/discount%2550', '/v1/discount%2550'],
    ['/api/todos?q=../x', '/v1/todos?q=../x'],
    ['/api', '/v1/'],
  ])('the ordinary path %s reaches the API as %s', async (path, expected) => {
    const res = await browser.api(stack.url, { rawPath: path });
    expect(res.status).toBe(200);
    expect(res.json()).toMatchObject({ target: expected, user: 'bob' });
  });
});
