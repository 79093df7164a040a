import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';

/**
 * Token cache entries are sealed with AES-256-GCM before they reach the store, bound to the
 * user's key (additional data), so a stolen or swapped entry is useless. Keys carry an id:
 * the first key seals, every key opens (rotation). Format: v1.<kid>.<iv>.<ciphertext>.<tag>.
 */
export interface TokenCacheKey {
  id: string;
  key: Buffer;
}

export class TokenCacheKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TokenCacheKeyError';
  }
}

/** NIST SP 800-38D: a 96-bit IV, and the full 128-bit tag (shorter tags weaken forgery resistance). */
const IV_BYTES = 12;
const TAG_BYTES = 16;

export class TokenSealer {
  private readonly byId: Map<string, Buffer>;

  constructor(private readonly keys: readonly TokenCacheKey[]) {
    if (keys.length === 0) throw new TokenCacheKeyError('at least one token cache key is required');
    this.byId = new Map(keys.map((k) => [k.id, k.key]));
  }

  seal(plaintext: string, boundTo: string): string {
    const { id, key } = this.keys[0]!;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(boundTo, 'utf8'));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return ['v1', id, iv.toString('base64url'), ciphertext.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.');
  }

  open(sealed: string, boundTo: string): string {
    const parts = sealed.split('.');
    const [version, id] = parts;
    if (parts.length !== 5 || version !== 'v1' || !id) {
      throw new TokenCacheKeyError('the token cache entry is not sealed (plain text or unknown format)');
    }
    const key = this.byId.get(id);
    if (!key) throw new TokenCacheKeyError(`the token cache entry is sealed with key id "${id}", which TOKEN_CACHE_KEY does not hold`);
    const doesNotOpen = new TokenCacheKeyError(`the token cache entry does not open with key id "${id}": wrong key, or the entry was altered or moved`);
    // Exactly what seal() writes, or nothing: Node accepts GCM tags cut to 4 bytes, IVs of any
    // length and several spellings of one base64 value unless told otherwise.
    const iv = canonicalBase64url(parts[2]!);
    const ciphertext = canonicalBase64url(parts[3]!);
    const tag = canonicalBase64url(parts[4]!);
    if (iv?.length !== IV_BYTES || !ciphertext || tag?.length !== TAG_BYTES) throw doesNotOpen;
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
      decipher.setAAD(Buffer.from(boundTo, 'utf8'));
      decipher.setAuthTag(tag);
      return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8');
    } catch {
      throw doesNotOpen;
    }
  }
}

/** The bytes `value` encodes, if it is the one spelling seal() writes (no padding, no +/, no stray bits). */
function canonicalBase64url(value: string): Buffer | undefined {
  const bytes = Buffer.from(value, 'base64url');
  return bytes.toString('base64url') === value ? bytes : undefined;
}

/** Parses TOKEN_CACHE_KEY: comma-separated `<id>:<base64 of 32 bytes>`, the first one sealing. */
export function parseTokenCacheKeys(value: string): TokenCacheKey[] {
  return value.split(',').map((part, i) => {
    const [id, encoded, ...rest] = part.trim().split(':');
    if (!id || !encoded || rest.length > 0 || !/^[\w-]{1,32}$/.test(id)) {
      throw new TokenCacheKeyError(`entry ${i + 1} must look like <id>:<base64 key> (id: letters, digits, _ or -)`);
    }
    const key = Buffer.from(encoded, 'base64');
    if (key.length !== 32) throw new TokenCacheKeyError(`key "${id}" must be 32 bytes (base64 of 32 random bytes), got ${key.length}`);
    return { id, key };
  });
}

export const generateTokenCacheKey = (): TokenCacheKey => ({ id: `dev-${randomBytes(3).toString('hex')}`, key: randomBytes(32) });

/**
 * A sealer for one purpose, keyed from SESSION_KEYS: a 256-bit key per session key (HKDF-SHA256,
 * RFC 5869, with the purpose as info), the first sealing, all opening (rotation). A key's id
 * names the key, not its place in the list.
 */
export function sessionKeySealer(sessionKeys: readonly string[], purpose: string): TokenSealer {
  return new TokenSealer(
    sessionKeys.map((sessionKey) => {
      const key = Buffer.from(hkdfSync('sha256', sessionKey, '', purpose, 32));
      return { id: createHash('sha256').update(key).digest('hex').slice(0, 12), key };
    }),
  );
}
