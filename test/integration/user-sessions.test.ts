import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UserSession, UserSessionList } from '../../shared/api';
import { CookieKeys } from '../../server/session/cookie-keys';
import { SESSION_COOKIE } from '../../server/session/middleware';
import { startFaultyPair } from '../support/bff-pair';
import { TestBrowser, type RequestOptions, type Response } from '../support/browser';
import { signInAt, startInspectableStack, TEST_SESSION_KEY } from '../support/stack';

type Inspectable = Awaited<ReturnType<typeof startInspectableStack>>;

const CHROME_ON_WINDOWS = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
const SAFARI_ON_IPHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1';

/** A test browser that sends a User-Agent with every request, as a real one does. */
class BrowserWithAgent extends TestBrowser {
  constructor(
    ca: string | undefined,
    private readonly userAgent: string,
  ) {
    super(ca);
  }

  override request(url: string, options: RequestOptions = {}): Promise<Response> {
    return super.request(url, { ...options, headers: { 'user-agent': this.userAgent, ...options.headers } });
  }
}

const listOf = async (browser: TestBrowser, url: string): Promise<UserSession[]> => {
  const res = await browser.api(`${url}/auth/sessions`);
  expect(res.status).toBe(200);
  return res.json<UserSessionList>().sessions;
};

/** The handle of the browser's own session, as its own list marks it. */
const ownHandle = async (browser: TestBrowser, url: string) => (await listOf(browser, url)).find((s) => s.current)!.handle;

const sessionIdOf = async (browser: TestBrowser, url: string) => (await browser.cookie(url, SESSION_COOKIE))!;

