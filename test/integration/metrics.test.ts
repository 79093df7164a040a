import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestBrowser } from '../support/browser';
import { JWT_PATTERN, startInspectableStack, startStack, withExpiredAccessTokens, type Stack } from '../support/stack';

type Inspectable = Awaited<ReturnType<typeof startInspectableStack>>;

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const METRICS_TOKEN = 'metrics-token-0123456789abcdef-0123456789';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the Prometheus text exposition format (0.0.4): one sample per line, `name{label="value",…} number`. */
function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, name, value] of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[name!] = value!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return samples;
}

/** The value of the series `name` with exactly these labels (a histogram's `le` aside); 0 when absent. */
function valueOf(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v) && Object.keys(s.labels).length === Object.keys(labels).length);
  if (found.length > 1) throw new Error(`${name} ${JSON.stringify(labels)} matches ${found.length} series`);
  return found[0]?.value ?? 0;
}

async function scrape(url: string, headers: Record<string, string> = {}): Promise<Sample[]> {
  const res = await fetch(`${url}/metrics`, { headers });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseExposition(await res.text());
}

/** A session record in the in-memory store, changed as time would change it (koa-session's envelope kept). */
function ageSession(env: Inspectable, sessionId: string, change: (data: { createdAt: number; lastSeen: number }) => void) {
  const key = `sessions:${sessionId}`;
  const envelope = JSON.parse(String(env.memory.get(key)));
  change(envelope.value);
  env.memory.set(key, JSON.stringify(envelope));
}

