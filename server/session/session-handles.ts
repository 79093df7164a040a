import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';

/** HKDF `info`: a key of its own for handles, never the cookie-signing key itself. */
const PURPOSE = 'bff session handle v1';
/** 128 bits of HMAC-SHA-256, base64url: 22 characters. */
const HANDLE_LENGTH = 22;
const HANDLE_PATTERN = /^[A-Za-z0-9_-]{22}$/;

/**
 * The public name of a session on the sessions page: HMAC-SHA-256 of the session id under a key
 * derived from each SESSION_KEYS entry with HKDF-SHA-256 (RFC 5869, info "bff session handle v1"),
 * truncated to 128 bits. Nothing is stored: every instance with the same SESSION_KEYS computes
 * the same handle. A handle is useless as a cookie (a cookie must carry the session id itself,
 * signed under the session key) and does not lead back to the id (HMAC is one-way).
 *
 * Rotation as for cookies: the first key names sessions, every key's handle is accepted, so a
 * page listed by an instance with the old keys still works on one with the new.
 */
export class SessionHandles {
  private readonly keys: readonly Buffer[];

  /** `sessionKeys`: config.sessionKeys, newest first. */
  constructor(sessionKeys: readonly string[]) {
    if (sessionKeys.length === 0) throw new Error('SessionHandles: at least one key is required');
    this.keys = sessionKeys.map((k) => Buffer.from(hkdfSync('sha256', k, '', PURPOSE, 32)));
  }

  /** The handle of `sessionId` (22 base64url characters). */
  of(sessionId: string): string {
    return this.mac(this.keys[0]!, sessionId);
  }

  /** Whether `handle` names `sessionId` under any of the keys (constant time per comparison). */
  names(handle: string, sessionId: string): boolean {
    if (!HANDLE_PATTERN.test(handle)) return false;
    const given = Buffer.from(handle);
    return this.keys.some((key) => timingSafeEqual(given, Buffer.from(this.mac(key, sessionId))));
  }

  /** Whether `text` has a handle's shape at all (checked before any store is read). */
  static wellFormed(text: string): boolean {
    return HANDLE_PATTERN.test(text);
  }

  private mac(key: Buffer, sessionId: string): string {
    return createHmac('sha256', key).update(sessionId).digest('base64url').slice(0, HANDLE_LENGTH);
  }
}
