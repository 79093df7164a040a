import { randomUUID } from 'node:crypto';
import { decodeJwt, importJWK, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STORE_TIMEOUT_MS } from '../../server/stores';
import { userKey } from '../../server/stores/user-slot';
import { startFaultyPair, type FaultyPair, type PairInstance, type ServedRequest } from '../support/bff-pair';
import { TestBrowser, type Response } from '../support/browser';
import { FaultPlan } from '../support/fault-plan';
import { signInAt, signOutAtIdp, withExpiredAccessTokens, type TokenCacheJson } from '../support/stack';

/**
 * Global sign-out under a failing store (DESIGN, the invariant), on two instances sharing one
 * store. Each round, with faults on, users sign in, call the API (some with expired access
 * tokens, so the calls refresh) and some sign out by the SPA, back-channel or front-channel path,
 * all at once on both instances; then, with faults off, the invariant is checked:
 *  1. no answer is a 500, and a 503 is `store_unavailable` with Retry-After;
 *  2. no request that started after a sign-out completed is served on a session that existed
 *     before it;
 *  3. after it, no token of that user is left (unless the user signed in again: then none from
 *     before), and every session from before is refused on both instances;
 *  4. nobody who did not sign out is signed out: every session made without a sign-out since is
 *     served on both instances.
 * A sign-out that did not complete (503) is retried with faults off first, as its client would.
 * FAULT_SEED picks the plan (FAULT_ROUNDS the number of rounds); the counts are printed.
 *
 * Both instances and the dev IdP run in this process (bff-pair.ts): the IdP registers both
 * origins and sends its logout calls to A; the test counts its refresh grants and seeds two more
 * users (carol, dave) so that most rounds have users who do not sign out. Sessions are numbered
 * `<browser>/<sign-in>`; a violation lists what that user's clients did in the round.
 */
const SEED = Number(process.env.FAULT_SEED ?? 1);
const ROUNDS = Number(process.env.FAULT_ROUNDS ?? 10);
const PATHS = ['spa', 'backchannel', 'frontchannel'] as const;
type SignOutPath = (typeof PATHS)[number];

interface User {
  name: string;
  id: string;
  sessions: Session[];
  /** Browsers with no live session here (their IdP session may live on: single sign-on). */
  spare: Browser[];
  browsers: number;
}

/** A browser and the key its requests draw their faults by (RequestOrigin). */
interface Browser {
  key: string;
  client: TestBrowser;
  signIns: number;
}

interface Session {
  /** `<browser key>/<sign-in of that browser>`: the same session in every run of a seed. */
  n: string;
  user: User;
  browser: Browser;
  /** performance.now() when its sign-in began (GET /auth/login) and when the callback answered. */
  startedAt: number;
  createdAt: number;
  sid?: string;
}

interface SignOut {
  user: User;
  path: SignOutPath;
  instance: PairInstance;
  via: Session;
  startedAt: number;
  /** When the whole action ended (the SPA's trip to the IdP included). */
  endedAt: number;
  /** When the request that signed out answered 2xx (the BFF's own time for a back-channel call). */
  completedAt?: number;
  /** A 2xx that found nobody to sign out. */
  noop?: boolean;
  retry?: { outcome: string; signedOut: boolean };
  frontchannelUrl?: string;
}