describe('metrics on their own listener (METRICS_PORT)', () => {
  let env: Inspectable;
  let stack: Stack;
  let metricsUrl: string;
  beforeAll(async () => {
    env = await startInspectableStack({ METRICS_PORT: '0' });
    stack = env.stack;
    metricsUrl = stack.bff.metricsUrl!;
  });
  afterAll(() => stack?.close());

  it('after a sign-in, an API call, a refused logout token and a sign-out, each series counts exactly what happened', async () => {
    const before = await scrape(metricsUrl);
    const delta = (name: string, labels: Record<string, string> = {}, now: Sample[] = []) => valueOf(now, name, labels) - valueOf(before, name, labels);

    const browser = stack.browser();
    await stack.signIn(browser, 'alice');
    expect((await browser.api(`${stack.url}/api/me`)).status).toBe(200);
    const refused = await stack.browser().post(`${stack.url}/auth/backchannel-logout`, { body: 'logout_token=not-a-jwt', headers: FORM });
    expect(refused.status).toBe(400);
    expect((await browser.api(`${stack.url}/auth/logout`, { method: 'POST' })).status).toBe(200);

    const after = await scrape(metricsUrl);
    const d = (name: string, labels: Record<string, string> = {}) => delta(name, labels, after);
    expect(d('bff_sessions_started_total')).toBe(1);
    expect(d('bff_signouts_total', { path: 'spa', outcome: 'ok' })).toBe(1);
    for (const path of ['spa', 'frontchannel', 'backchannel']) {
      for (const outcome of ['unreplicated', 'store_unavailable', 'error']) expect(d('bff_signouts_total', { path, outcome })).toBe(0);
    }
    expect(d('bff_signouts_total', { path: 'backchannel', outcome: 'ok' })).toBe(0);
    expect(d('bff_sessions_ended_total', { reason: 'sign_out' })).toBe(1);
    expect(d('bff_sessions_ended_total', { reason: 'fixation' })).toBe(0);
    expect(d('bff_logout_token_refusals_total', { reason: 'malformed' })).toBe(1);
    // The dev IdP's access token lives an hour: the API call used the one from the sign-in.
    expect(d('bff_token_refreshes_total', { outcome: 'ok' })).toBe(0);
    const count = (route: string, statusClass: string) => d('bff_http_request_duration_seconds_count', { route, status_class: statusClass });
    expect(count('/auth/login', '3xx')).toBe(1);
    expect(count('/auth/callback', '3xx')).toBe(1);
    expect(count('/api/*', '2xx')).toBe(1);
    expect(count('/auth/backchannel-logout', '4xx')).toBe(1);
    expect(count('/auth/logout', '2xx')).toBe(1);
    // Store traffic is counted (how many calls a flow takes is the code's business), and none failed.
    for (const store of ['sessions', 'tokens', 'logout', 'clock']) {
      expect(after.filter((s) => s.name === 'bff_store_calls_total' && s.labels.store === store).reduce((n, s) => n + s.value, 0), store).toBeGreaterThan(0);
    }
    expect(after.filter((s) => s.name === 'bff_store_errors_total').reduce((n, s) => n + s.value, 0)).toBe(0);
    // Process metrics share the registry.
    expect(after.some((s) => s.name === 'process_cpu_user_seconds_total')).toBe(true);
  });

  it('a sign-out the IdP reports through the front channel is counted under its path, with the sessions it ended', async () => {
    const sidsBefore = new Set(env.keys('logout:sid:'));
    await stack.signIn(stack.browser(), 'bob');
    const sid = env.keys('logout:sid:').find((k) => !sidsBefore.has(k))!.split(' ').pop()!;
    const before = await scrape(metricsUrl);
    expect((await new TestBrowser().get(`${stack.url}/auth/frontchannel-logout?sid=${encodeURIComponent(sid)}`)).status).toBe(200);
    const after = await scrape(metricsUrl);
    const d = (name: string, labels: Record<string, string>) => valueOf(after, name, labels) - valueOf(before, name, labels);
    expect(d('bff_signouts_total', { path: 'frontchannel', outcome: 'ok' })).toBe(1);
    expect(d('bff_sessions_ended_total', { reason: 'sign_out' })).toBe(1);
    expect(d('bff_http_request_duration_seconds_count', { route: '/auth/frontchannel-logout', status_class: '2xx' })).toBe(1);
  });

  it('a second sign-in in the same browser counts the previous session as ended by fixation', async () => {
    const before = await scrape(metricsUrl);
    const browser = stack.browser();
    await stack.signIn(browser, 'bob');
    await stack.signIn(browser, 'bob');
    const after = await scrape(metricsUrl);
    expect(valueOf(after, 'bff_sessions_started_total') - valueOf(before, 'bff_sessions_started_total')).toBe(2);
    expect(valueOf(after, 'bff_sessions_ended_total', { reason: 'fixation' }) - valueOf(before, 'bff_sessions_ended_total', { reason: 'fixation' })).toBe(1);
  });

  it('a session found past its idle or absolute lifetime is counted as ended for that reason', async () => {
    const before = await scrape(metricsUrl);
    const idle = stack.browser();
    const old = stack.browser();
    await stack.signIn(idle, 'alice');
    await stack.signIn(old, 'bob');
    // As if the user had been away for longer than SESSION_IDLE_MINUTES (30), or signed in longer than SESSION_ABSOLUTE_HOURS (12) ago.
    ageSession(env, (await idle.cookie(stack.url, 'bff.sid'))!, (s) => void (s.lastSeen -= 31 * 60_000));
    ageSession(env, (await old.cookie(stack.url, 'bff.sid'))!, (s) => void ((s.createdAt -= 13 * 3_600_000), (s.lastSeen = Date.now())));
    expect((await idle.api(`${stack.url}/auth/session`)).json()).toEqual(expect.objectContaining({ isAuthenticated: false }));
    expect((await old.api(`${stack.url}/auth/session`)).json()).toEqual(expect.objectContaining({ isAuthenticated: false }));
    const after = await scrape(metricsUrl);
    const ended = (reason: string) => valueOf(after, 'bff_sessions_ended_total', { reason }) - valueOf(before, 'bff_sessions_ended_total', { reason });
    expect(ended('idle')).toBe(1);
    expect(ended('absolute')).toBe(1);
  });

  it('an expired access token is renewed by one refresh grant, however many calls need it at once', async () => {
    const browser = stack.browser();
    await stack.signIn(browser, 'bob');
    const sub = (await browser.api(`${stack.url}/api/me`)).json().sub as string;
    env.setTokenCache(sub, withExpiredAccessTokens(env.tokenCacheOf(sub)!));
    const before = await scrape(metricsUrl);
    const answers = await Promise.all([1, 2, 3].map(() => browser.api(`${stack.url}/api/me`)));
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200]);
    const after = await scrape(metricsUrl);
    expect(valueOf(after, 'bff_token_refreshes_total', { outcome: 'ok' }) - valueOf(before, 'bff_token_refreshes_total', { outcome: 'ok' })).toBe(1);
    // Calls that overlapped the refresh joined it (in process); one that came after it found the new token.
    const waits = ['in_process', 'lease'].reduce((n, kind) => n + valueOf(after, 'bff_single_flight_waits_total', { kind }) - valueOf(before, 'bff_single_flight_waits_total', { kind }), 0);
    expect(waits).toBeLessThanOrEqual(2);
  });

  it('no label value carries a user id, sid, session id, token or raw path', async () => {
    const browser = stack.browser();
    await stack.signIn(browser, 'alice');
    const me = (await browser.api(`${stack.url}/api/me`)).json();
    const sessionId = (await browser.cookie(stack.url, 'bff.sid'))!;
    const cache = env.tokenCacheOf(me.sub as string)!;
    const secrets = [
      me.sub as string,
      sessionId,
      ...env.keys('logout:sid:').map((k) => k.split(' ').pop()!),
      ...Object.values(cache.AccessToken).map((t) => t.secret),
      ...Object.values(cache.RefreshToken).map((t) => t.secret),
      ...Object.values(cache.IdToken).map((t) => t.secret),
    ];
    // Paths with ids in them: counted under their route pattern, never as written.
    await browser.api(`${stack.url}/api/items/4242-unique-id?q=secret-query`);
    await browser.get(`${stack.url}/some/spa/route/7777-unique-id`);
    await browser.api(`${stack.url}/auth/backchannel-logout`, { method: 'POST', body: `logout_token=${encodeURIComponent(Object.values(cache.IdToken)[0]!.secret)}`, headers: FORM });
    const res = await fetch(`${metricsUrl}/metrics`);
    const text = await res.text();
    for (const secret of secrets) expect(text.includes(secret), 'a user id, sid, session id or token').toBe(false);
    expect(text).not.toMatch(JWT_PATTERN);
    expect(text).not.toMatch(/unique-id|secret-query|alice/);
    const routes = new Set(parseExposition(text).flatMap((s) => (s.labels.route === undefined ? [] : [s.labels.route])));
    for (const route of routes) expect(route).toMatch(/^(?:(?:\/[a-z.-]+)+(?:\/\*)?|\/api\/\*|static|other)$/);
    expect(routes).toContain('/api/*');
    expect(routes).toContain('static');
  });

  it('is not on the public port, and its own listener serves /metrics alone', async () => {
    const pub = await new TestBrowser().get(`${stack.url}/metrics`);
    expect(pub.body).not.toMatch(/bff_/);
    expect(metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const other = await fetch(`${metricsUrl}/auth/session`);
    expect(other.status).toBe(404);
    expect(await other.json()).toEqual({ error: 'not_found', message: 'Not found.' });
    expect((await fetch(`${metricsUrl}/metrics`, { method: 'POST' })).status).toBe(405);
  });
});

