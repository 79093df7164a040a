import { StoreUnavailableError } from '../../server/errors';
import type { Stores } from '../../server/stores';
import { bounded, type Store } from '../../server/stores/store';

export type StoreName = 'sessions' | 'tokens' | 'logout' | 'clock' | 'leases';

export interface StoreCall {
  store: StoreName;
  op: 'get' | 'set' | 'delete' | 'now' | 'lease' | 'release' | 'replicated';
  key: string;
}

/**
 * What a rule does with a call: let it through (undefined), fail it, hold it until the promise
 * settles (the call is made only then: a promise that never settles is a request that never
 * arrives), or make the call at once and hold its answer (`answerAfter`: a slow reply, or one
 * that never comes, to a command that did take effect).
 */
export type Fault = undefined | 'fail' | Promise<unknown> | { answerAfter: Promise<unknown> };

export interface FaultyStoreOptions {
  /**
   * Bound every call, held ones included, as the BFF bounds a remote store's (server/stores/store.ts
   * `bounded`): past it the call fails with StoreUnavailableError, and what it does still happens.
   * Without it a held call is awaited for as long as it is held (in-memory stores have no bound).
   */
  timeoutMs?: number;
}

/**
 * Real stores with faults injected at chosen calls, for tests: a failing or hanging store is a
 * fault of the store, not of the code under test. Every call is recorded; rules decide per call.
 */
export function faultyStores(inner: Stores, options: FaultyStoreOptions = {}) {
  const calls: StoreCall[] = [];
  const rules = new Set<(call: StoreCall) => Fault>();

  async function guard<T>(call: StoreCall, run: () => Promise<T>): Promise<T> {
    calls.push(call);
    const answers: Promise<unknown>[] = [];
    for (const rule of rules) {
      const fault = rule(call);
      if (fault === 'fail') throw new StoreUnavailableError(new Error(`injected failure of ${call.store}.${call.op}`));
      if (fault && 'answerAfter' in fault) answers.push(fault.answerAfter);
      else if (fault) await fault;
    }
    try {
      return await run();
    } finally {
      await Promise.all(answers);
    }
  }

  const call = <T>(c: StoreCall, run: () => Promise<T>): Promise<T> =>
    options.timeoutMs === undefined ? guard(c, run) : bounded(guard(c, run), options.timeoutMs);

  const wrap = <T>(store: StoreName, s: Store<T>): Store<T> => ({
    get: (key) => call({ store, op: 'get', key }, () => s.get(key)),
    set: (key, value, ttl) => call({ store, op: 'set', key }, () => s.set(key, value, ttl)),
    delete: (key) => call({ store, op: 'delete', key }, () => s.delete(key)),
    deleteIf: (key, value) => call({ store, op: 'delete', key }, () => s.deleteIf(key, value)),
    setIf: (key, expected, value, ttl) => call({ store, op: 'set', key }, () => s.setIf(key, expected, value, ttl)),
  });

  const stores: Stores = {
    sessions: wrap('sessions', inner.sessions),
    tokens: wrap('tokens', inner.tokens),
    logout: wrap('logout', inner.logout),
    now: () => call({ store: 'clock', op: 'now', key: '' }, () => inner.now()),
    lease: (name, ttlMs) => call({ store: 'leases', op: 'lease', key: name }, () => inner.lease(name, ttlMs)),
    releaseLease: (name, token) => call({ store: 'leases', op: 'release', key: name }, () => inner.releaseLease(name, token)),
    replicated: (slotKey) => call({ store: 'clock', op: 'replicated', key: slotKey }, () => inner.replicated(slotKey)),
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
