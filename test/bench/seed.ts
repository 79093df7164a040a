import { randomBytes, randomUUID } from 'node:crypto';
import { userKey } from '../../server/stores/user-slot';
import { newSessionId } from '../../server/session/middleware';
import { createClient } from '@keyv/redis';
import type { TokenSealer } from '../../server/auth/token-encryption';

/** A plain Redis client for seeding and reading what the BFF stored. */
export async function connectRedis(url: string) {
  const client = createClient({ url });
  client.on('error', () => {});
  await client.connect();
  return client;
}

export type Redis = Awaited<ReturnType<typeof connectRedis>>;

/** One stored key as Redis holds it: Keyv's JSON envelope, and its remaining TTL. */
export interface StoredKey {
  key: string;
  raw: string;
  ttlMs: number;
}

/**
 * Every key of one user as the BFF wrote it: token cache entry, sessions, and the sign-out
 * bookkeeping that leads to them (sid and sub entries, the user's list of sessions).
 */
export interface CapturedUser {
  homeAccountId: string;
  sessionIds: string[];
  keys: StoredKey[];
}

const envelope = <T>(raw: string | null): T | undefined => (raw === null ? undefined : (JSON.parse(raw) as { value: T }).value);

export async function captureUser(redis: Redis, prefix: string, homeAccountId: string): Promise<CapturedUser> {
  const read = async (key: string): Promise<StoredKey> => {
    const [raw, ttlMs] = await Promise.all([redis.get(key), redis.pTTL(key)]);
    if (raw === null) throw new Error(`${key} is not in Redis`);
    return { key, raw, ttlMs };
  };
  const sessionsKey = await read(`${prefix}logout:sessions:${userKey(homeAccountId)}`);
  const refs = envelope<{ id: string; issuer: string; sid?: string }[]>(sessionsKey.raw)!;
  const sessions = await Promise.all(refs.map((r) => read(`${prefix}sessions:${r.id}`)));
  const user = envelope<{ user: { issuer: string; subject: string } }>(sessions[0]!.raw)!.user;
  const sids = [...new Set(refs.filter((r) => r.sid).map((r) => `${prefix}logout:sid:${r.issuer} ${r.sid}`))];
  const keys = [
    sessionsKey,
    ...sessions,
    await read(`${prefix}tokens:${userKey(homeAccountId)}`),
    await read(`${prefix}logout:sub:${user.issuer} ${user.subject}`),
    ...(await Promise.all(sids.map(read))),
  ];
  return { homeAccountId, sessionIds: refs.map((r) => r.id), keys };
}

/** Puts a captured user back exactly as it was, with no tombstone: one pipeline, one round trip. */
export async function restoreUser(redis: Redis, prefix: string, user: CapturedUser): Promise<void> {
  const multi = redis.multi();
  multi.del(`${prefix}logout:tomb:${userKey(user.homeAccountId)}`);
  for (const k of user.keys) multi.set(k.key, k.raw, { PX: k.ttlMs });
  await multi.execAsPipeline();
}

/**
 * A factory of synthetic users shaped exactly like a real one (captured after a real sign-in):
 * the same MSAL cache layout with fresh random secrets, sealed through the same TokenSealer and
 * wrapped in the same Keyv envelope; one session and the sign-out bookkeeping per user.
 * `tokenBytes` pads the refresh token so the user's footprint is realistic (Entra's refresh
 * tokens are ~1.5 KB; the dev IdP's are 43 characters).
 */
