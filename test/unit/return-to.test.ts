import { describe, expect, it } from 'vitest';
import { safeReturnTo } from '../../server/auth/return-to';
import { prng } from '../support/prng';

describe('returnTo accepts only same-origin paths', () => {
  it.each([
    ['/', '/'],
    ['/todos', '/todos'],
    ['/todos?filter=open#top', '/todos?filter=open#top'],
    ['/a/b/../c', '/a/c'],
  ])('keeps %s', (input, expected) => {
    expect(safeReturnTo(input)).toBe(expected);
  });

  it.each([
    ['//evil.example'],
    ['/\\evil.example'],
    ['\\\\evil.example'],
    ['https://evil.example'],
    ['http:evil.example'],
    ['%2F%2Fevil.example'],
    ['/%2F%2Fevil.example'],
    ['/%252F%252Fevil.example'],
    ['/%5Cevil.example'],
    ['javascript:alert(1)'],
    ['/\t/evil.example'],
    ['/\n/evil.example'],
    ['/%09/evil.example'],
    ['/%E0%A4%A'],
    ['evil.example'],
    [''],
    [undefined],
    [['/a', '/b']],
    ['/' + 'a'.repeat(3000)],
  ])('turns %j into "/"', (input) => {
    expect(safeReturnTo(input)).toBe('/');
  });
});

/**
 * The contract callers rely on: whatever safeReturnTo returns is a path of this origin that
 * starts with exactly one "/" (then anything but "/" or "\"), and stays so when decoded and
 * normalised again, however many times: a browser or proxy that decodes once more goes nowhere else.
 */
const BASES = ['http://bff.invalid', 'https://app.example.com', 'http://localhost:3000'];
function contractBreaches(result: string): string[] {
  const breaches: string[] = [];
  let level = result;
  for (let round = 0; round < 6; round++) {
    if (level !== '/' && !/^\/[^/\\]/.test(level)) breaches.push(`${JSON.stringify(level)} does not start with exactly one "/"`);
    for (const base of BASES) {
      if (!URL.canParse(level, base)) {
        breaches.push(`${JSON.stringify(level)} does not parse against ${base}`);
        continue;
      }
      const url = new URL(level, base);
      if (url.origin !== base) breaches.push(`${JSON.stringify(level)} leaves ${base} for ${url.origin}`);
      if (!/^\/(?![/\\])/.test(url.pathname)) breaches.push(`${JSON.stringify(level)} normalises to the path ${url.pathname}`);
    }
    let next: string;
    try {
      next = decodeURIComponent(level);
    } catch {
      break;
    }
    if (next === level) break;
    level = next;
  }
  return breaches;
}

// Every spelling of a dot segment the URL parser or a later decode turns into "." or "..".
const DOT_SEGMENTS = ['.', '..', '%2e', '%2E', '.%2e', '%2e.', '%2E%2e', '%2e%2e', '%252e', '%252e%252e', '.%252E', '%25252e'];
// What comes after the dot segments: a second slash in every form, then a host.
const TO_HOST = [
  '//evil.example', '/\\evil.example', '/%2fevil.example', '/%2Fevil.example', '%2f%2fevil.example', '/%252fevil.example', '%252F%252Fevil.example',
  '/%5cevil.example', '/%5Cevil.example', '%5c%5cevil.example', '/%255cevil.example', '/\\/evil.example', '/\t/evil.example', '/\n/evil.example',
  '/\r\n/evil.example', '/\t\t/evil.example', '/%09/evil.example', '/%0a/evil.example', '/%0d%0a/evil.example', '/%2509/evil.example',
  '///evil.example', '/%2f/evil.example', '/evil.example',
];
const SEPARATORS = ['/', '%2f', '%2F', '%252f', '\\', '%5c'];

describe('returnTo keeps its contract after normalisation and decoding', () => {
  it.each([['/.//evil.example'], ['/%2e//evil.example'], ['/..//evil.example'], ['/%2E%2E//evil.example'], ['/a/..//evil.example'], ['/%252e//evil.example']])(
    'turns %j, which the URL parser normalises to //evil.example, into "/"',
    (input) => {
      expect(safeReturnTo(input)).toBe('/');
    },
  );

  it('never returns a path that starts with two slashes or slash-backslash, or leaves the origin, for every combination of dot segments, separators and a second slash before a host', () => {
    const breaches: string[] = [];
    let cases = 0;
    for (const lead of ['/', '/a/', '/a/b/']) {
      const chains = [...DOT_SEGMENTS.map((d) => [d]), ...DOT_SEGMENTS.flatMap((d) => DOT_SEGMENTS.map((e) => [d, e]))];
      for (const chain of chains) {
        for (const separator of SEPARATORS) {
          for (const toHost of TO_HOST) {
            const input = `${lead}${chain.join(separator)}${toHost}`;
            cases++;
            const result = safeReturnTo(input);
            for (const breach of contractBreaches(result)) breaches.push(`${JSON.stringify(input)} → ${breach}`);
          }
        }
      }
    }
    expect(cases).toBeGreaterThan(50_000);
    expect({ breaches: breaches.length, first: breaches.slice(0, 12) }).toEqual({ breaches: 0, first: [] });
  });

  it('never returns a path that starts with two slashes or slash-backslash, or leaves the origin, for 20,000 random sequences of path pieces (seeded)', () => {
    const pieces = [...DOT_SEGMENTS, ...TO_HOST, ...SEPARATORS, 'a', '%', '%25', '?', '#', '\t', '\n', ' ', '@', ':', 'evil.example', 'https:', '%40', '%3a'];
    const rand = prng(20261124);
    const pick = () => pieces[Math.floor(rand() * pieces.length)]!;
    const breaches: string[] = [];
    for (let run = 0; run < 20_000; run++) {
      const input = `/${Array.from({ length: 1 + Math.floor(rand() * 8) }, pick).join('')}`;
      for (const breach of contractBreaches(safeReturnTo(input))) breaches.push(`${JSON.stringify(input)} → ${breach}`);
    }
    expect({ breaches: breaches.length, first: breaches.slice(0, 12) }).toEqual({ breaches: 0, first: [] });
  });

  it.each([
    ['/todos?x=1#y', '/todos?x=1#y'],
    ['/a/b/../c', '/a/c'],
    ['/a/./b', '/a/b'],
    ['/a/%2e%2e/c', '/c'],
    ['/../todos', '/todos'],
    ['/./todos?next=/home', '/todos?next=/home'],
    ['/todos?q=%2F%2Fnot-a-host', '/todos?q=%2F%2Fnot-a-host'],
    ['/#//fragment', '/#//fragment'],
  ])('keeps the ordinary path %s as %s', (input, expected) => {
    expect(safeReturnTo(input)).toBe(expected);
    expect(contractBreaches(expected)).toEqual([]);
  });
});
