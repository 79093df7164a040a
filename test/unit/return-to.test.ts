import { describe, expect, it } from 'vitest';
import { safeReturnTo } from '../../server/auth/return-to';

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
