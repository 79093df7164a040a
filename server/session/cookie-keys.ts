import { createHmac, timingSafeEqual } from 'node:crypto';

/** Most verified signatures remembered (each ~0.2 KB). */
const VERIFIED_MAX = 20_000;

/**
 * The signer of the BFF's signed cookies (`bff.sid.sig`), given to Koa as `keys`: the same
 * signatures as Keygrip's defaults (HMAC-SHA1 of `<name>=<value>`, base64url without padding;
 * the `cookies` package calls `sign` and `index`), so cookies signed before stay valid, but
 * checked with one HMAC per key and `crypto.timingSafeEqual`. Keygrip compares through `tsscmp`,
 * which draws random bytes and computes two more HMACs per comparison: about four times the cost,
 * on every request (measured in the closing note of the speed issue).
 *
 * SESSION_KEYS rotation as with Keygrip: the first key signs, every key verifies. A signature
 * that verified once is remembered (the keys of a process never change), so a session's cookie is
 * checked with one HMAC per process, not per request.
 */
export class CookieKeys {
  private readonly keys: readonly Buffer[];
  /**
   * Signatures already verified: `<data>\n<digest>` → key index. Only pairs that verified are
   * kept (nothing an unsigned request sends can grow it), at most VERIFIED_MAX, then it starts over.
   */
  private readonly verified = new Map<string, number>();

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
    const pair = `${data}\n${digest}`;
    const known = this.verified.get(pair);
    if (known !== undefined) return known;
    const found = this.check(data, digest);
    if (found >= 0) {
      if (this.verified.size >= VERIFIED_MAX) this.verified.clear();
      this.verified.set(pair, found);
    }
    return found;
  }

  private check(data: string, digest: string): number {
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
