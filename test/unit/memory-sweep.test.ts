import { describe, expect, it } from 'vitest';
import { createStores, sweepExpired } from '../../server/stores';

describe('the in-memory stores', () => {
  it('sweep entries whose TTL has passed, and keep the others and those without a TTL', async () => {
    const memory = new Map<string, unknown>();
    const stores = createStores({}, { memory });
    try {
      await stores.sessions.set('old', { createdAt: 1 }, 1000);
      await stores.sessions.set('fresh', { createdAt: 2 }, 60_000);
      await stores.logout.set('forever', 1);
      expect(sweepExpired(memory, Date.now() + 5_000)).toBe(1);
      expect([...memory.keys()].sort()).toEqual(['logout:forever', 'sessions:fresh']);
      expect(await stores.sessions.get('fresh')).toEqual({ createdAt: 2 });
    } finally {
      await stores.close();
    }
  });
});
