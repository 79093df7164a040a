import { createCipheriv, randomBytes } from 'node:crypto';
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

  /** Opens `sealed` with field `field` replaced; says how that went, in words a failure can show. */
  const openWith = (sealer: TokenSealer, sealed: string, field: number, value: string): string => {
    const parts = sealed.split('.');
    parts[field] = value;
    try {
      sealer.open(parts.join('.'), 'u');
      return 'opened';
    } catch (err) {
      return err instanceof TokenCacheKeyError ? `TokenCacheKeyError: ${err.message}` : `other error: ${String(err)}`;
    }
  };
  /** A sealer, one of its entries, and how it refuses that entry with one bit of the tag flipped. */
  const withAlteredRefusal = (k = key('k1')) => {
    const sealer = new TokenSealer([k]);
    const sealed = sealer.seal(TOKENS, 'u');
    const tag = Buffer.from(sealed.split('.')[4]!, 'base64url');
    tag[0]! ^= 1;
    const altered = openWith(sealer, sealed, 4, tag.toString('base64url'));
    expect(altered).toMatch(/^TokenCacheKeyError: .*altered/);
    return { k, sealer, sealed, altered };
  };

  it('refuses an entry whose GCM tag is cut to any length from 0 to 15 bytes, with the same error as an altered entry', () => {
    const { sealer, sealed, altered } = withAlteredRefusal();
    const tag = Buffer.from(sealed.split('.')[4]!, 'base64url');
    expect(tag.length).toBe(16);
    const outcomes = Array.from({ length: 16 }, (_, n) => `${n} bytes: ${openWith(sealer, sealed, 4, tag.subarray(0, n).toString('base64url'))}`);
    expect(outcomes).toEqual(Array.from({ length: 16 }, (_, n) => `${n} bytes: ${altered}`));
  });

  it('refuses an entry sealed with an IV of any length but 12 bytes, with the same error as an altered entry', () => {
    const { k, sealer, sealed, altered } = withAlteredRefusal();
    const lengths = [1, 4, 8, 11, 13, 15, 16, 24, 32, 64];
    const outcomes = lengths.map((n) => {
      // A genuine entry under our key and for our user, only with an n-byte IV (GCM takes any length).
      const iv = randomBytes(n);
      const cipher = createCipheriv('aes-256-gcm', k.key, iv);
      cipher.setAAD(Buffer.from('u', 'utf8'));
      const ciphertext = Buffer.concat([cipher.update(TOKENS, 'utf8'), cipher.final()]);
      const entry = ['v1', k.id, iv.toString('base64url'), ciphertext.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.');
      return `${n} bytes: ${openWith(sealer, entry, 0, 'v1')}`;
    });
    expect(outcomes).toEqual(lengths.map((n) => `${n} bytes: ${altered}`));
    expect(openWith(sealer, sealed, 2, '')).toBe(altered);
  });

  it('opens only the canonical base64url of each field: another encoding of the same bytes is refused like an altered entry', () => {
    const { sealer, sealed, altered } = withAlteredRefusal();
    const parts = sealed.split('.');
    /** Encodings Node's lenient decoder takes to the same bytes as the canonical one. */
    const otherEncodings = (canonical: string) => {
      const bytes = Buffer.from(canonical, 'base64url');
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
      const variants = [
        bytes.toString('base64'), // padding, and + / for - _
        `${canonical}=`,
        `${canonical}==`,
        ` ${canonical}`,
        `${canonical}\n`,
        `${canonical.slice(0, 4)}!${canonical.slice(4)}`,
        canonical.replace(/-/g, '+').replace(/_/g, '/'),
        // A set bit among the unused low bits of the last character (when the length leaves some).
        `${canonical.slice(0, -1)}${alphabet[alphabet.indexOf(canonical.at(-1)!) | 1]}`,
      ];
      return [...new Set(variants)].filter((v) => v !== canonical && Buffer.from(v, 'base64url').equals(bytes));
    };
    const outcomes: string[] = [];
    for (const [field, name] of [[2, 'iv'], [3, 'ciphertext'], [4, 'tag']] as const) {
      const variants = otherEncodings(parts[field]!);
      expect(variants.length, name).toBeGreaterThanOrEqual(5);
      for (const v of variants) outcomes.push(`${name} as ${JSON.stringify(v)}: ${openWith(sealer, sealed, field, v)}`);
    }
    expect(outcomes.filter((o) => !o.endsWith(`: ${altered}`))).toEqual([]);
    expect(openWith(sealer, sealed, 4, parts[4]!)).toBe('opened');
  });

  it('refuses an entry with more or fewer than five dot-separated fields', () => {
    const sealer = new TokenSealer([key('k1')]);
    const sealed = sealer.seal(TOKENS, 'u');
    for (const entry of [`${sealed}.extra`, `${sealed}.`, sealed.split('.').slice(0, 4).join('.')]) {
      expect(() => sealer.open(entry, 'u'), entry).toThrow(/not sealed/);
    }
  });

  it('parses TOKEN_CACHE_KEY and explains what is wrong with it', () => {
    const good = randomBytes(32).toString('base64');
    expect(parseTokenCacheKeys(`k1:${good},k0:${good}`).map((k) => k.id)).toEqual(['k1', 'k0']);
    expect(() => parseTokenCacheKeys('justakey')).toThrow(/<id>:<base64 key>/);
    expect(() => parseTokenCacheKeys(`k1:${randomBytes(16).toString('base64')}`)).toThrow(/must be 32 bytes/);
  });
});
