import type { Metrics, StoreName, StoreOperation } from '../metrics/metrics';
import type { Stores } from './index';
import type { Store } from './store';

/**
 * The stores with every call counted (bff_store_calls_total, bff_store_errors_total): the one
 * place all store traffic passes through, wrapped once at start-up. What a call does, and what
 * it throws, is unchanged; with metrics off, the stores themselves come back.
 */
export function meteredStores(stores: Stores, metrics: Pick<Metrics, 'enabled' | 'storeCall'>): Stores {
  if (!metrics.enabled) return stores;
  const counted = <R>(store: StoreName, operation: StoreOperation, call: () => Promise<R>): Promise<R> => {
    let pending: Promise<R>;
    try {
      pending = call();
    } catch (err) {
      pending = Promise.reject(err);
    }
    return pending.then(
      (value) => {
        metrics.storeCall(store, operation, false);
        return value;
      },
      (err: unknown) => {
        metrics.storeCall(store, operation, true);
        throw err;
      },
    );
  };
  const metered = <T>(name: StoreName, store: Store<T>): Store<T> => ({
    get: (key) => counted(name, 'get', () => store.get(key)),
    set: (key, value, ttlMs) => counted(name, 'set', () => store.set(key, value, ttlMs)),
    delete: (key) => counted(name, 'delete', () => store.delete(key)),
    deleteIf: (key, value) => counted(name, 'delete_if', () => store.deleteIf(key, value)),
    setIf: (key, expected, value, ttlMs) => counted(name, 'set_if', () => store.setIf(key, expected, value, ttlMs)),
  });
  return {
    // Anything a later Stores gains is passed through as it is, uncounted, rather than lost.
    ...stores,
    sessions: metered('sessions', stores.sessions),
    tokens: metered('tokens', stores.tokens),
    logout: metered('logout', stores.logout),
    now: () => counted('clock', 'now', () => stores.now()),
    lease: (name, ttlMs) => counted('leases', 'lease', () => stores.lease(name, ttlMs)),
    releaseLease: (name, token) => counted('leases', 'release', () => stores.releaseLease(name, token)),
    replicated: (slotKey) => counted('replication', 'wait', () => stores.replicated(slotKey)),
    ping: () => counted('ping', 'ping', () => stores.ping()),
    close: () => stores.close(),
  };
}