describe('metrics on the main port behind METRICS_TOKEN', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ METRICS_TOKEN });
  });
  afterAll(() => stack?.close());

  it('refuses a scrape without the bearer token, or with another, with a 401 problem', async () => {
    for (const headers of <Record<string, string>[]>[{}, { authorization: 'Bearer wrong-token-0123456789abcdef-0123456789' }, { authorization: `Basic ${Buffer.from(`x:${METRICS_TOKEN}`).toString('base64')}` }, { authorization: `Bearer ${METRICS_TOKEN}x` }]) {
      const res = await fetch(`${stack.url}/metrics`, { headers });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer realm="metrics"');
      const body = await res.json();
      expect(body.error).toBe('unauthenticated');
      expect(JSON.stringify(body)).not.toMatch(/bff_/);
    }
  });

  it('answers a scrape with the bearer token in the Prometheus text format', async () => {
    await stack.signIn(stack.browser(), 'alice');
    const samples = await scrape(stack.url, { authorization: `Bearer ${METRICS_TOKEN}` });
    expect(valueOf(samples, 'bff_sessions_started_total')).toBe(1);
    expect(stack.bff.metricsUrl).toBeUndefined();
  });
});

describe('metrics off (neither METRICS_PORT nor METRICS_TOKEN)', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(() => stack?.close());

  it('there is no metrics endpoint at all', async () => {
    expect(stack.bff.metricsUrl).toBeUndefined();
    expect(stack.bff.services.metrics.enabled).toBe(false);
    for (const headers of [{}, { authorization: `Bearer ${METRICS_TOKEN}` }] as Record<string, string>[]) {
      const res = await new TestBrowser().get(`${stack.url}/metrics`, { headers });
      expect(res.body).not.toMatch(/bff_/);
    }
  });
});
