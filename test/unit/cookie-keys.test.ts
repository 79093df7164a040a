import Keygrip from 'keygrip';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CookieKeys } from '../../server/session/cookie-keys';

const keys = ['first-session-key-0123456789abcdef-0123456789', 'second-session-key-0123456789abcdef-012345678'];

describe('the signed-cookie keys', () => {
  it("sign exactly as Keygrip's defaults, so cookies signed by earlier releases stay valid", () => {
    const ours = new CookieKeys(keys);
    const keygrip = new Keygrip(keys);
    for (let i = 0; i < 500; i++) {
      const data = `bff.sid=${randomBytes(1 + (i % 64)).toString('base64url')}`;
      expect(ours.sign(data)).toBe(keygrip.sign(data));
      expect(ours.index(data, keygrip.sign(data))).toBe(0);
      expect(ours.index(data, new Keygrip([keys[1]!]).sign(data))).toBe(1);
    }
  });

  it('refuse every other digest: another key, another value, truncated, padded, re-encoded or missing', () => {
    const ours = new CookieKeys(keys);
    const data = 'bff.sid={abcdefghijk}0123456789';
    const good = ours.sign(data);
    const mac = Buffer.from(good, 'base64url');
    const refused = [
      new Keygrip(['an-unrelated-key-0123456789abcdef-0123456789']).sign(data),
      ours.sign(`${data}x`),
      good.slice(0, -1),
      `${good}=`,
      `${good}A`,
      mac.toString('base64'),
      mac.toString('hex'),
      '',
      undefined,
      ...Array.from({ length: 20 }, (_, i) => Buffer.from(mac.map((b, j) => (j === i ? b ^ 1 : b))).toString('base64url')),
    ];
    for (const digest of refused) expect(ours.index(data, digest)).toBe(-1);
    expect(ours.verify(data, good)).toBe(true);
    // Once a pair has verified (and is remembered), every other pair is still checked and refused.
    expect(ours.verify(data, good)).toBe(true);
    for (const digest of refused) expect(ours.index(data, digest)).toBe(-1);
    expect(ours.index(`${data}x`, good)).toBe(-1);
    expect(ours.index(data.slice(0, -1), good)).toBe(-1);
  });
});
