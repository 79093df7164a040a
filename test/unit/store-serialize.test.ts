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
});