interface Answer {
  what: string;
  instance: string;
  user?: User;
  session?: Session;
  startedAt: number;
  endedAt: number;
  status: number;
  code?: string;
  retryAfter?: string;
  requestId?: string;
  /** The key the request drew its faults by (x-fault-key), when it had one. */
  faultKey?: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.now();

describe('global sign-out with a failing store, two instances', () => {
  let pair: FaultyPair;
  const plan = new FaultPlan(SEED, STORE_TIMEOUT_MS);
  const users: User[] = [];
  const answers: Answer[] = [];
  const signOuts: SignOut[] = [];
  const violations: string[] = [];
  const harness: string[] = [];
  const counts = new Map<string, number>();
  const bump = (key: string, by = 1) => counts.set(key, (counts.get(key) ?? 0) + by);
  let round = 0;
  const startedAt = Date.now();

  beforeAll(async () => {
    pair = await startFaultyPair({
      rule: (instance, origin) => plan.rule(instance, origin),
      extraUsers: ['carol', 'dave'],
      // A session writes its lastSeen back every 3 s, so many requests of a round write their
      // session; 30 s idle is longer than a round with its checks, which use every session.
      env: { SESSION_IDLE_MINUTES: '0.5' },
    });
    for (const u of pair.users) users.push({ name: u.username, id: u.id, sessions: [], spare: [], browsers: 0 });
  });

  afterAll(async () => {
    await pair?.close();
  });

  const instance = (pick: number) => (pick < 0.5 ? pair.a : pair.b);
  async function browserOf(user: User): Promise<Browser> {
    const spare = user.spare.pop();
    if (spare) return spare;
    const key = `${user.name}${++user.browsers}`;
    const client = new TestBrowser(pair.idp.ca);
    await client.jar.setCookie(`fault-key=${key}`, pair.a.url);
    return { key, client, signIns: 0 };
  }

  async function timed(what: string, inst: PairInstance, session: Session | undefined, send: () => Promise<Response>): Promise<{ answer: Answer; res?: Response }> {
    const start = now();
    let res: Response | undefined;
    let failure: string | undefined;
    try {
      res = await send();
    } catch (err) {
      failure = String(err);
    }
    let code: string | undefined;
    if (res && res.status >= 400 && /json/.test(String(res.headers['content-type']))) code = res.json().error;
    const answer: Answer = {
      what,
      instance: inst.name,
      user: session?.user,
      session,
      startedAt: start,
      endedAt: now(),
      status: res?.status ?? 0,
      code: code ?? failure,
      retryAfter: res?.headers['retry-after'] as string | undefined,
      requestId: res?.headers['x-request-id'] as string | undefined,
    };
    answers.push(answer);
    if (!res) harness.push(`round ${round}: ${what} on ${inst.name} failed to get an answer: ${failure}`);
    return { answer, res };
  }

  /** The token cache entry of a user, opened (undefined when there is none). */
  function tokenCacheOf(user: User): TokenCacheJson | undefined {
    const stored = pair.memory.get(`tokens:${userKey(user.id)}`);
    return stored === undefined ? undefined : JSON.parse(pair.a.bff.sealer.open(JSON.parse(String(stored)).value, user.id));
  }

  function expireAccessTokens(user: User) {
    const key = `tokens:${userKey(user.id)}`;
    const cache = tokenCacheOf(user);
    if (!cache) return false;
    const envelope = JSON.parse(String(pair.memory.get(key)));
    pair.memory.set(key, JSON.stringify({ ...envelope, value: pair.a.bff.sealer.seal(JSON.stringify(withExpiredAccessTokens(cache)), user.id) }));
    return true;
  }

  const secretsOf = (cache: TokenCacheJson | undefined) => new Set([...Object.values(cache?.RefreshToken ?? {}), ...Object.values(cache?.AccessToken ?? {})].map((t) => t.secret));

  async function sidOf(b: Browser, url: string): Promise<string | undefined> {
    const id = await b.client.cookie(url, 'bff.sid');
    const stored = id && pair.memory.get(`sessions:${id}`);
    return stored ? JSON.parse(String(stored)).value?.user?.sid : undefined;
  }

  async function signIn(user: User, inst: PairInstance): Promise<Session | undefined> {
    const b = await browserOf(user);
    const n = `${b.key}/${++b.signIns}`;
    const start = now();
    const { answer, res } = await timed('sign-in', inst, undefined, () => signInAt(b.client, inst.url, user.name));
    answer.startedAt = start;
    answer.user = user;
    if (res?.status === 302 && res.headers.location === `${inst.url}/`) {
      const session: Session = { n, user, browser: b, startedAt: start, createdAt: answer.endedAt, sid: await sidOf(b, inst.url) };
      answer.session = session;
      user.sessions.push(session);
      bump('sign-ins: session made');
      return session;
    }
    bump(`sign-ins: failed (${res?.status ?? 'no answer'} ${answer.code ?? ''})`.trim());
    user.spare.push(b);
    return undefined;
  }

  /** GET /api/me as the SPA calls it; `key` names the request for the fault plan. */
  const api = async (what: string, session: Session, inst: PairInstance, key: string) => {
    const result = await timed(what, inst, session, () => session.browser.client.api(`${inst.url}/api/me`, { headers: { 'x-fault-key': key } }));
    result.answer.faultKey = `${inst.name} ${key}`;
    return result;
  };

  /** The back-channel calls the IdP made to sign `user` out since `since` (its logout token's sub). */
  const backchannelCalls = (user: User, since: number): ServedRequest[] =>
    pair.a.served.filter((r) => r.path === '/auth/backchannel-logout' && r.startedAt >= since && r.body && decodeJwt(new URLSearchParams(r.body).get('logout_token')!).sub === user.id);

  function servedFor(requestId: string | undefined): ServedRequest | undefined {
    return requestId ? [...pair.a.served, ...pair.b.served].find((r) => r.requestId === requestId) : undefined;
  }

  /** One sign-out of `user` by `path`, as its client makes it; then, if it completed, what the user does next. */
  async function signOut(user: User, path: SignOutPath, inst: PairInstance, via: Session, then: { chase: boolean; again?: PairInstance }) {
    const attempt: SignOut = { user, path, instance: inst, via, startedAt: now(), endedAt: 0 };
    signOuts.push(attempt);
    if (path === 'spa') {
      const { answer, res } = await timed('logout (spa)', inst, via, () => via.browser.client.api(`${inst.url}/auth/logout`, { method: 'POST', headers: { 'x-fault-key': `${user.name} logout` } }));
      if (answer.status === 200) {
        attempt.completedAt = answer.endedAt;
        // The SPA goes on to end the IdP session: the IdP then calls the back-channel too.
        try {
          await signOutAtIdp(via.browser.client, res!.json().endSessionUrl);
        } catch {
          bump('spa: end-session at the IdP not reached (the BFF answered an error)');
        }
      }
    } else if (path === 'backchannel') {
      try {
        await signOutAtIdp(via.browser.client, `${pair.idp.issuer}/session/end`);
      } catch (err) {
        harness.push(`round ${round}: sign-out at the IdP failed for ${user.name}: ${String(err)}`);
      }
      const done = backchannelCalls(user, attempt.startedAt).find((r) => r.status === 200);
      if (done) Object.assign(attempt, { completedAt: done.endedAt, noop: !done.signedOut });
    } else {
      const sid = via.sid;
      if (!sid) {
        harness.push(`round ${round}: no sid known for session ${via.n} of ${user.name}`);
      } else {
        attempt.frontchannelUrl = `${inst.url}/auth/frontchannel-logout?iss=${encodeURIComponent(pair.idp.issuer)}&sid=${encodeURIComponent(sid)}`;
        // Loaded as the IdP's hidden iframe is: cross-site, so with no cookie at all.
        const { answer } = await timed('logout (frontchannel)', inst, via, () => new TestBrowser().get(attempt.frontchannelUrl!, { headers: { 'x-fault-key': `${user.name} frontchannel` } }));
        if (answer.status === 200) Object.assign(attempt, { completedAt: answer.endedAt, noop: !servedFor(answer.requestId)?.signedOut });
      }
    }
    attempt.endedAt = now();
    if (attempt.completedAt === undefined) return;
    // Sessions from before the sign-out, right after it, on both instances: never served.
    if (then.chase) {
      const before = user.sessions.filter((s) => s.createdAt < attempt.startedAt).slice(0, 2);
      await Promise.all(before.flatMap((s) => [pair.a, pair.b].map((i) => api('api (after sign-out)', s, i, `${user.name} chase ${s.n}`))));
    }
    if (then.again) {
      const session = await signIn(user, then.again);
      if (session) await api('api', session, then.again, `${user.name} again`);
    }
  }

  /** Waits until both instances have answered everything and the store has been quiet a while. */
  async function settle() {
    const until = Date.now() + 30_000;
    while (pair.instances.some((i) => i.inFlight() > 0) && Date.now() < until) await sleep(20);
    let seen = -1;
    while (Date.now() < until) {
      const calls = pair.a.faults.calls.length + pair.b.faults.calls.length;
      if (calls === seen && pair.instances.every((i) => i.inFlight() === 0)) return;
      seen = calls;
      await sleep(300);
    }
    harness.push(`round ${round}: the instances did not settle within 30 s`);
  }

  /** Completes, with faults off, each sign-out of this round that did not complete, as its client would retry it. */
  async function retryIncomplete(attempts: SignOut[]) {
    for (const attempt of attempts.filter((a) => a.completedAt === undefined)) {
      const { user, path, instance: inst, via } = attempt;
      bump(`sign-outs: ${path}, retried`);
      if (path === 'spa') {
        const { answer } = await timed('logout (spa, retry)', inst, via, () => via.browser.client.api(`${inst.url}/auth/logout`, { method: 'POST' }));
        if (answer.status === 200) {
          attempt.retry = { outcome: '200', signedOut: true };
        } else if (answer.status === 401) {
          // Its session is gone already: the SPA shows signed out and ends the IdP session, whose
          // back-channel call then finishes what the failed sign-out left.
          const since = now();
          await signOutAtIdp(via.browser.client, `${inst.url}/auth/end-session`);
          const done = backchannelCalls(user, since).find((r) => r.status === 200);
          attempt.retry = { outcome: `401, then the IdP's back-channel call ${done ? 200 : 'failed'}`, signedOut: Boolean(done?.signedOut) };
        } else {
          attempt.retry = { outcome: String(answer.status), signedOut: false };
        }
      } else if (path === 'backchannel') {
        const sent = backchannelCalls(user, attempt.startedAt).at(-1);
        const body = sent?.body ?? `logout_token=${await logoutToken(user, via.sid)}`;
        const { answer } = await timed('logout (backchannel, retry)', pair.a, undefined, () =>
          new TestBrowser().post(`${pair.a.url}/auth/backchannel-logout`, { body, headers: { 'content-type': 'application/x-www-form-urlencoded' } }),
        );
        attempt.retry = { outcome: `${sent ? 'the IdP\'s logout token again' : 'a new logout token'}: ${answer.status}`, signedOut: Boolean(servedFor(answer.requestId)?.signedOut) };
      } else if (attempt.frontchannelUrl) {
        const { answer } = await timed('logout (frontchannel, retry)', inst, undefined, () => new TestBrowser().get(attempt.frontchannelUrl!));
        attempt.retry = { outcome: String(answer.status), signedOut: Boolean(servedFor(answer.requestId)?.signedOut) };
      }
      if (!attempt.retry || !/200/.test(attempt.retry.outcome)) harness.push(`round ${round}: the retry of ${user.name}'s ${path} sign-out did not complete: ${attempt.retry?.outcome}`);
    }
  }

  /** A logout token as the dev IdP signs one: for a retry when the IdP's own never arrived. */
  async function logoutToken(user: User, sid: string | undefined): Promise<string> {
    const key = pair.idp.signingKey;
    const t = Math.floor(Date.now() / 1000);
    return new SignJWT({ sub: user.id, ...(sid ? { sid } : {}), jti: randomUUID(), events: { 'http://schemas.openid.net/event/backchannel-logout': {} } })
      .setProtectedHeader({ alg: 'RS256', kid: key.kid!, typ: 'logout+jwt' })
      .setIssuer(pair.idp.issuer)
      .setAudience(pair.idp.clientId)
      .setIssuedAt(t)
      .setExpirationTime(t + 120)
      .sign(await importJWK(key, 'RS256'));
  }

  /** /api/me on A then B, faults off; a 503 is retried after its Retry-After, as the SPA would. */
  async function served(session: Session): Promise<number[]> {
    const statuses: number[] = [];
    for (const inst of [pair.a, pair.b]) {
      let answer: Answer;
      for (let tries = 0; ; tries++) {
        ({ answer } = await timed('check', inst, session, () => session.browser.client.api(`${inst.url}/api/me`)));
        if (answer.status !== 503 || tries >= 20) break;
        await sleep(1000);
      }
      statuses.push(answer.status);
    }
    return statuses;
  }

  let roundStart = 0;
  /** What a user's clients did this round, for a violation's evidence (ms since the round began). */
  function timeline(user: User, roundAnswers: Answer[]): string {
    const ms = (t: number) => Math.round(t - roundStart);
    const lines = roundAnswers
      .filter((a) => a.user === user)
      .map((a) => {
        const failure = a.status >= 500 ? servedFor(a.requestId)?.failure : undefined;
        const faults = a.faultKey ? plan.byRequest.get(`${round} ${a.faultKey}`) : undefined;
        return `${ms(a.startedAt)}–${ms(a.endedAt)} ${a.what}${a.session ? ` #${a.session.n}` : ''} on ${a.instance}: ${a.status}${a.code ? ` ${a.code}` : ''}${faults ? ` [faults: ${faults.join(', ')}]` : ''}${failure ? ` (logged: ${failure})` : ''}`;
      });
    const calls = pair.a.served.filter((r) => r.path === '/auth/backchannel-logout' && r.startedAt >= roundStart && r.body && decodeJwt(new URLSearchParams(r.body).get('logout_token')!).sub === user.id);
    lines.push(...calls.map((r) => `${ms(r.startedAt)}–${ms(r.endedAt)} back-channel call from the IdP on A: ${r.status}${r.signedOut ? ' (signed out)' : ''}${r.failure ? ` ${r.failure}` : ''}`));
    return `\n      ${lines.sort((x, y) => parseInt(x) - parseInt(y)).join('\n      ')}`;
  }

  /** The invariant, after the round, with faults off and every sign-out completed. */
  async function check(attempts: SignOut[], before: Map<User, Set<string>>, roundAnswers: Answer[]) {
    // 1. No 500; a 503 is a store that failed, said so, with Retry-After. Every request either
    // instance served counts, the IdP's back-channel calls (which no client here sees) too.
    for (const a of roundAnswers) {
      if (a.status >= 500 && !(a.status === 503 && a.code === 'store_unavailable' && a.retryAfter)) {
        violations.push(`round ${round}: ${a.what} on ${a.instance} answered ${a.status} ${a.code ?? ''} (Retry-After: ${a.retryAfter ?? 'none'}; request ${a.requestId}: ${servedFor(a.requestId)?.failure ?? ''})`);
      }
    }
    const seenByClients = new Set(roundAnswers.map((a) => a.requestId));
    for (const r of [...pair.a.served, ...pair.b.served]) {
      if (r.startedAt >= roundStart && !seenByClients.has(r.requestId) && r.status >= 500 && !(r.status === 503 && r.failure?.startsWith('store_unavailable'))) {
        violations.push(`round ${round}: ${r.method} ${r.path} on ${r.instance} (not from a client of the test) answered ${r.status}: ${r.failure ?? ''}`);
      }
    }
    // 2. Nothing started after a completed sign-out is served on a session from before it.
    for (const o of attempts.filter((o) => o.completedAt !== undefined)) {
      for (const a of roundAnswers) {
        if (a.session?.user === o.user && a.status === 200 && a.what.startsWith('api') && a.session.createdAt < o.startedAt && a.startedAt > o.completedAt!) {
          violations.push(`round ${round}: ${a.what} on ${a.instance} with ${o.user.name}'s session ${a.session.n} (made before the ${o.path} sign-out) was served ${(a.startedAt - o.completedAt!).toFixed(0)} ms after that sign-out completed`);
        }
      }
    }
    // 3 and 4. Every session is where its history says it must be, on both instances.
    for (const user of users) {
      const o = attempts.find((a) => a.user === user);
      for (const s of [...user.sessions]) {
        let expected: 'live' | 'dead' | 'either';
        if (!o) expected = 'live';
        else if (o.retry?.signedOut) expected = 'dead'; // a sign-out after every sign-in of the round
        else if (s.createdAt < o.startedAt) expected = 'dead';
        else if (!o.retry && s.startedAt > o.endedAt) expected = 'live';
        else expected = 'either';
        const statuses = await served(s);
        const seen = statuses.every((x) => x === 200) ? 'live' : statuses.every((x) => x === 401) ? 'dead' : `A ${statuses[0]}, B ${statuses[1]}`;
        bump(`checks: ${expected === 'either' ? `raced a sign-out, found ${seen}` : `expected ${expected}`}`);
        if (expected !== 'either' && seen !== expected) {
          const why = o ? `${o.path} sign-out on ${o.instance.name} ${o.completedAt !== undefined ? 'completed' : `retried (${o.retry?.outcome})`}` : 'no sign-out';
          violations.push(`round ${round}: ${user.name}'s session ${s.n}: expected ${expected}, found ${seen}; ${why}${timeline(user, roundAnswers)}`);
        } else if (expected === 'either' && seen !== 'live' && seen !== 'dead') {
          violations.push(`round ${round}: ${user.name}'s session ${s.n} (raced the sign-out) is served on one instance and not the other: ${seen}`);
        }
        if (seen !== 'live') {
          user.sessions.splice(user.sessions.indexOf(s), 1);
          user.spare.push(s.browser);
        }
      }
      if (!o) continue;
      // 3. No token of the user is left; after a new sign-in (even one that failed after its code
      // redemption stored the new tokens), none from before the sign-out.
      let cache = tokenCacheOf(user);
      const signedInSince = roundAnswers.some((a) => a.user === user && a.what === 'sign-in' && a.endedAt > o.startedAt);
      if (user.sessions.length === 0 && cache && !signedInSince) {
        const until = Date.now() + 20_000;
        while (cache && Date.now() < until) {
          await sleep(100);
          cache = tokenCacheOf(user);
        }
        violations.push(
          cache
            ? `round ${round}: ${user.name} signed out (${o.path}) and has no session, but a token cache entry is left (20 s later still)${timeline(user, roundAnswers)}`
            : `round ${round}: ${user.name} signed out (${o.path}) and has no session, but a token cache entry was left after the round (removed later, in the background)${timeline(user, roundAnswers)}`,
        );
      } else if (user.sessions.length === 0 && cache) {
        bump('tokens: entry left by a sign-in that failed after the sign-out (new tokens, no session)');
      }
      const old = [...secretsOf(cache)].filter((secret) => before.get(user)?.has(secret));
      if (old.length > 0) violations.push(`round ${round}: ${user.name} signed out (${o.path}); the entry now holds ${old.length} token(s) from before the sign-out${timeline(user, roundAnswers)}`);
    }
  }

  it(`holds the invariant through ${ROUNDS} rounds of faults (seed from FAULT_SEED)`, async () => {
    try {
      for (round = 1; round <= ROUNDS; round++) {
        plan.round = round;
        const draw = plan.script(`round ${round}`);
        const pick = <T>(list: readonly T[]) => list[Math.floor(draw() * list.length)]!;
        const live = new Map(users.map((u) => [u, [...u.sessions]]));

        // The round's script, drawn before anything runs.
        const candidates = users.filter((u) => live.get(u)!.length > 0);
        const signers = new Map<User, SignOutPath>();
        // The first sign-out of a round takes each path in turn; a second one, any path.
        if (candidates.length > 0) signers.set(pick(candidates), PATHS[(round + SEED) % PATHS.length]!);
        if (candidates.length > 2 && draw() < 0.5) {
          const second = pick(candidates);
          if (!signers.has(second)) signers.set(second, pick(PATHS));
        }
        const before = new Map<User, Set<string>>();
        const tasks: (() => Promise<unknown>)[] = [];
        const at = (ms: number, task: () => Promise<unknown>) => tasks.push(() => sleep(ms).then(task));
        for (const user of users) {
          const sessions = live.get(user)!;
          if (sessions.length > 0 && draw() < 0.5 && expireAccessTokens(user)) bump('refreshes: forced (access tokens expired before the round)');
          if (signers.has(user)) before.set(user, secretsOf(tokenCacheOf(user)));
          const calls = sessions.length > 0 ? 2 + Math.floor(draw() * 4) : 0;
          for (let i = 0; i < calls; i++) {
            const [s, inst, ms] = [pick(sessions), instance(draw()), draw() * 2500];
            at(ms, () => api('api', s, inst, `${user.name} api ${i}`));
          }
          const path = signers.get(user);
          if (path) {
            const [inst, via, ms] = [instance(draw()), pick(sessions), 200 + draw() * 1300];
            const [chase, again, racing] = [draw() < 0.7, draw() < 0.5 ? instance(draw()) : undefined, draw() < 0.35];
            at(ms, () => signOut(user, path, inst, via, { chase, again }));
            const [raceAt, raceOn] = [Math.max(0, ms + (draw() - 0.5) * 800), instance(draw())];
            if (racing && sessions.length < 3) at(raceAt, () => signIn(user, raceOn));
          } else if (sessions.length === 0 || (sessions.length < 3 && draw() < 0.5)) {
            const [inst, ms, then] = [instance(draw()), draw() * 2000, instance(draw())];
            at(ms, async () => {
              const s = await signIn(user, inst);
              if (s) await api('api', s, then, `${user.name} new`);
            });
          }
        }

        const fromAnswer = answers.length;
        const fromSignOut = signOuts.length;
        plan.enabled = true;
        roundStart = now();
        await Promise.all(tasks.map((task) => task().catch((err) => harness.push(`round ${round}: ${String(err)}`))));
        plan.enabled = false;
        await settle();
        const attempts = signOuts.slice(fromSignOut);
        for (const o of attempts) bump(`sign-outs: ${o.path}, ${o.completedAt !== undefined ? (o.noop ? 'completed, found nobody to sign out' : 'completed') : 'not completed under faults'}`);
        await retryIncomplete(attempts);
        await settle();
        await check(attempts, before, answers.slice(fromAnswer));
      }
    } finally {
      report();
    }
    expect(harness).toEqual([]);
    expect(violations).toEqual([]);
    // The rounds did what they are for.
    for (const path of PATHS) expect(signOuts.filter((o) => o.path === path).length, `${path} sign-outs`).toBeGreaterThan(0);
    expect(signOuts.filter((o) => o.completedAt !== undefined).length).toBeGreaterThan(0);
    expect(plan.injected.latency + plan.injected.timeout).toBeGreaterThan(0);
    expect(plan.injected.error).toBeGreaterThan(0);
    expect(plan.injected.hang).toBeGreaterThan(0);
    expect(pair.grants.filter((g) => g.grantType === 'refresh_token').length).toBeGreaterThan(0);
  }, 300_000);

  function report() {
    const table: [string, number | string][] = [['seed', plan.seed], ['rounds', round > ROUNDS ? ROUNDS : round], ['seconds', ((Date.now() - startedAt) / 1000).toFixed(1)]];
    const byStatus = new Map<string, number>();
    for (const a of answers) {
      const label = `answers: ${a.what} ${a.status}${a.code ? ` ${a.code}` : ''}`;
      byStatus.set(label, (byStatus.get(label) ?? 0) + 1);
    }
    const fromClients = new Set(answers.map((a) => a.requestId));
    for (const r of pair.a.served) {
      const label = `answers: back-channel call from the IdP ${r.status}`;
      if (r.path === '/auth/backchannel-logout' && !fromClients.has(r.requestId)) byStatus.set(label, (byStatus.get(label) ?? 0) + 1);
    }
    table.push(...[...byStatus].sort());
    for (const [kind, n] of Object.entries(plan.injected)) table.push([`faults: ${kind}`, n]);
    for (const [call, row] of [...plan.byStore].sort()) table.push([`faults: ${call}`, Object.entries(row).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(', ')]);
    table.push(...[...counts].sort());
    table.push(['refreshes: refresh grants at the IdP', pair.grants.filter((g) => g.grantType === 'refresh_token').length]);
    table.push(['refreshes: refused grants at the IdP', pair.grantErrors.length]);
    const unchecked = pair.instances.flatMap((i) => i.events).filter((e) => e.event === 'token_cache.write_unchecked').length;
    table.push(['log: token_cache.write_unchecked', unchecked]);
    table.push(['violations', violations.length], ['harness errors', harness.length]);
    const width = Math.max(...table.map(([k]) => k.length));
    console.log(
      [`fault injection, FAULT_SEED=${plan.seed}`, ...table.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`), ...violations.map((v) => `  VIOLATION ${v}`), ...harness.map((h) => `  HARNESS ${h}`)].join('\n'),
    );
  }
});
