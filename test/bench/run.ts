/**
 * `npm run bench`: the BFF against the floor (a bare Koa proxy with one fixed token) and the
 * sample API itself, in-memory and on Redis, with 1, 10,000 and 100,000 users present, and the
 * latency of a global sign-out across two instances. Prints a table and writes
 * test/bench/results/<time>.json. Needs Redis (REDIS_TEST_URL, default redis://127.0.0.1:6379):
 * without it the run stops at once and says so. `-- --profile` also writes V8 CPU profiles of
 * the BFF processes (test/bench/results/profiles/; summarize with test/bench/profile.ts).
 * The full run ends with the comparison against the products a user would pick instead
 * (test/bench/peers/): Apache httpd with mod_proxy and with mod_auth_openidc, Express with
 * express-openid-connect; `-- --peers` runs only that.
 */
import { randomBytes } from 'node:crypto';
import { userKey } from '../../server/stores/user-slot';
import { mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { TestBrowser } from '../support/browser';
import { Child, freePort, startBffProcess, startIdpProcess, testSealer } from '../support/processes';
import { REDIS_TEST_URL } from '../support/redis';
import { signInAt } from '../support/stack';
import { drive, round, type LoadResult } from './load';
import { cpuMs, startScript } from './processes';
import { captureUser, connectRedis, deletePrefix, seedUsers, syntheticUsers, type Redis } from './seed';
import { measureRefreshRates, refreshTable, type RefreshRate } from './refresh-rate';
import { closeSignOutAgent, measureSignOut, type SignOutResult } from './sign-out';
import { peersTable, runPeers, type PeersReport } from './peers/run-peers';

const PROFILE = process.argv.includes('--profile');
/** Throughput scenarios only (no sign-out, no seeded users): for profiling iterations. */
const QUICK = process.argv.includes('--quick');
/** Only the refresh-rate measurement (`npm run bench -- --refresh`). */
const REFRESH_ONLY = process.argv.includes('--refresh');
/** Only the comparison with the peers (`npm run bench -- --peers`). */
const PEERS_ONLY = process.argv.includes('--peers');
/** Rounds of the peers comparison (medians over them). */
const PEERS_ROUNDS = Number(process.env.BENCH_PEERS_ROUNDS ?? 7);
/** Rounds of the peers' equal-load latency phase (each target at one offered rate). */
const PEERS_LATENCY_ROUNDS = Number(process.env.BENCH_PEERS_LATENCY_ROUNDS ?? 3);
/** Access token lifetimes (s) whose refresh rate is measured, and for how long each (s). */
const REFRESH_LIFETIMES = [60, 120, 300, 3600];
const REFRESH_SECONDS = Number(process.env.BENCH_REFRESH_SECONDS ?? 60);
const CONNECTIONS = 10;
const DURATION_S = Number(process.env.BENCH_DURATION ?? 5);
const WARMUP_S = 4;
const ROUNDS = 2;
/** One signed-in session per connection; the sign-out user has as many. */
const SESSIONS = 10;
const USERS_MEDIUM = 10_000;
const USERS_LARGE = 100_000;
const BYTES_PER_USER = 7 * 1024;
const RESULTS = path.resolve('test/bench/results');

interface Scenario extends LoadResult {
  id: string;
  label: string;
  /** CPU time per request (µs) of each process involved, measured over the run. */
  cpuUsPerRequest: Record<string, number | undefined>;
  /** Redis commands per request over the run (the BFF's store round trips; 0 for the others). */
  redisCommandsPerRequest: Record<string, number>;
  /** Requests/s of every round; the figures above are the best round's. */
  rounds: number[];
  ratioToBare?: number;
  ratioToOneUser?: number;
}

const log = (line: string) => process.stdout.write(`${line}\n`);

async function redisReachable(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = net.connect({ host: hostname, port: Number(port || 6379) });
    socket.setTimeout(1000);
    socket.once('connect', () => (socket.end(), resolve(true)));
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => (socket.destroy(), resolve(false)));
  });
}

function machine() {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    memoryGiB: round(os.totalmem() / 2 ** 30, 1),
    loadAverageAtStart: os.loadavg().map((l) => round(l)),
  };
}

async function refreshRates(): Promise<RefreshRate[]> {
  log(`\nRefresh grants per minute: one user, 10 API calls a second for ${REFRESH_SECONDS} s, at access token lifetimes of ${REFRESH_LIFETIMES.join(', ')} s…`);
  const rates = await measureRefreshRates(REFRESH_LIFETIMES, REFRESH_SECONDS);
  log(`\n${refreshTable(rates)}\n`);
  return rates;
}

