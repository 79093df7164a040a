import { StoreUnavailableError } from '../../server/errors';
import type { Stores } from '../../server/stores';
import type { Store } from '../../server/stores/store';

export type StoreName = 'sessions' | 'tokens' | 'logout' | 'clock' | 'leases';

export interface StoreCall {
  store: StoreName;
  op: 'get' | 'set' | 'delete' | 'now' | 'lease' | 'release';
  key: string;
}

/** What a rule does with a call: let it through (undefined), fail it, or hold it until the promise settles. */
export type Fault = undefined | 'fail' | Promise<unknown>;

/**
 * Real stores with faults injected at chosen calls, for tests: a failing or hanging store is a
 * fault of the store, not of the code under test. Every call is recorded; rules decide per call.
 */
export function faultyStores(inner: Stores) {
  const calls: StoreCall[] = [];
  const rules = new Set<(call: StoreCall) => Fault>();

  async function guard<T>(call: StoreCall, run: () => Promise<T>): Promise<T> {
    calls.push(call);
    for (const rule of rules) {
      const fault = rule(call);
      if (fault === 'fail') throw new StoreUnavailableError(new Error(`injected failure of ${call.store}.${call.op}`));
      if (fault) await fault;
    }
    return run();
  }

  const wrap = <T>(store: StoreName, s: Store<T>): Store<T> => ({
    get: (key) => guard({ store, op: 'get', key }, () => s.get(key)),
    set: (key, value, ttl) => guard({ store, op: 'set', key }, () => s.set(key, value, ttl)),
    delete: (key) => guard({ store, op: 'delete', key }, () => s.delete(key)),
  });

  const stores: Stores = {
    sessions: wrap('sessions', inner.sessions),
    tokens: wrap('tokens', inner.tokens),
    logout: wrap('logout', inner.logout),
    now: () => guard({ store: 'clock', op: 'now', key: '' }, () => inner.now()),
    lease: (name, ttlMs) => guard({ store: 'leases', op: 'lease', key: name }, () => inner.lease(name, ttlMs)),
    releaseLease: (name, token) => guard({ store: 'leases', op: 'release', key: name }, () => inner.releaseLease(name, token)),
    ping: () => inner.ping(),
    close: () => inner.close(),
  };

  return {
    stores,
    calls,
    /** Adds a rule; returns its removal. */
    inject(rule: (call: StoreCall) => Fault): () => void {
      rules.add(rule);
      return () => rules.delete(rule);
    },
    clear: () => rules.clear(),
  };
}

/** A promise the test resolves later, and one that tells when the held call arrived. */
export function hold() {
  let release!: () => void;
  let arrived!: () => void;
  const released = new Promise<void>((r) => (release = r));
  const reached = new Promise<void>((r) => (arrived = r));
  return { released, reached, release, arrive: () => arrived() };
}

/** A whole stack (stack.ts) on in-memory stores the test can look into and inject faults at. */
export async function startFaultyStack(env: Record<string, string> = {}) {
  const { createStores } = await import('../../server/stores');
  const { startStack } = await import('./stack');
  const memory = new Map<string, unknown>();
  const faults = faultyStores(createStores({}, { memory }));
  const stack = await startStack(env, { stores: faults.stores });
  return { stack, memory, faults };
}