describe('"Your sessions": GET /auth/sessions and DELETE /auth/sessions/:handle', () => {
  let env: Inspectable;
  let url: string;
  const browser = (agent = CHROME_ON_WINDOWS) => new BrowserWithAgent(env.stack.bff.devIdp?.ca, agent);
  /** Alice on two devices: a Chrome on Windows (signed in first) and a Safari on an iPhone. */
  async function aliceOnTwoDevices() {
    const laptop = browser(CHROME_ON_WINDOWS);
    const phone = browser(SAFARI_ON_IPHONE);
    await signInAt(laptop, url, 'alice');
    await signInAt(phone, url, 'alice');
    return { laptop, phone };
  }

  beforeAll(async () => {
    env = await startInspectableStack();
    url = env.stack.url;
  });
  afterAll(() => env?.stack.close());

  it("lists both of alice's sessions with their devices, this one marked first, and no session id anywhere in the answer", async () => {
    const { laptop, phone } = await aliceOnTwoDevices();
    const res = await laptop.api(`${url}/auth/sessions`);
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    const { sessions } = res.json<UserSessionList>();
    expect(sessions.map((s) => [s.device, s.current])).toEqual([
      ['Chrome on Windows', true],
      ['Safari on iPhone', false],
    ]);
    for (const s of sessions) {
      expect(Object.keys(s).sort()).toEqual(['createdAt', 'current', 'device', 'handle', 'lastSeenAt']);
      expect(s.handle).toMatch(/^[\w-]{22}$/);
      expect(Number.isNaN(Date.parse(s.createdAt))).toBe(false);
      expect(Date.parse(s.lastSeenAt)).toBeGreaterThanOrEqual(Date.parse(s.createdAt));
    }
    // Neither session id (nor any part of one, past the slot tag they share) is in the JSON.
    for (const id of [await sessionIdOf(laptop, url), await sessionIdOf(phone, url)]) {
      expect(res.body).not.toContain(id.replace(/^\{[^}]*\}/, ''));
    }
    // The phone sees the same two sessions, its own marked.
    expect((await listOf(phone, url)).map((s) => [s.handle, s.current])).toEqual([
      [sessions[1]!.handle, true],
      [sessions[0]!.handle, false],
    ]);
  });

  it('a handle used as the session cookie, even one signed with the session key, signs in nobody', async () => {
    const { laptop } = await aliceOnTwoDevices();
    const handles = (await listOf(laptop, url)).map((s) => s.handle);
    const keys = new CookieKeys([TEST_SESSION_KEY]);
    for (const handle of handles) {
      const forger = browser();
      await forger.jar.setCookie(`${SESSION_COOKIE}=${handle}; Path=/`, url);
      await forger.jar.setCookie(`${SESSION_COOKIE}.sig=${keys.sign(`${SESSION_COOKIE}=${handle}`)}; Path=/`, url);
      expect((await forger.api(`${url}/auth/session`)).json()).toEqual({ isAuthenticated: false });
      expect((await forger.api(`${url}/api/me`)).status).toBe(401);
      expect((await forger.api(`${url}/auth/sessions`)).status).toBe(401);
    }
  });

  it("signing out another device ends that browser's session at once; this one, and alice's tokens, stay", async () => {
    const { laptop, phone } = await aliceOnTwoDevices();
    expect((await phone.api(`${url}/api/me`)).status).toBe(200);
    const phoneSessionId = await sessionIdOf(phone, url);
    const other = { handle: await ownHandle(phone, url) };
    const res = await laptop.api(`${url}/auth/sessions/${other.handle}`, { method: 'DELETE' });
    expect(res.status).toBe(204);
    expect(res.body).toBe('');

    const next = await phone.api(`${url}/api/me`);
    expect(next.status).toBe(401);
    expect(next.json().error).toBe('unauthenticated');
    expect((await phone.api(`${url}/auth/session`)).json()).toEqual({ isAuthenticated: false });
    expect(env.keys(`sessions:${phoneSessionId}`)).toEqual([]);
    // Only the BFF session ended: the laptop still calls the API with alice's tokens.
    expect((await laptop.api(`${url}/api/me`)).json().preferred_username).toBe('alice');
    const left = await listOf(laptop, url);
    expect(left.map((s) => s.handle)).not.toContain(other.handle);
    expect(left[0]!.current).toBe(true);
    // Ended once: the same handle names nothing any more.
    expect((await laptop.api(`${url}/auth/sessions/${other.handle}`, { method: 'DELETE' })).status).toBe(404);
  });

  it('a write-back of the ended session that lands after the end is undone by its own request (401)', async () => {
    const { laptop, phone } = await aliceOnTwoDevices();
    const phoneSessionId = await sessionIdOf(phone, url);
    const key = `sessions:${phoneSessionId}`;
    const record = JSON.parse(String(env.memory.get(key)));
    const other = { handle: await ownHandle(phone, url) };
    expect((await laptop.api(`${url}/auth/sessions/${other.handle}`, { method: 'DELETE' })).status).toBe(204);
    // A request of the phone that loaded its session before the end writes it back after it,
    // with a lastSeen a minute old, so the phone's next request writes the session back again.
    record.value.lastSeen -= 120_000;
    env.memory.set(key, JSON.stringify(record));
    const res = await phone.api(`${url}/auth/session`);
    expect(res.status).toBe(401);
    expect(env.keys(key)).toEqual([]);
    expect((await phone.api(`${url}/api/me`)).status).toBe(401);
  });

  it("bob can neither see nor end alice's sessions: her handle is a 404 for him, and changes nothing", async () => {
    const { laptop, phone } = await aliceOnTwoDevices();
    const bob = browser();
    await signInAt(bob, url, 'bob');
    const alices = await listOf(laptop, url);
    const bobs = await listOf(bob, url);
    expect(bobs).toHaveLength(1);
    expect(bobs[0]!.current).toBe(true);
    expect(alices.map((s) => s.handle)).not.toContain(bobs[0]!.handle);
    for (const { handle } of alices) {
      const res = await bob.api(`${url}/auth/sessions/${handle}`, { method: 'DELETE' });
      expect(res.status).toBe(404);
      expect(res.json()).toEqual({ error: 'not_found', message: expect.any(String) });
    }
    expect((await laptop.api(`${url}/api/me`)).status).toBe(200);
    expect((await phone.api(`${url}/api/me`)).status).toBe(200);
    expect((await listOf(laptop, url)).map((s) => s.handle)).toEqual(alices.map((s) => s.handle));
    // And alice cannot end bob's.
    expect((await laptop.api(`${url}/auth/sessions/${bobs[0]!.handle}`, { method: 'DELETE' })).status).toBe(404);
    expect((await bob.api(`${url}/api/me`)).status).toBe(200);
  });

  it('both routes need the X-CSRF header, and refuse a cross-site request, changing nothing', async () => {
    const { laptop, phone } = await aliceOnTwoDevices();
    const other = { handle: await ownHandle(phone, url) };
    const list = await laptop.get(`${url}/auth/sessions`, { headers: { accept: 'application/json' } });
    expect(list.status).toBe(403);
    expect(list.json().error).toBe('csrf_required');
    const end = await laptop.request(`${url}/auth/sessions/${other.handle}`, { method: 'DELETE' });
    expect(end.status).toBe(403);
    expect(end.json().error).toBe('csrf_required');
    const crossSite = await laptop.api(`${url}/auth/sessions/${other.handle}`, { method: 'DELETE', headers: { 'sec-fetch-site': 'cross-site' } });
    expect(crossSite.status).toBe(403);
    expect(crossSite.json().error).toBe('cross_site_request');
    expect((await phone.api(`${url}/api/me`)).status).toBe(200);
  });

  it('an unknown or malformed handle is a 404 not_found problem', async () => {
    const { laptop } = await aliceOnTwoDevices();
    for (const handle of ['AAAAAAAAAAAAAAAAAAAAAA', 'x', '%7B..%7D', 'constructor', 'a'.repeat(300)]) {
      const res = await laptop.api(`${url}/auth/sessions/${handle}`, { method: 'DELETE' });
      expect(res.status).toBe(404);
      expect(res.json().error).toBe('not_found');
    }
    expect((await listOf(laptop, url)).length).toBeGreaterThanOrEqual(2);
  });

  it('ending the current session here is refused with current_session (the way out is the global sign-out)', async () => {
    const { laptop } = await aliceOnTwoDevices();
    const mine = (await listOf(laptop, url)).find((s) => s.current)!;
    const res = await laptop.api(`${url}/auth/sessions/${mine.handle}`, { method: 'DELETE' });
    expect(res.status).toBe(409);
    expect(res.json()).toEqual({ error: 'current_session', message: expect.stringContaining('/auth/logout') });
    expect((await laptop.api(`${url}/api/me`)).status).toBe(200);
  });

  it('signed out, both routes answer 401 unauthenticated', async () => {
    const stranger = browser();
    expect((await stranger.api(`${url}/auth/sessions`)).json().error).toBe('unauthenticated');
    expect((await stranger.api(`${url}/auth/sessions/AAAAAAAAAAAAAAAAAAAAAA`, { method: 'DELETE' })).status).toBe(401);
  });

  it('the global sign-out ("Sign out everywhere") still ends every listed session', async () => {
    const { laptop, phone } = await aliceOnTwoDevices();
    expect((await listOf(laptop, url)).length).toBeGreaterThanOrEqual(2);
    expect((await laptop.api(`${url}/auth/logout`, { method: 'POST' })).status).toBe(200);
    for (const device of [laptop, phone]) {
      expect((await device.api(`${url}/api/me`)).status).toBe(401);
      expect((await device.api(`${url}/auth/sessions`)).status).toBe(401);
    }
    // A new sign-in lists only itself: nothing from before the sign-out comes back.
    const again = browser();
    await signInAt(again, url, 'alice');
    expect((await listOf(again, url)).map((s) => s.current)).toEqual([true]);
  });
});