/** The peers comparison; its table is printed at once when it is all the run does, else with the others at the end. */
async function peers(redis: Redis): Promise<PeersReport> {
  log(`\nThe peers: our BFF against Apache httpd (mod_proxy; mod_auth_openidc) and Express + express-openid-connect…`);
  const report = await runPeers({ redis, redisUrl: REDIS_TEST_URL, connections: CONNECTIONS, durationSeconds: DURATION_S, warmupSeconds: WARMUP_S, rounds: PEERS_ROUNDS, latencyRounds: PEERS_LATENCY_ROUNDS, log });
  if (PEERS_ONLY) log(`\n${peersTable(report)}\n`);
  if (!report.allAnswersChecked) process.exitCode = 1;
  return report;
}

function writeReport(report: Record<string, unknown> & { date: string }) {
  mkdirSync(RESULTS, { recursive: true });
  const file = path.join(RESULTS, `bench-${report.date.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(path.join(RESULTS, 'latest.json'), `${JSON.stringify(report, null, 2)}\n`);
  return file;
}

async function main() {
  const startedAt = Date.now();
  const host = machine();
  log(`Machine: ${host.cpus} CPUs (${host.cpuModel}), Node ${host.node}, ${host.platform}, ${host.memoryGiB} GiB`);
  if (REFRESH_ONLY) {
    await refreshRates();
    return;
  }
  if (host.loadAverageAtStart[0]! > host.cpus / 2) {
    log(`Note: the machine is already busy (load average ${host.loadAverageAtStart[0]}): the figures will be lower and noisier.`);
  }
  if (!(await redisReachable(REDIS_TEST_URL))) {
    log(`\nRedis is not reachable at ${REDIS_TEST_URL}: the benchmark stops here (its Redis scenarios are`);
    log('half of what it measures, and the bare proxy takes its token from the Redis token cache).');
    log('Start one: redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no');
    process.exitCode = 2;
    return;
  }
  const redis = await connectRedis(REDIS_TEST_URL);
  const redisVersion = /redis_version:(\S+)/.exec(await redis.info('server'))?.[1] ?? 'unknown';
  if (PEERS_ONLY) {
    try {
      const report = { date: new Date(startedAt).toISOString(), machine: { ...host, redis: redisVersion }, peers: await peers(redis), totalSeconds: 0, loadAverageAtEnd: [] as number[] };
      report.totalSeconds = Math.round((Date.now() - startedAt) / 1000);
      report.loadAverageAtEnd = os.loadavg().map((l) => round(l));
      log(`Results: ${path.relative(process.cwd(), writeReport(report))} (${report.totalSeconds} s in all)`);
    } finally {
      await redis.close().catch(() => {});
    }
    return;
  }
  const prefix = `bench-${randomBytes(4).toString('hex')}:`;
  const children: Child[] = [];
  const profileDir = path.join(RESULTS, 'profiles');
  let finished: { report: Record<string, unknown> & { date: string; totalSeconds: number; loadAverageAtEnd: number[] }; refreshes?: RefreshRate[]; printed: string } | undefined;
  try {
    // --- processes: dev IdP, sample API, three BFF instances (memory; A and B on one Redis) ---
    const [portMem, portA, portB] = [await freePort(), await freePort(), await freePort()];
    const origins = [portMem, portA, portB].map((p) => `http://localhost:${p}`);
    const idp = await startIdpProcess(origins);
    children.push(idp.child);
    const api = await startScript('sample-api', 'test/bench/servers/sample-api.ts', { BENCH_ISSUER: idp.issuer, BENCH_CA_FILE: idp.caFile });
    children.push(api.child);
    if (PROFILE) mkdirSync(profileDir, { recursive: true });
    const flags = (label: string) => (PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=bff-${label}-${Date.now()}.cpuprofile`] : []);
    const onApi = { API_BASE_URL: api.url };
    const onRedis = { ...onApi, REDIS_URL: REDIS_TEST_URL, REDIS_KEY_PREFIX: prefix };
    const [mem, a, b] = await Promise.all([
      startBffProcess(portMem, idp, onApi, flags('memory')),
      startBffProcess(portA, idp, onRedis, flags('redis-a')),
      startBffProcess(portB, idp, onRedis, flags('redis-b')),
    ]);
    children.push(mem.child, a.child, b.child);
    log(`Redis ${redisVersion} at ${REDIS_TEST_URL}, keys under ${prefix}; ${CONNECTIONS} connections, ${WARMUP_S} s warm-up + ${DURATION_S} s per scenario`);

    // --- real sign-ins through the dev IdP: one browser (one IdP session) per BFF session ---
    const signInMany = async (url: string, username: string, count: number) => {
      const cookies: string[] = [];
      for (let i = 0; i < count; i++) {
        const browser = new TestBrowser(idp.ca);
        await signInAt(browser, url, username);
        cookies.push(`bff.sid=${await browser.cookie(url, 'bff.sid')}; bff.sid.sig=${await browser.cookie(url, 'bff.sid.sig')}`);
      }
      return cookies;
    };
    const aliceOnMem = await signInMany(mem.url, 'alice', SESSIONS);
    const aliceOnA = await signInMany(a.url, 'alice', SESSIONS);
    const bobOnA = await signInMany(a.url, 'bob', SESSIONS);
    const who = await fetch(`${a.url}/api/me`, { headers: { cookie: aliceOnA[0]!, 'x-csrf': '1' } });
    if (who.status !== 200) throw new Error(`the BFF's /api/me answered ${who.status} after sign-in`);
    const aliceId = String(((await who.json()) as { sub: string }).sub);
    const bobWho = await fetch(`${a.url}/api/me`, { headers: { cookie: bobOnA[0]!, 'x-csrf': '1' } });
    const bobId = String(((await bobWho.json()) as { sub: string }).sub);

    // The bare proxy's fixed token: alice's access token, from her sealed token cache entry.
    const sealer = testSealer();
    const sealed = JSON.parse((await redis.get(`${prefix}tokens:${userKey(aliceId)}`))!).value as string;
    const cache = JSON.parse(sealer.open(sealed, aliceId)) as { AccessToken: Record<string, { secret: string; target: string }> };
    const token = Object.values(cache.AccessToken).find((t) => t.target.includes('api://sample-api/'))!.secret;
    const bare = await startScript('bare-proxy', 'test/bench/servers/bare-proxy.ts', { BENCH_UPSTREAM: api.url }, token);
    children.push(bare.child);

    // --- throughput ---
    const scenarios: Scenario[] = [];
    const redisCpuMs = async () => {
      const info = await redis.info('cpu');
      return (Number(/used_cpu_user:([\d.]+)/.exec(info)?.[1]) + Number(/used_cpu_sys:([\d.]+)/.exec(info)?.[1])) * 1000;
    };
    interface Spec {
      id: string;
      label: string;
      url: string;
      target: Child;
      headers: Record<string, string>;
      perConnection?: Record<string, string>[];
    }
    const measureOnce = async ({ id, label, url, target, headers, perConnection }: Spec, warmupSeconds: number): Promise<Scenario> => {
      // CPU time of each process over the measured run: where a request's cost goes.
      const probes: Record<string, () => number | undefined | Promise<number>> = {
        [target === api.child ? 'sampleApi' : 'proxy']: () => cpuMs(target.proc.pid),
        ...(target === api.child ? {} : { sampleApi: () => cpuMs(api.child.proc.pid) }),
        loadGenerator: () => (process.cpuUsage().user + process.cpuUsage().system) / 1000,
        redis: redisCpuMs,
      };
      const before: Record<string, number | undefined> = {};
      const spent: Record<string, number | undefined> = {};
      const commands = async () => Object.fromEntries([...(await redis.info('commandstats')).matchAll(/cmdstat_(\w+):calls=(\d+)/g)].map((m) => [m[1]!, Number(m[2])]));
      let commandsBefore: Record<string, number> = {};
      let commandsAfter: Record<string, number> = {};
      const result = await drive(
        { url, headers, perConnection, connections: CONNECTIONS, durationSeconds: DURATION_S, warmupSeconds },
        {
          start: async () => {
            commandsBefore = await commands();
            for (const [name, probe] of Object.entries(probes)) before[name] = await probe();
          },
          stop: async () => {
            commandsAfter = await commands();
            for (const [name, probe] of Object.entries(probes)) {
              const now = await probe();
              spent[name] = now === undefined || before[name] === undefined ? undefined : now - before[name]!;
            }
          },
        },
      );
      if (result.failures > 0) throw new Error(`${label}: ${result.failures} failed requests (${JSON.stringify(result.statusCodes)})`);
      const cpuUsPerRequest = Object.fromEntries(Object.entries(spent).map(([k, ms]) => [k, ms === undefined ? undefined : Math.round((ms * 1000) / result.requests)]));
      // INFO itself and the probes' own calls are not the BFF's.
      const redisCommandsPerRequest = Object.fromEntries(
        Object.entries(commandsAfter)
          .filter(([name]) => name !== 'info')
          .map(([name, calls]) => [name, round((calls - (commandsBefore[name] ?? 0)) / result.requests)])
          .filter(([, perRequest]) => (perRequest as number) > 0),
      );
      return { id, label, ...result, cpuUsPerRequest, redisCommandsPerRequest, rounds: [] };
    };
    /**
     * Each target of a group in turn, ROUNDS times (warm-up before the first round only); a
     * scenario's figures are those of its best round. On a shared machine other work only ever
     * lowers a round, and taking turns spreads it over the targets instead of one of them.
     */
    const runGroup = async (...specs: Spec[]): Promise<Scenario[]> => {
      const results: Scenario[][] = specs.map(() => []);
      for (let round = 0; round < ROUNDS; round++) {
        for (const [i, spec] of specs.entries()) results[i]!.push(await measureOnce(spec, round === 0 ? WARMUP_S : 0));
      }
      return results.map((all) => {
        const best = all.reduce((a, b) => (b.requestsPerSecond > a.requestsPerSecond ? b : a));
        const scenario: Scenario = { ...best, rounds: all.map((r) => r.requestsPerSecond) };
        scenarios.push(scenario);
        const cpu = Object.entries(best.cpuUsPerRequest).map(([k, us]) => `${k} ${us ?? '?'}`).join(', ');
        const rc = Object.entries(best.redisCommandsPerRequest).map(([k, n]) => `${k} ${n}`).join(', ') || 'none';
        log(`  ${best.label}: ${best.requestsPerSecond} req/s (rounds: ${scenario.rounds.join(', ')}), p50 ${best.latencyMs.p50} ms, p99 ${best.latencyMs.p99} ms; CPU µs/request: ${cpu}; Redis commands/request: ${rc}`);
        return scenario;
      });
    };
    const spa = { 'x-csrf': '1', accept: 'application/json' };
    const sessionsOf = (cookies: string[]) => cookies.map((cookie) => ({ cookie }));
    log('Throughput (GET /api/me → sample API GET /me):');
    const onA = (id: string, label: string): Spec => ({ id, label, url: `${a.url}/api/me`, target: a.child, headers: spa, perConnection: sessionsOf(aliceOnA) });
    const [, floor, , oneUser] = await runGroup(
      { id: 'sample-api', label: 'sample API alone (fixed token)', url: `${api.url}/me`, target: api.child, headers: { authorization: `Bearer ${token}`, accept: 'application/json' } },
      { id: 'bare-proxy', label: 'bare Koa proxy (fixed token)', url: `${bare.url}/api/me`, target: bare.child, headers: { accept: 'application/json' } },
      { id: 'bff-memory', label: 'BFF, in-memory stores', url: `${mem.url}/api/me`, target: mem.child, headers: spa, perConnection: sessionsOf(aliceOnMem) },
      onA('bff-redis', 'BFF, Redis (1 user present)'),
    );
    if (!floor || !oneUser) throw new Error('a throughput scenario is missing');

    // --- global sign-out: bob, 10 sessions, signed out at A while B holds his sessions ---
    let signOut: SignOutResult | undefined;
    let medium: Scenario | undefined;
    let large: Scenario | undefined;
    const seeding: Record<string, number | string> = {};
    if (!QUICK) {
      log(`Global sign-out of a user with ${SESSIONS} sessions (SPA path at A; B on the same Redis):`);
      const bob = await captureUser(redis, prefix, bobId);
      signOut = await measureSignOut({ redis, prefix, user: bob, cookies: reorder(bob.sessionIds, bobOnA), a: a.url, b: b.url, samples: 300, propagationSamples: 100 });
      log(`  sign-out: p50 ${signOut.latencyMs.p50} ms, p99 ${signOut.latencyMs.p99} ms (${signOut.samples} samples)`);
      log(`  B rejects the old session ${signOut.propagation.rejectMsFromStart.p50} ms (p50) / ${signOut.propagation.rejectMsFromStart.p99} ms (p99) after the sign-out started`);

      // --- many users present: synthetic users shaped like alice, sealed and enveloped as the BFF does ---
      log('Users present (Redis):');
      const alice = await captureUser(redis, prefix, aliceId);
      const synthetic = syntheticUsers(alice, prefix, sealer, BYTES_PER_USER);
      seeding.bytesPerUser = synthetic.bytesPerUser;
      const seedTo = async (users: number, already: number) => {
        const t = performance.now();
        await seedUsers(redis, synthetic.make, already, users - already);
        const seconds = round((performance.now() - t) / 1000, 1);
        seeding[`to${users}Seconds`] = seconds;
        log(`  seeded ${users - already} users in ${seconds} s (${synthetic.bytesPerUser} bytes each)`);
      };
      await seedTo(USERS_MEDIUM, 1);
      await checkSeededUser(a.url, synthetic.make(USERS_MEDIUM * 10), redis, sealer, prefix);
      [medium] = await runGroup(onA('bff-redis-10k', `BFF, Redis, ${USERS_MEDIUM.toLocaleString('en')} users present`));
      await seedTo(USERS_LARGE, USERS_MEDIUM);
      [large] = await runGroup(onA('bff-redis-100k', `BFF, Redis, ${USERS_LARGE.toLocaleString('en')} users present`));
      seeding.redisUsedMemory = /used_memory_human:(\S+)/.exec(await redis.info('memory'))?.[1] ?? '';
    }

    for (const s of scenarios) if (s.id.startsWith('bff')) s.ratioToBare = round(s.requestsPerSecond / floor.requestsPerSecond);
    for (const s of [oneUser, medium, large]) if (s) s.ratioToOneUser = round(s.requestsPerSecond / oneUser.requestsPerSecond);

    const memory = scenarios.find((s) => s.id === 'bff-memory')!;
    const targets = [
      { target: 'BFF (in-memory) / bare proxy ≥ 0.8', value: memory.ratioToBare!, met: memory.ratioToBare! >= 0.8 },
      { target: 'BFF (Redis) / bare proxy ≥ 0.6', value: oneUser.ratioToBare!, met: oneUser.ratioToBare! >= 0.6 },
      ...(large ? [{ target: '100,000 users / 1 user ≥ 0.95', value: large.ratioToOneUser!, met: large.ratioToOneUser! >= 0.95 }] : []),
      ...(signOut ? [{ target: `sign-out p99 (Redis, ${SESSIONS} sessions) < 20 ms`, value: signOut.latencyMs.p99, met: signOut.latencyMs.p99 < 20 }] : []),
    ];

    const refreshes = QUICK ? undefined : await refreshRates();
    const report: Record<string, unknown> & { date: string; totalSeconds: number; loadAverageAtEnd: number[] } = {
      date: new Date(startedAt).toISOString(),
      machine: { ...host, redis: redisVersion },
      settings: { connections: CONNECTIONS, durationSeconds: DURATION_S, warmupSeconds: WARMUP_S, rounds: ROUNDS, sessionsPerUser: SESSIONS, path: 'GET /api/me', profiled: PROFILE },
      scenarios,
      signOut,
      refreshes,
      seeding,
      targets,
      totalSeconds: Math.round((Date.now() - startedAt) / 1000),
      loadAverageAtEnd: os.loadavg().map((l) => round(l)),
    };
    finished = { report, refreshes, printed: table({ scenarios, signOut, machine: { ...host, redis: redisVersion }, settings: { connections: CONNECTIONS, durationSeconds: DURATION_S, rounds: ROUNDS } }) };
  } finally {
    await deletePrefix(redis, prefix).catch(() => {});
    closeSignOutAgent();
    await Promise.all(children.map((c) => c.stop()));
    if (!finished) await redis.close().catch(() => {});
  }
  const { report, refreshes, printed } = finished;
  try {
    // The peers, on processes of their own, once the processes above have stopped.
    if (!QUICK) {
      try {
        report.peers = await peers(redis);
      } catch (err) {
        report.peers = { failed: String(err) };
        log(`The peers comparison failed: ${String(err)}`);
        process.exitCode = 1;
      }
    }
  } finally {
    await redis.close().catch(() => {});
  }
  report.totalSeconds = Math.round((Date.now() - startedAt) / 1000);
  report.loadAverageAtEnd = os.loadavg().map((l) => round(l));
  const file = writeReport(report);
  log(`\n${printed}\n`);
  if (refreshes) log(`${refreshTable(refreshes)}\n`);
  if (report.peers && 'rows' in (report.peers as object)) log(`${peersTable(report.peers as PeersReport)}\n`);
  log(`Results: ${path.relative(process.cwd(), file)} (${report.totalSeconds} s in all)`);
}

/** Cookies in the order of the user's session ids as the bookkeeping lists them. */
function reorder(sessionIds: string[], cookies: string[]): string[] {
  const byId = new Map(cookies.map((c) => [/bff\.sid=([^;]+)/.exec(c)![1]!, c]));
  return sessionIds.map((id) => {
    const cookie = byId.get(id);
    if (!cookie) throw new Error('a session in the bookkeeping has no cookie of ours');
    return cookie;
  });
}

/**
 * A synthetic user is what the BFF itself would have written: its session, signed as koa signs
 * cookies, is a signed-in session at the BFF, and its token entry opens with the BFF's sealer.
 */
async function checkSeededUser(url: string, user: ReturnType<ReturnType<typeof syntheticUsers>['make']>, redis: Redis, sealer: ReturnType<typeof testSealer>, prefix: string) {
  const multi = redis.multi();
  for (const k of user.keys) multi.set(k.key, k.raw, { PX: k.ttlMs });
  await multi.execAsPipeline();
  const { createHmac } = await import('node:crypto');
  const { TEST_SESSION_KEY } = await import('../support/stack');
  const sig = createHmac('sha1', TEST_SESSION_KEY).update(`bff.sid=${user.sessionId}`).digest('base64url');
  const res = await fetch(`${url}/auth/session`, { headers: { cookie: `bff.sid=${user.sessionId}; bff.sid.sig=${sig}` } });
  const body = (await res.json()) as { isAuthenticated: boolean };
  const entry = JSON.parse((await redis.get(`${prefix}tokens:${userKey(user.homeAccountId)}`))!).value as string;
  const cache = JSON.parse(sealer.open(entry, user.homeAccountId)) as { Account: Record<string, { home_account_id: string }> };
  if (!body.isAuthenticated || Object.values(cache.Account)[0]?.home_account_id !== user.homeAccountId) {
    throw new Error('a seeded user is not what the BFF reads: the seeding no longer matches the BFF');
  }
  await redis.del(user.keys.map((k) => k.key));
}

function table(report: { scenarios: Scenario[]; signOut?: SignOutResult; machine: ReturnType<typeof machine> & { redis: string }; settings: { connections: number; durationSeconds: number; rounds: number } }) {
  const rows: string[][] = [['scenario', 'req/s', 'p50 ms', 'p99 ms', 'BFF / bare', 'vs 1 user', 'CPU µs/req']];
  for (const s of report.scenarios) {
    const cpu = s.cpuUsPerRequest.proxy ?? s.cpuUsPerRequest.sampleApi;
    rows.push([s.label, String(s.requestsPerSecond), String(s.latencyMs.p50), String(s.latencyMs.p99), s.ratioToBare?.toFixed(2) ?? '', s.ratioToOneUser?.toFixed(2) ?? '', cpu === undefined ? '' : String(cpu)]);
  }
  const so = report.signOut;
  if (so) {
    rows.push([`global sign-out, ${so.sessions} sessions, Redis (n=${so.samples})`, '', String(so.latencyMs.p50), String(so.latencyMs.p99), '', '', '']);
    rows.push([`another instance rejects the old session, from sign-out start (n=${so.propagation.samples})`, '', String(so.propagation.rejectMsFromStart.p50), String(so.propagation.rejectMsFromStart.p99), '', '', '']);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => `| ${r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  const m = report.machine;
  return [
    line(rows[0]!),
    `|${widths.map((w, i) => (i === 0 ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`,
    ...rows.slice(1).map(line),
    '',
    `${report.settings.connections} connections; each scenario: a warm-up, then the best of ${report.settings.rounds} rounds of ${report.settings.durationSeconds} s taken in turns; ${m.cpus} × ${m.cpuModel}, Node ${m.node}, Redis ${m.redis}.`,
    'CPU µs/req: CPU time of the proxy process (for the first row, the sample API) per request over the run.',
    ...(so
      ? [
          `After A's sign-out returned, B's next call on an old session was rejected ${so.rejectedOnBAfterReturn.rejected}/${so.rejectedOnBAfterReturn.of}; B rejected before A answered in ${so.propagation.beforeAReturned}/${so.propagation.samples}; calls started after the sign-out returned that succeeded: ${so.propagation.acceptedAfterReturn}; token entries left: ${so.tokensLeft}.`,
        ]
      : []),
  ].join('\n');
}

await main();
