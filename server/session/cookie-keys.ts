import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * The signer of the BFF's signed cookies (`bff.sid.sig`), given to Koa as `keys`: the same
 * signatures as Keygrip's defaults (HMAC-SHA1 of `<name>=<value>`, base64url without padding;
 * the `cookies` package calls `sign` and `index`), so cookies signed before stay valid, but
 * checked with one HMAC per key and `crypto.timingSafeEqual`. Keygrip compares through `tsscmp`,
 * which draws random bytes and computes two more HMACs per comparison: about four times the cost,
 * on every request (measured in the closing note of the speed issue).
 *
 * SESSION_KEYS rotation as with Keygrip: the first key signs, every key verifies.
 */
export class CookieKeys {
  private readonly keys: readonly Buffer[];

  constructor(keys: readonly string[]) {
    if (keys.length === 0) throw new Error('CookieKeys: at least one key is required');
    this.keys = keys.map((k) => Buffer.from(k));
  }

  /** The signature of `data` under the first key (base64url, 27 characters). */
  sign(data: string): string {
    return this.mac(data, this.keys[0]!).toString('base64url');
  }

  /** Index of the key that signed `data` with `digest`, or -1. */
  index(data: string, digest: string | undefined): number {
    if (typeof digest !== 'string') return -1;
    const given = Buffer.from(digest, 'base64url');
    // A digest that is not canonical base64url of a 20-byte MAC cannot be one of ours.
    if (given.length !== 20 || given.toString('base64url') !== digest) return -1;
    for (let i = 0; i < this.keys.length; i++) {
      if (timingSafeEqual(given, this.mac(data, this.keys[i]!))) return i;
    }
    return -1;
  }

  verify(data: string, digest: string | undefined): boolean {
    return this.index(data, digest) > -1;
  }

  private mac(data: string, key: Buffer): Buffer {
    return createHmac('sha1', key).update(data).digest();
  }
}
