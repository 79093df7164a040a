import http from 'node:http';
import { userKey } from '../../server/stores/user-slot';
import { restoreUser, type CapturedUser, type Redis } from './seed';

const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

interface Answer {
  status: number;
  startedAt: number;
  endedAt: number;
}

function call(url: string, method: string, headers: Record<string, string>): Promise<Answer> {
  const startedAt = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent, timeout: 10_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, startedAt, endedAt: performance.now() }));
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${url} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

export const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
};

export interface SignOutOptions {
  redis: Redis;
  prefix: string;
  /** The user as a real sign-in left it in Redis (every session, tokens, bookkeeping). */
  user: CapturedUser;
  /** Cookie header of each of the user's sessions, in the order of user.sessionIds. */
  cookies: string[];
  /** The instance that receives the sign-out, and another one on the same Redis. */
  a: string;
  b: string;
  samples: number;
  propagationSamples: number;
}

export interface SignOutResult {
  sessions: number;
  samples: number;
  latencyMs: { p50: number; p99: number; max: number };
  /** B's first call after A's sign-out returned: rejected (401) in every sample? */
  rejectedOnBAfterReturn: { rejected: number; of: number };
  /** With B polled back to back during the sign-out: when B first rejected, from the sign-out's start. */
  propagation: { samples: number; rejectMsFromStart: { p50: number; p99: number; max: number }; beforeAReturned: number; acceptedAfterReturn: number };
  tokensLeft: number;
}

/**
 * Global sign-out of a user with several sessions, started from the SPA at instance A, over and
 * over: before each sample the user's keys are put back exactly as the real sign-ins left them.
 */
export async function measureSignOut(o: SignOutOptions): Promise<SignOutResult> {
  const tokensKey = `${o.prefix}tokens:${userKey(o.user.homeAccountId)}`;
  const signOut = () => call(`${o.a}/auth/logout`, 'POST', { cookie: o.cookies[0]!, 'x-csrf': '1', accept: 'application/json' });
  const apiOnB = (cookie: string) => call(`${o.b}/api/me`, 'GET', { cookie, 'x-csrf': '1', accept: 'application/json' });

  // Warm both instances' paths once (JIT, connections) before measuring.
  for (let i = 0; i < 20; i++) {
    await restoreUser(o.redis, o.prefix, o.user);
    await apiOnB(o.cookies[1]!);
    await signOut();
  }

  const latencies: number[] = [];
  let rejected = 0;
  let tokensLeft = 0;
  for (let i = 0; i < o.samples; i++) {
    await restoreUser(o.redis, o.prefix, o.user);
    const out = await signOut();
    if (out.status !== 200) throw new Error(`sign-out answered ${out.status}`);
    latencies.push(out.endedAt - out.startedAt);
    if ((await apiOnB(o.cookies[1 + (i % (o.cookies.length - 1))]!)).status === 401) rejected++;
    tokensLeft += await o.redis.exists(tokensKey);
  }

  const rejectTimes: number[] = [];
  let beforeAReturned = 0;
  let acceptedAfterReturn = 0;
  for (let i = 0; i < o.propagationSamples; i++) {
    await restoreUser(o.redis, o.prefix, o.user);
    const cookie = o.cookies[1 + (i % (o.cookies.length - 1))]!;
    const answers: Answer[] = [];
    let started!: () => void;
    const firstAnswer = new Promise<void>((r) => (started = r));
    const poller = (async () => {
      // Back to back until B rejects the session; bounded in count.
      for (let n = 0; n < 2000; n++) {
        const answer = await apiOnB(cookie);
        answers.push(answer);
        started();
        if (answer.status !== 200) return;
      }
    })();
    await firstAnswer;
    const out = await signOut();
    await poller;
    const firstReject = answers.find((x) => x.status === 401);
    if (out.status !== 200 || !firstReject || answers.some((x) => x.status !== 200 && x.status !== 401)) {
      throw new Error(`propagation sample ${i}: sign-out ${out.status}, B answered ${[...new Set(answers.map((x) => x.status))].join(',')}`);
    }
    rejectTimes.push(firstReject.endedAt - out.startedAt);
    if (firstReject.endedAt <= out.endedAt) beforeAReturned++;
    acceptedAfterReturn += answers.filter((x) => x.startedAt > out.endedAt && x.status === 200).length;
  }

  const r2 = (n: number) => Math.round(n * 100) / 100;
  const stats = (v: number[]) => ({ p50: r2(percentile(v, 50)), p99: r2(percentile(v, 99)), max: r2(Math.max(...v)) });
  return {
    sessions: o.user.sessionIds.length,
    samples: o.samples,
    latencyMs: stats(latencies),
    rejectedOnBAfterReturn: { rejected, of: o.samples },
    propagation: { samples: o.propagationSamples, rejectMsFromStart: stats(rejectTimes), beforeAReturned, acceptedAfterReturn },
    tokensLeft,
  };
}

export const closeSignOutAgent = () => agent.destroy();
