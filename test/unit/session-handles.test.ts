import { describe, expect, it } from 'vitest';
import { newSessionId } from '../../server/session/middleware';
import { SessionHandles } from '../../server/session/session-handles';

const KEY_A = 'session-key-a-0123456789abcdef-0123456789';
const KEY_B = 'session-key-b-0123456789abcdef-0123456789';

describe('SessionHandles', () => {
  it('names a session with 128 bits that contain no part of its id, the same on every instance with the same keys', () => {
    const id = newSessionId('alice-home-account-id');
    const handle = new SessionHandles([KEY_A]).of(id);
    expect(handle).toMatch(/^[\w-]{22}$/);
    expect(new SessionHandles([KEY_A]).of(id)).toBe(handle);
    const random = id.replace(/^\{[^}]*\}/, '');
    for (let i = 0; i + 8 <= random.length; i++) expect(handle).not.toContain(random.slice(i, i + 8));
    expect(new SessionHandles([KEY_B]).of(id)).not.toBe(handle);
    expect(new SessionHandles([KEY_A]).of(newSessionId('alice-home-account-id'))).not.toBe(handle);
  });

  it('accepts a handle under any configured key (rotation), and nothing else', () => {
    const id = newSessionId('alice');
    const old = new SessionHandles([KEY_A]).of(id);
    const rotated = new SessionHandles([KEY_B, KEY_A]);
    expect(rotated.of(id)).not.toBe(old);
    expect(rotated.names(old, id)).toBe(true);
    expect(rotated.names(rotated.of(id), id)).toBe(true);
    expect(new SessionHandles([KEY_B]).names(old, id)).toBe(false);
    expect(rotated.names(old, newSessionId('alice'))).toBe(false);
    for (const bad of ['', 'x', `${old}A`, old.slice(1), id, '../../../../../../../../']) expect(rotated.names(bad, id)).toBe(false);
  });
});