describe('"Sign out this device" across two BFF instances sharing one store', () => {
  let pair: Awaited<ReturnType<typeof startFaultyPair>>;
  beforeAll(async () => {
    pair = await startFaultyPair({ rule: () => () => undefined });
  });
  afterAll(() => pair?.close());

  it('a session ended on instance A is refused at once on instance B, whose caches had seen it', async () => {
    const laptop = new BrowserWithAgent(pair.idp.ca, CHROME_ON_WINDOWS);
    const phone = new BrowserWithAgent(pair.idp.ca, SAFARI_ON_IPHONE);
    await signInAt(laptop, pair.a.url, 'alice');
    await signInAt(phone, pair.b.url, 'alice');
    // B has verified the phone's cookie and opened alice's token entry: both per-instance caches are warm.
    expect((await phone.api(`${pair.b.url}/api/me`)).status).toBe(200);
    expect((await phone.api(`${pair.b.url}/api/me`)).status).toBe(200);
    const sessions = await listOf(laptop, pair.a.url);
    expect(sessions.map((s) => [s.device, s.current])).toEqual([
      ['Chrome on Windows', true],
      ['Safari on iPhone', false],
    ]);
    // Both instances name the sessions alike (the handle is derived from SESSION_KEYS, not stored).
    expect((await listOf(phone, pair.b.url)).map((s) => s.handle).sort()).toEqual(sessions.map((s) => s.handle).sort());
    expect((await laptop.api(`${pair.a.url}/auth/sessions/${sessions[1]!.handle}`, { method: 'DELETE' })).status).toBe(204);
    expect((await phone.api(`${pair.b.url}/api/me`)).status).toBe(401);
    expect((await phone.api(`${pair.b.url}/auth/session`)).json()).toEqual({ isAuthenticated: false });
    expect((await laptop.api(`${pair.b.url}/api/me`)).status).toBe(200);
  });
});
