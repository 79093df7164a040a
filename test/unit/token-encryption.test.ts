import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseTokenCacheKeys, TokenCacheKeyError, TokenSealer } from '../../server/auth/token-encryption';

const key = (id: string) => ({ id, key: randomBytes(32) });
const TOKENS = '{"RefreshToken":{"x":{"secret":"0.AAAA-refresh-token-value"}},"AccessToken":{"y":{"secret":"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.sig"}}}';

describe('token cache entries at rest (AES-256-GCM)', () => {
  it('seals so that no token is readable in the stored value, and opens again', () => {
    const sealer = new TokenSealer([key('k1')]);
    const sealed = sealer.seal(TOKENS, 'user-1');
    expect(sealed).toMatch(/^v1\.k1\./);
    expect(sealed).not.toContain('eyJ');
    expect(sealed).not.toContain('refresh-token-value');
    expect(sealer.open(sealed, 'user-1')).toBe(TOKENS);
  });

  it('uses a fresh IV for every seal', () => {
    const sealer = new TokenSealer([key('k1')]);
    expect(sealer.seal(TOKENS, 'u')).not.toBe(sealer.seal(TOKENS, 'u'));
  });

  it("refuses an entry moved to another user's key", () => {
    const sealer = new TokenSealer([key('k1')]);
    expect(() => sealer.open(sealer.seal(TOKENS, 'alice'), 'mallory')).toThrow(TokenCacheKeyError);
  });

  it('refuses an altered entry', () => {
    const sealer = new TokenSealer([key('k1')]);
    const parts = sealer.seal(TOKENS, 'u').split('.');
    parts[3] = Buffer.from(Buffer.from(parts[3]!, 'base64url').map((b, i) => (i === 0 ? b ^ 1 : b))).toString('base64url');
    expect(() => sealer.open(parts.join('.'), 'u')).toThrow(/does not open/);
  });

  it('rotates: the first key seals, older keys still open', () => {
    const old = key('old');
    const sealedWithOld = new TokenSealer([old]).seal(TOKENS, 'u');
    const rotated = new TokenSealer([key('new'), old]);
    expect(rotated.open(sealedWithOld, 'u')).toBe(TOKENS);
    expect(rotated.seal(TOKENS, 'u')).toMatch(/^v1\.new\./);
  });

  it('names the missing key id when TOKEN_CACHE_KEY no longer holds it', () => {
    const sealed = new TokenSealer([key('gone')]).seal(TOKENS, 'u');
    expect(() => new TokenSealer([key('k2')]).open(sealed, 'u')).toThrow('sealed with key id "gone", which TOKEN_CACHE_KEY does not hold');
  });

  it('gives a clear error for a wrong key under the same id, and for plain text', () => {
    const sealed = new TokenSealer([key('k1')]).seal(TOKENS, 'u');
    expect(() => new TokenSealer([key('k1')]).open(sealed, 'u')).toThrow(/wrong key/);
    expect(() => new TokenSealer([key('k1')]).open(TOKENS, 'u')).toThrow(/not sealed/);
  });

  it('parses TOKEN_CACHE_KEY and explains what is wrong with it', () => {
    const good = randomBytes(32).toString('base64');
    expect(parseTokenCacheKeys(`k1:${good},k0:${good}`).map((k) => k.id)).toEqual(['k1', 'k0']);
    expect(() => parseTokenCacheKeys('justakey')).toThrow(/<id>:<base64 key>/);
    expect(() => parseTokenCacheKeys(`k1:${randomBytes(16).toString('base64')}`)).toThrow(/must be 32 bytes/);
  });
});
