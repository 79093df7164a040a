import { createHash } from 'node:crypto';
import type { Store } from './store';

/**
 * Every key that belongs to one user carries the same Redis Cluster hash tag, `{<tag>}`, so that
 * all of them (token cache entry, tombstone, list of sessions, refresh lease, the session records
 * themselves) live in one hash slot, on one node: a user's sign-out is decided on one node, and
 * a failover of another node does not touch it (Redis Cluster specification, "Hash tags").
 *
 * The tag is derived from the homeAccountId, not the homeAccountId itself, because session ids
 * carry it too and a session id travels in a cookie: 11 base64url characters (66 bits) of
 * SHA-256. It names a slot, not a user to whoever reads a cookie.
 */
export function userSlotTag(homeAccountId: string): string {
  let tag = tags.get(homeAccountId);
  if (tag === undefined) {
    tag = `{${createHash('sha256').update(homeAccountId).digest('base64url').slice(0, 11)}}`;
    // Every API call names its user's keys two or three times: hash each user once, not each time.
    if (tags.size >= MAX_TAGS) tags.clear();
    tags.set(homeAccountId, tag);
  }
  return tag;
}

const tags = new Map<string, string>();
const MAX_TAGS = 10_000;

/** The store key of something of one user: `{<tag>}<homeAccountId>`. */
export function userKey(homeAccountId: string): string {
  return `${userSlotTag(homeAccountId)}${homeAccountId}`;
}

/**
 * A store whose keys are homeAccountIds (the token cache: one entry per user), stored under
 * userKey so they share the user's slot.
 */
export function keyedByUser<T>(store: Store<T>): Store<T> {
  return {
    get: (homeAccountId) => store.get(userKey(homeAccountId)),
    set: (homeAccountId, value, ttlMs) => store.set(userKey(homeAccountId), value, ttlMs),
    delete: (homeAccountId) => store.delete(userKey(homeAccountId)),
    deleteIf: (homeAccountId, value) => store.deleteIf(userKey(homeAccountId), value),
    setIf: (homeAccountId, expected, value, ttlMs) => store.setIf(userKey(homeAccountId), expected, value, ttlMs),
  };
}
