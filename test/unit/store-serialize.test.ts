import { defaultDeserialize, defaultSerialize } from '@keyv/serialize';
import { describe, expect, it } from 'vitest';
import { deserialize } from '../../server/stores/store';

describe('the stores read what Keyv writes exactly as Keyv would', () => {
  it.each([
    ['a sealed token entry', { value: `v1.k1.${'a'.repeat(6000)}`, expires: 1_800_000_000_000 }],
    ['a session', { value: { createdAt: 1, lastSeen: 2, user: { homeAccountId: 'u', name: ':) a name with a colon', sid: 's' }, logins: undefined } }],
    ['a list of sessions', { value: [{ id: 'a', issuer: 'https://idp', sid: ':x' }, { id: 'b', issuer: 'https://idp' }] }],
    ['a tombstone', { value: 1_800_000_000_000, expires: 1 }],
    ['strings that start with colons', { value: { a: ':', b: '::', c: ':base64:', d: 'plain:colon' } }],
    ['a buffer', { value: Buffer.from('bytes') }],
    ['null', { value: null }],
  ])('%s', (_, data) => {
    const stored = defaultSerialize(data);
    expect(deserialize(stored)).toEqual(defaultDeserialize(stored));
  });

  it('every string value, with and without an expiry, however it is escaped, reads as Keyv reads it', () => {
    const alphabet = ['a', 'Z', '0', '.', '-', '_', ':', '"', '\\', '/', '\n', '\u0001', 'é', '😀', ' ', '{', '}', ',', 'expires'];
    let seed = 7;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    for (let i = 0; i < 2000; i++) {
      const length = next() % 12;
      const value = Array.from({ length }, () => alphabet[next() % alphabet.length]).join('');
      for (const data of [{ value }, { value, expires: next() }, { value: `:${value}` }, { value: `:base64:${Buffer.from(value).toString('base64')}` }]) {
        const stored = defaultSerialize(data);
        expect(deserialize(stored)).toEqual(defaultDeserialize(stored));
      }
    }
  });

  it('refuses what JSON.parse refuses, for the entry shape too', () => {
    for (const bad of ['{"value":"abc","expires":12}x', '{"value":"abc"', '{"value":"abc","expires":}', '{"value":"a"b"}']) {
      expect(() => deserialize(bad)).toThrow();
    }
  });
});
