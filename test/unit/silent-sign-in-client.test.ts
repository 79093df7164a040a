import { describe, expect, it } from 'vitest';
import { forgetSilentSignIn, takeSilentSignIn } from '../../client/src/features/session/silentSignIn';
import type { SessionInfo } from '../../shared/api';

/** A sessionStorage stand-in (Map-backed; `failing` throws as a disabled storage does). */
function storage(failing = false) {
  const items = new Map<string, string>();
  const check = () => {
    if (failing) throw new DOMException('denied', 'SecurityError');
  };
  return {
    items,
    getItem: (k: string) => (check(), items.get(k) ?? null),
    setItem: (k: string, v: string) => (check(), void items.set(k, v)),
    removeItem: (k: string) => (check(), void items.delete(k)),
  };
}

const mayTry: SessionInfo = { isAuthenticated: false, silentSignIn: true };

describe('silent sign-in in the SPA: once per tab', () => {
  it('tries when the BFF says it may, then never again in this tab', () => {
    const tab = storage();
    expect(takeSilentSignIn(mayTry, false, tab)).toBe(true);
    expect(takeSilentSignIn(mayTry, false, tab)).toBe(false);
    expect(takeSilentSignIn(mayTry, false, tab)).toBe(false);
  });

  it('does not try when the BFF does not suggest it, or right after a sign-out', () => {
    expect(takeSilentSignIn({ isAuthenticated: false }, false, storage())).toBe(false);
    expect(takeSilentSignIn(mayTry, true, storage())).toBe(false);
  });

  it('does not try without storage to remember the attempt in', () => {
    expect(takeSilentSignIn(mayTry, false, storage(true))).toBe(false);
  });

  it('being signed in ends the tab attempt: a later signed-out load may try again', () => {
    const tab = storage();
    expect(takeSilentSignIn(mayTry, false, tab)).toBe(true);
    forgetSilentSignIn(tab);
    expect(takeSilentSignIn(mayTry, false, tab)).toBe(true);
    expect(() => forgetSilentSignIn(storage(true))).not.toThrow();
  });
});