export function syntheticUsers(real: CapturedUser, prefix: string, sealer: TokenSealer, targetBytesPerUser: number) {
  const realId = real.homeAccountId;
  const tokenKey = real.keys.find((k) => k.key === `${prefix}tokens:${userKey(realId)}`)!;
  const sessionKey = real.keys.find((k) => k.key.startsWith(`${prefix}sessions:`))!;
  const session = envelope<{ user: { issuer: string; sid?: string; username: string; name: string; email?: string } }>(sessionKey.raw)!;
  const { issuer, sid: realSid = '', username, name, email = '' } = session.user;
  const cache = JSON.parse(sealer.open(envelope<string>(tokenKey.raw)!, realId)) as Record<string, Record<string, { secret?: string }>>;

  // The MSAL cache as a template: secrets become placeholders filled with random text per user.
  const secrets: { placeholder: string; length: number; refresh: boolean }[] = [];
  for (const type of ['AccessToken', 'RefreshToken', 'IdToken']) {
    for (const entry of Object.values(cache[type] ?? {})) {
      if (typeof entry.secret !== 'string') continue;
      const placeholder = `@@secret${secrets.length}@@`;
      secrets.push({ placeholder, length: entry.secret.length, refresh: type === 'RefreshToken' });
      entry.secret = placeholder;
    }
  }
  const cacheTemplate = JSON.stringify(cache);
  const sessionTemplate = JSON.stringify(session);
  const random = (length: number) => randomBytes(Math.ceil((length * 3) / 4) + 1).toString('base64url').slice(0, length);
  let padding = 0;
  const ttl = (key: StoredKey) => Math.max(60_000, key.ttlMs);
  const bookkeepingTtl = ttl(real.keys[0]!);

  const personalize = (text: string, id: string, sid: string, i: number) =>
    text
      .replaceAll(realId, id)
      .replaceAll(realSid || '\u0000', sid)
      .replaceAll(email || '\u0000', `bench${i}@example.test`)
      .replaceAll(`"${username}"`, `"bench${i}"`)
      .replaceAll(name, `Bench User ${i}`);

  const make = (i: number) => {
    const id = randomUUID();
    const sid = randomBytes(32).toString('base64url');
    const sessionId = newSessionId(id);
    let plain = personalize(cacheTemplate, id, sid, i);
    for (const s of secrets) plain = plain.replace(s.placeholder, random(s.length + (s.refresh ? padding : 0)));
    const now = Date.now();
    const wrap = (value: unknown, ttlMs: number) => JSON.stringify({ value, expires: now + ttlMs });
    const keys: StoredKey[] = [
      { key: `${prefix}tokens:${userKey(id)}`, raw: wrap(sealer.seal(plain, id), ttl(tokenKey)), ttlMs: ttl(tokenKey) },
      { key: `${prefix}sessions:${sessionId}`, raw: wrap(JSON.parse(personalize(sessionTemplate, id, sid, i)), ttl(sessionKey)), ttlMs: ttl(sessionKey) },
      { key: `${prefix}logout:sessions:${userKey(id)}`, raw: wrap([{ id: sessionId, issuer, sid }], bookkeepingTtl), ttlMs: bookkeepingTtl },
      { key: `${prefix}logout:sub:${issuer} ${id}`, raw: wrap(id, bookkeepingTtl), ttlMs: bookkeepingTtl },
      { key: `${prefix}logout:sid:${issuer} ${sid}`, raw: wrap(id, bookkeepingTtl), ttlMs: bookkeepingTtl },
    ];
    return { homeAccountId: id, sessionId, keys };
  };
  // Lengthen the refresh token (sealing adds a third: base64) until a user's keys and values
  // add up to the target.
  if (secrets.some((s) => s.refresh)) padding = Math.max(0, Math.round(((targetBytesPerUser - bytesOf(make(0).keys)) * 3) / 4));
  return { make, bytesPerUser: bytesOf(make(0).keys) };
}

const bytesOf = (keys: StoredKey[]) => keys.reduce((n, k) => n + Buffer.byteLength(k.key) + Buffer.byteLength(k.raw), 0);

/**
 * Writes `count` synthetic users, pipelined in batches (one round trip per batch), two batches
 * in flight so that building the next one overlaps Redis taking the last.
 */
export async function seedUsers(redis: Redis, make: (i: number) => { keys: StoredKey[] }, from: number, count: number, batch = 1000) {
  let inFlight: Promise<unknown> | undefined;
  for (let start = from; start < from + count; start += batch) {
    const multi = redis.multi();
    for (let i = start; i < Math.min(from + count, start + batch); i++) {
      for (const k of make(i).keys) multi.set(k.key, k.raw, { PX: k.ttlMs });
    }
    await inFlight;
    inFlight = multi.execAsPipeline();
  }
  await inFlight;
}

/** Removes every key under the prefix (SCAN + UNLINK, pipelined). */
export async function deletePrefix(redis: Redis, prefix: string): Promise<number> {
  let removed = 0;
  let pending: string[] = [];
  const flush = async () => {
    if (pending.length === 0) return;
    await redis.unlink(pending);
    removed += pending.length;
    pending = [];
  };
  for await (const found of redis.scanIterator({ MATCH: `${prefix}*`, COUNT: 5000 })) {
    pending.push(...(Array.isArray(found) ? found : [found]));
    if (pending.length >= 5000) await flush();
  }
  await flush();
  return removed;
}
