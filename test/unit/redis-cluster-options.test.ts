import { describe, expect, it } from 'vitest';
import { clusterNodeDefaults, redisTimeMs } from '../../server/stores';

describe('Redis cluster nodes', () => {
  it('every node the cluster reports is reached with the root URL credentials and TLS, not in plain text', () => {
    expect(clusterNodeDefaults('rediss://bff:p%40ss@redis.example:6380')).toEqual({ username: 'bff', password: 'p@ss', socket: { tls: true } });
    expect(clusterNodeDefaults('rediss://:secret@redis.example')).toEqual({ password: 'secret', socket: { tls: true } });
    expect(clusterNodeDefaults('redis://127.0.0.1:7000')).toEqual({ socket: { tls: false } });
  });
});

describe("the store's clock", () => {
  it('reads Redis TIME as whole milliseconds and refuses anything else', () => {
    expect(redisTimeMs(['1796046961', '355123'])).toBe(1796046961355);
    for (const bad of [undefined, 'x', [], ['1'], ['a', 'b'], ['1.5', '2']]) expect(() => redisTimeMs(bad)).toThrow();
  });
});
