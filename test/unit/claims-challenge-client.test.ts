import { describe, expect, it } from 'vitest';
import { isSignInPath, QUIET_MS, takeClaimsSignIn } from '../../client/src/features/session/claimsChallenge';

const ORIGIN = 'https://app.example';

/** A sessionStorage stand-in (Map-backed; `failing` throws as a disabled storage does). */
function storage(failing = false) {
  const items = new Map<string, string>();
  return {
    items,
    getItem: (k: string) => {
      if (failing) throw new DOMException('denied', 'SecurityError');
      return items.get(k) ?? null;
    },
    setItem: (k: string, v: string) => {
      if (failing) throw new DOMException('denied', 'SecurityError');
      items.set(k, v);
    },
  };
}

describe('the SPA follows a claims challenge’s signInUrl only to its own sign-in', () => {
  it.each(['/auth/login?returnTo=%2F&claims=e30', '/auth/login?claims=e30'])('follows %s', (url) => {
    expect(isSignInPath(url, ORIGIN)).toBe(true);
  });

  it.each([
    ['another origin', 'https://evil.example/auth/login?x'],
    ['a protocol-relative URL', '//evil.example/auth/login?x'],
    ['another BFF path', '/auth/logout?x'],
    ['a path that only starts like it', '/auth/login/../../evil?x'],
    ['a javascript: URL', 'javascript:alert(1)//auth/login?'],
    ['no query', '/auth/login'],
    ['not a string', 42],
    ['nothing', undefined],
  ])('refuses %s', (_kind, url) => {
    expect(isSignInPath(url, ORIGIN)).toBe(false);
  });
});

describe('the SPA never loops through sign-in for a claims challenge', () => {
  it('sends a route to sign in once, then not again within the quiet time; other routes are separate', () => {
    const s = storage();
    expect(takeClaimsSignIn('/todos', s, 1_000_000)).toBe(true);
    expect(takeClaimsSignIn('/todos', s, 1_000_000 + 1000)).toBe(false);
    expect(takeClaimsSignIn('/todos', s, 1_000_000 + QUIET_MS - 1)).toBe(false);
    expect(takeClaimsSignIn('/session', s, 1_000_000 + 1000)).toBe(true);
    expect(takeClaimsSignIn('/todos', s, 1_000_000 + QUIET_MS)).toBe(true);
  });

  it('stores a time per route and nothing else (no claims, no token)', () => {
    const s = storage();
    takeClaimsSignIn('/todos?x=1', s, 5_000);
    expect([...s.items]).toEqual([['bff.claimsSignIn:/todos?x=1', '5000']]);
  });

  it('without a working sessionStorage it never sends the page by itself', () => {
    expect(takeClaimsSignIn('/todos', storage(true), 1_000)).toBe(false);
  });
});
