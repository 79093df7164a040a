/**
 * The BFF against the products a user would pick instead, side by side in one run
 * (`npm run bench -- --peers`, and part of the full `npm run bench`): GET /api/me through each,
 * alice signed in on every connection (one session per connection), ROUNDS rounds of
 * DURATION s taken in turns with the order rotated each round; medians and the spread.
 *
 * Targets: the bare Koa proxy and Apache mod_proxy (both with one fixed token: floors), the BFF
 * on in-memory stores, on Redis, and in memory with 120 s access tokens (its own IdP and API),
 * Express 5 + express-openid-connect + http-proxy-middleware, and Apache httpd +
 * mod_auth_openidc with its shm and its Redis cache. All call one sample API through one dev IdP
 * (but the 120 s row), and every peer signs in through that IdP's login form, as a browser would.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_SAMPLE_API_SCOPE } from '../../../server/config';
import { DEV_BFF_CLIENT_ID, DEV_BFF_CLIENT_SECRET } from '../../../server/dev-idp/provider';
import { userKey } from '../../../server/stores/user-slot';
import { TestBrowser } from '../../support/browser';
import { Child, freePort, startBffProcess, startIdpProcess, testSealer, type IdpProcess } from '../../support/processes';
import { signInAt } from '../../support/stack';
import { drive, round, type LoadResult } from '../load';
import { cpuMs, startScript } from '../processes';
import { deletePrefix, type Redis } from '../seed';
import { ensureApache, startApache, type ApacheInstance, type ApacheVersions } from './apache';
import { signInThroughPeer } from './sign-in';

export interface PeersSettings {
  redis: Redis;
  redisUrl: string;
  connections: number;
  durationSeconds: number;
  warmupSeconds: number;
  rounds: number;
  /** Rounds of the equal-load phase (each target at one offered rate, in turns). */
  latencyRounds: number;
  log: (line: string) => void;
}

/** One round of one target. */
export interface PeerRound extends LoadResult {
  round: number;
  /** Its place in that round's order (0 = first). */
  position: number;
  /** CPU time per counted answer (µs) of the proxy, the sample API, Redis and the load generator. */
  cpuUsPerRequest: Record<string, number | undefined>;
  /** Refresh grants the target's IdP logged during the round. */
  refreshGrants: number;
  /** For the targets on Redis: commands (by name) and new connections per counted answer. */
  redisPerRequest?: Record<string, number>;
  /** The machine's 1-minute load average when the round ended (other work on it shows here). */
  loadAverage: number;
}

export interface PeerRow {
  id: string;
  label: string;
  /** Medians over the rounds. */
  requestsPerSecond: number;
  latencyMs: { p50: number; p99: number };
  cpuUsPerRequest: Record<string, number | undefined>;
  /** For the targets on Redis: medians of the rounds' commands and new connections per answer. */
  redisPerRequest?: Record<string, number>;
  spread: { min: number; max: number };
  ratioToBare: number;
  ratioToBff: number;
  /** Answers over all rounds, those counted (200 with alice's body) and any other. */
  answers: number;
  counted: number;
  failures: number;
  bodyMismatches: number;
  statusCodes: Record<string, number>;
  /** Refresh grants at the target's IdP from the first round's start to the last round's end. */
  refreshGrants: number;
  refreshGrantsPerMinute: number;
  accessTokenLifetimeSeconds: number;
  rounds: PeerRound[];
  /**
   * Latency at one offered rate for every target (half our in-memory BFF's throughput): medians
   * over the equal-load rounds. At saturation (the throughput rounds) p99 is mostly queueing,
   * which grows with any CPU per request; here it is what one request costs.
   */
  equalLoad?: { rate: number; latencyMs: { p50: number; p99: number }; requestsPerSecond: number; failures: number };
}

export interface PeersReport {
  settings: { connections: number; durationSeconds: number; warmupSeconds: number; rounds: number; latencyRounds: number; equalLoadRate: number; sessionsPerTarget: number; path: string; order: string };
  versions: ApacheVersions & { expressOpenidConnect: string; express: string; httpProxyMiddleware: string };
  rows: PeerRow[];
  /** Every counted answer of every row was a 200 with alice's body, and there was no other answer. */
  allAnswersChecked: boolean;
  notes: string[];
  seconds: number;
}

interface Target {
  id: string;
  label: string;
  url: string;
  headers: Record<string, string>;
  perConnection?: Record<string, string>[];
  cpu: () => number | undefined;
  api: Child;
  idp: IdpProcess;
  usesRedis: boolean;
  ttl: number;
}

const BFF_SECRET = DEV_BFF_CLIENT_SECRET;
const SCOPE = `openid profile email offline_access ${DEFAULT_SAMPLE_API_SCOPE}`;
const TTL_SHORT = 120;
const TTL_DEFAULT = 3600;

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const packageVersion = (name: string) => {
  try {
    return String((JSON.parse(readFileSync(path.resolve('node_modules', name, 'package.json'), 'utf8')) as { version: string }).version);
  } catch {
    return 'unknown';
  }
};

export async function runPeers(settings: PeersSettings): Promise<PeersReport> {
  const { redis, redisUrl, connections, log } = settings;
  const startedAt = Date.now();
  const notes: string[] = [];
  const apacheVersions = ensureApache(log);
  const versions = {
    ...apacheVersions,
    express: packageVersion('express'),
    expressOpenidConnect: packageVersion('express-openid-connect'),
    httpProxyMiddleware: packageVersion('http-proxy-middleware'),
  };
  const prefix = `bench-peers-${randomBytes(4).toString('hex')}:`;
  const redisServer = (() => {
    const { hostname, port } = new URL(redisUrl);
    return `${hostname}:${port || 6379}`;
  })();
  const redisDb = Number(new URL(redisUrl).pathname.slice(1) || 0);
  const children: Child[] = [];
  const apaches: ApacheInstance[] = [];
  // mod_auth_openidc's Redis keys (`s:<id>` sessions, `n:` nonces, `p:` metadata, …) have no
  // prefix of ours: the ones that were not there before are removed at the end.
  const openidcKeys = async () => {
    const keys = new Set<string>();
    for await (const found of redis.scanIterator({ MATCH: '?:*', COUNT: 1000 })) for (const k of Array.isArray(found) ? found : [found]) keys.add(k);
    return keys;
  };
  const openidcKeysBefore = await openidcKeys();
  try {
    // --- processes ---
    const ports = { bffMemory: await freePort(), bffRedis: await freePort(), bffShort: await freePort(), apacheProxy: await freePort(), openidcShm: await freePort(), openidcRedis: await freePort(), express: await freePort() };
    // The peers' origins are registered as BFF origins: each peer's callback is /auth/callback.
    const idp = await startIdpProcess([ports.bffMemory, ports.bffRedis, ports.openidcShm, ports.openidcRedis, ports.express].map((p) => `http://localhost:${p}`));
    children.push(idp.child);
    const idpShort = await startIdpProcess([`http://localhost:${ports.bffShort}`], { DEV_IDP_ACCESS_TOKEN_TTL: String(TTL_SHORT), DEV_IDP_FRONTCHANNEL: '0', DEV_IDP_BACKCHANNEL: '0' });
    children.push(idpShort.child);
    const [api, apiShort] = await Promise.all([
      startScript('sample-api', 'test/bench/servers/sample-api.ts', { BENCH_ISSUER: idp.issuer, BENCH_CA_FILE: idp.caFile }),
      startScript('sample-api-120s', 'test/bench/servers/sample-api.ts', { BENCH_ISSUER: idpShort.issuer, BENCH_CA_FILE: idpShort.caFile }),
    ]);
    children.push(api.child, apiShort.child);
    const upstream = api.url.replace('//localhost:', '//127.0.0.1:');
    const [bffMemory, bffRedis, bffShort] = await Promise.all([
      startBffProcess(ports.bffMemory, idp, { API_BASE_URL: api.url }),
      startBffProcess(ports.bffRedis, idp, { API_BASE_URL: api.url, REDIS_URL: redisUrl, REDIS_KEY_PREFIX: prefix }),
      startBffProcess(ports.bffShort, idpShort, { API_BASE_URL: apiShort.url }),
    ]);
    children.push(bffMemory.child, bffRedis.child, bffShort.child);
    const express = await startScript(
      'express-oidc',
      'test/bench/peers/express-oidc.ts',
      { BENCH_ISSUER: idp.issuer, BENCH_UPSTREAM: api.url, BENCH_PORT: String(ports.express), BENCH_SCOPE: SCOPE, BENCH_CLIENT_ID: DEV_BFF_CLIENT_ID, NODE_EXTRA_CA_CERTS: idp.caFile },
      JSON.stringify({ clientSecret: BFF_SECRET, secret: randomBytes(32).toString('base64url') }),
    );
    children.push(express.child);
    const openidc = (cache: 'shm' | 'redis') => ({ issuer: idp.issuer, caFile: idp.caFile, clientId: DEV_BFF_CLIENT_ID, clientSecret: BFF_SECRET, scope: SCOPE, cache, redisServer, redisDatabase: redisDb });
    const [openidcShm, openidcRedis] = await Promise.all([
      startApache({ name: 'apache-openidc-shm', port: ports.openidcShm, upstream, openidc: openidc('shm') }),
      startApache({ name: 'apache-openidc-redis', port: ports.openidcRedis, upstream, openidc: openidc('redis') }),
    ]);
    apaches.push(openidcShm, openidcRedis);

    // --- sign-ins: alice, one browser (one IdP session) per connection, through each target ---
    const sessions = connections;
    const bffSessions = async (url: string, ca: string) => {
      const cookies: Record<string, string>[] = [];
      for (let i = 0; i < sessions; i++) {
        const browser = new TestBrowser(ca);
        await signInAt(browser, url, 'alice');
        cookies.push({ cookie: `bff.sid=${await browser.cookie(url, 'bff.sid')}; bff.sid.sig=${await browser.cookie(url, 'bff.sid.sig')}` });
      }
      return cookies;
    };
    const peerSessions = async (url: string, expect: string) => {
      const cookies: Record<string, string>[] = [];
      for (let i = 0; i < sessions; i++) cookies.push({ cookie: await signInThroughPeer(new TestBrowser(idp.ca), `${url}/api/me`, 'alice', expect) });
      return cookies;
    };
    log(`Signing alice in ${sessions} times through each target…`);
    const onBffMemory = await bffSessions(bffMemory.url, idp.ca);
    const onBffRedis = await bffSessions(bffRedis.url, idp.ca);
    const onBffShort = await bffSessions(bffShort.url, idpShort.ca);
    const spa = { 'x-csrf': '1', accept: 'application/json' };
    const who = await fetch(`${bffRedis.url}/api/me`, { headers: { ...spa, ...onBffRedis[0]! } });
    if (who.status !== 200) throw new Error(`the BFF's /api/me answered ${who.status} after sign-in`);
    const aliceId = String(((await who.json()) as { sub: string }).sub);
    const aliceBody = `"sub":"${aliceId}"`;
    const onExpress = await peerSessions(express.url, aliceBody);
    const onOpenidcShm = await peerSessions(openidcShm.url, aliceBody);
    const onOpenidcRedis = await peerSessions(openidcRedis.url, aliceBody);

    // The floors' fixed token: alice's access token, from her sealed token cache entry.
    const sealed = JSON.parse((await redis.get(`${prefix}tokens:${userKey(aliceId)}`))!).value as string;
    const cache = JSON.parse(testSealer().open(sealed, aliceId)) as { AccessToken: Record<string, { secret: string; target: string }> };
    const token = Object.values(cache.AccessToken).find((t) => t.target.includes(DEFAULT_SAMPLE_API_SCOPE))!.secret;
    const bare = await startScript('bare-proxy', 'test/bench/servers/bare-proxy.ts', { BENCH_UPSTREAM: api.url }, token);
    children.push(bare.child);
    const apacheProxy = await startApache({ name: 'apache-proxy', port: ports.apacheProxy, upstream, fixedToken: token });
    apaches.push(apacheProxy);

    const json = { accept: 'application/json' };
    const node = (c: Child) => () => cpuMs(c.proc.pid);
    const base = { api: api.child, idp, usesRedis: false, ttl: TTL_DEFAULT };
    const openidcVersion = /^[\d.]+/.exec(versions.modAuthOpenidc)?.[0] ?? versions.modAuthOpenidc;
    const targets: Target[] = [
      { ...base, id: 'bare-proxy', label: 'bare Koa proxy (fixed token)', url: `${bare.url}/api/me`, headers: json, cpu: node(bare.child) },
      { ...base, id: 'apache-proxy', label: `Apache httpd ${versions.httpd} mod_proxy (fixed token)`, url: `${apacheProxy.url}/api/me`, headers: json, cpu: apacheProxy.cpuMs },
      { ...base, id: 'bff-memory', label: 'our BFF, in-memory stores', url: `${bffMemory.url}/api/me`, headers: spa, perConnection: onBffMemory, cpu: node(bffMemory.child) },
      { ...base, id: 'bff-redis', label: 'our BFF, Redis stores', url: `${bffRedis.url}/api/me`, headers: spa, perConnection: onBffRedis, cpu: node(bffRedis.child), usesRedis: true },
      { ...base, id: 'bff-memory-120s', label: `our BFF, in-memory stores, ${TTL_SHORT} s access tokens`, url: `${bffShort.url}/api/me`, headers: spa, perConnection: onBffShort, cpu: node(bffShort.child), api: apiShort.child, idp: idpShort, ttl: TTL_SHORT },
      { ...base, id: 'express-openid-connect', label: `Express ${versions.express} + express-openid-connect ${versions.expressOpenidConnect} + http-proxy-middleware ${versions.httpProxyMiddleware}`, url: `${express.url}/api/me`, headers: json, perConnection: onExpress, cpu: node(express.child) },
      { ...base, id: 'apache-openidc-shm', label: `Apache httpd ${versions.httpd} + mod_auth_openidc ${openidcVersion} (shm sessions)`, url: `${openidcShm.url}/api/me`, headers: json, perConnection: onOpenidcShm, cpu: openidcShm.cpuMs },
      { ...base, id: 'apache-openidc-redis', label: `Apache httpd ${versions.httpd} + mod_auth_openidc ${openidcVersion} (Redis sessions)`, url: `${openidcRedis.url}/api/me`, headers: json, perConnection: onOpenidcRedis, cpu: openidcRedis.cpuMs, usesRedis: true },
    ];

    // --- rounds: every target in turn, the order rotated by one each round ---
    const redisCpuMs = async () => {
      const info = await redis.info('cpu');
      return (Number(/used_cpu_user:([\d.]+)/.exec(info)?.[1]) + Number(/used_cpu_sys:([\d.]+)/.exec(info)?.[1])) * 1000;
    };
    // Redis commands and connections over a round; INFO itself is the benchmark's own.
    const redisCounts = async () => {
      const counts = Object.fromEntries([...(await redis.info('commandstats')).matchAll(/cmdstat_(\w+):calls=(\d+)/g)].filter((m) => m[1] !== 'info').map((m) => [m[1]!, Number(m[2])]));
      counts.connections = Number(/total_connections_received:(\d+)/.exec(await redis.info('stats'))?.[1] ?? 0);
      return counts;
    };
    const rounds = new Map<string, PeerRound[]>(targets.map((t) => [t.id, []]));
    const grantsAtStart = new Map<IdpProcess, number>([idp, idpShort].map((i) => [i, i.refreshGrants()]));
    const measureStart = Date.now();
    log(`${targets.length} targets, ${settings.rounds} rounds of ${settings.durationSeconds} s in turns (order rotated each round), ${connections} connections; warm-up ${settings.warmupSeconds} s before each target's first round.`);
    for (let r = 0; r < settings.rounds; r++) {
      const order = targets.map((_, i) => targets[(i + r) % targets.length]!);
      const line: string[] = [];
      for (const [position, target] of order.entries()) {
        const probes: Record<string, () => number | undefined | Promise<number>> = {
          proxy: target.cpu,
          sampleApi: () => cpuMs(target.api.proc.pid),
          loadGenerator: () => (process.cpuUsage().user + process.cpuUsage().system) / 1000,
          ...(target.usesRedis ? { redis: redisCpuMs } : {}),
        };
        const before: Record<string, number | undefined> = {};
        const spent: Record<string, number | undefined> = {};
        let grantsBefore = 0;
        let countsBefore: Record<string, number> = {};
        let countsAfter: Record<string, number> = {};
        const result = await drive(
          { url: target.url, headers: target.headers, perConnection: target.perConnection, connections, durationSeconds: settings.durationSeconds, warmupSeconds: r === 0 ? settings.warmupSeconds : 0, bodyIncludes: aliceBody },
          {
            start: async () => {
              grantsBefore = target.idp.refreshGrants();
              if (target.usesRedis) countsBefore = await redisCounts();
              for (const [name, probe] of Object.entries(probes)) before[name] = await probe();
            },
            stop: async () => {
              for (const [name, probe] of Object.entries(probes)) {
                const now = await probe();
                spent[name] = now === undefined || before[name] === undefined ? undefined : now - before[name]!;
              }
              if (target.usesRedis) countsAfter = await redisCounts();
            },
          },
        );
        const perRequest = (ms: number | undefined) => (ms === undefined || result.counted === 0 ? undefined : Math.round((ms * 1000) / result.counted));
        const cpuUsPerRequest = Object.fromEntries(Object.entries(spent).map(([k, ms]) => [k, perRequest(ms)]));
        const redisPerRequest = target.usesRedis
          ? Object.fromEntries(
              Object.entries(countsAfter)
                .map(([name, n]) => [name, round((n - (countsBefore[name] ?? 0)) / Math.max(1, result.counted), 3)] as const)
                .filter(([, perRequest]) => perRequest > 0),
            )
          : undefined;
        rounds.get(target.id)!.push({ round: r, position, ...result, cpuUsPerRequest, redisPerRequest, refreshGrants: target.idp.refreshGrants() - grantsBefore, loadAverage: round(os.loadavg()[0]!) });
        line.push(`${target.id} ${result.requestsPerSecond}${result.failures ? ` (${result.failures} failed)` : ''}`);
      }
      log(`  round ${r + 1}/${settings.rounds}: ${line.join(', ')} (load average ${round(os.loadavg()[0]!)})`);
    }
    const measureSeconds = (Date.now() - measureStart) / 1000;

    // --- medians, spread, ratios, checks ---
    const rows: PeerRow[] = targets.map((t) => {
      const all = rounds.get(t.id)!;
      const rps = all.map((x) => x.requestsPerSecond);
      const cpuKeys = [...new Set(all.flatMap((x) => Object.keys(x.cpuUsPerRequest)))];
      const statusCodes: Record<string, number> = {};
      for (const x of all) for (const [code, n] of Object.entries(x.statusCodes)) statusCodes[code] = (statusCodes[code] ?? 0) + n;
      const answers = all.reduce((n, x) => n + x.requests, 0);
      const failures = all.reduce((n, x) => n + x.failures, 0);
      const refreshGrants = t.idp.refreshGrants() - grantsAtStart.get(t.idp)!;
      return {
        id: t.id,
        label: t.label,
        requestsPerSecond: Math.round(median(rps)),
        latencyMs: { p50: median(all.map((x) => x.latencyMs.p50)), p99: median(all.map((x) => x.latencyMs.p99)) },
        cpuUsPerRequest: Object.fromEntries(
          cpuKeys.map((k) => {
            const values = all.map((x) => x.cpuUsPerRequest[k]).filter((v): v is number => v !== undefined);
            return [k, values.length ? Math.round(median(values)) : undefined];
          }),
        ),
        redisPerRequest: t.usesRedis
          ? Object.fromEntries(
              [...new Set(all.flatMap((x) => Object.keys(x.redisPerRequest ?? {})))]
                .map((k) => [k, round(median(all.map((x) => x.redisPerRequest?.[k] ?? 0)), 3)] as const)
                .filter(([, perRequest]) => perRequest > 0),
            )
          : undefined,
        spread: { min: Math.min(...rps), max: Math.max(...rps) },
        ratioToBare: 0,
        ratioToBff: 0,
        answers,
        counted: all.reduce((n, x) => n + x.counted, 0),
        failures,
        bodyMismatches: all.reduce((n, x) => n + x.bodyMismatches, 0),
        statusCodes,
        // The other rows' grants at the shared IdP are counted under each one's own windows in `rounds`.
        refreshGrants: t.idp === idpShort ? refreshGrants : all.reduce((n, x) => n + x.refreshGrants, 0),
        refreshGrantsPerMinute: t.idp === idpShort ? round((refreshGrants / measureSeconds) * 60) : 0,
        accessTokenLifetimeSeconds: t.ttl,
        rounds: all,
      };
    });
    const bareRow = rows.find((r) => r.id === 'bare-proxy')!;
    const bffRow = rows.find((r) => r.id === 'bff-memory')!;
    for (const row of rows) {
      row.ratioToBare = round(row.requestsPerSecond / bareRow.requestsPerSecond);
      row.ratioToBff = round(row.requestsPerSecond / bffRow.requestsPerSecond);
    }

    // --- equal load: every target at the same offered rate, in turns ---
    const equalLoadRate = Math.max(1, Math.round(bffRow.requestsPerSecond / 2));
    const equalRounds = new Map<string, LoadResult[]>(targets.map((t) => [t.id, []]));
    log(`Equal load: ${settings.latencyRounds} rounds of ${settings.durationSeconds} s at ${equalLoadRate} req/s (half our in-memory BFF's throughput) per target, in turns.`);
    for (let r = 0; r < settings.latencyRounds; r++) {
      const line: string[] = [];
      for (const target of targets.map((_, i) => targets[(i + r) % targets.length]!)) {
        const result = await drive({ url: target.url, headers: target.headers, perConnection: target.perConnection, connections, durationSeconds: settings.durationSeconds, warmupSeconds: 0, bodyIncludes: aliceBody, overallRate: equalLoadRate });
        equalRounds.get(target.id)!.push(result);
        line.push(`${target.id} p99 ${result.latencyMs.p99} ms${result.failures ? ` (${result.failures} failed)` : ''}`);
      }
      log(`  equal-load round ${r + 1}/${settings.latencyRounds}: ${line.join(', ')}`);
    }
    for (const row of rows) {
      const all = equalRounds.get(row.id)!;
      if (all.length === 0) continue;
      const failures = all.reduce((n, x) => n + x.failures, 0);
      row.equalLoad = {
        rate: equalLoadRate,
        latencyMs: { p50: median(all.map((x) => x.latencyMs.p50)), p99: median(all.map((x) => x.latencyMs.p99)) },
        requestsPerSecond: Math.round(median(all.map((x) => x.requestsPerSecond))),
        failures,
      };
      row.failures += failures;
      row.bodyMismatches += all.reduce((n, x) => n + x.bodyMismatches, 0);
      row.answers += all.reduce((n, x) => n + x.requests, 0);
    }
    const allAnswersChecked = rows.every((r) => r.failures === 0 && r.bodyMismatches === 0 && r.answers > 0);
    notes.push(
      `mod_auth_openidc asks the dev IdP's userinfo endpoint for claims at sign-in with the access token, which is for the API's audience; the IdP refuses it ("invalid_token"), mod_auth_openidc logs that and keeps the session without userinfo claims (the ID token's claims are there).`,
      `The ${TTL_SHORT} s row has its own dev IdP and sample API (same code; the API checks one issuer). Its refresh grants are counted over the whole measured phase (${Math.round(measureSeconds)} s of wall clock, in which it was called in its turns only): a token due for renewal is renewed at its next turn.`,
    );
    return {
      settings: { connections, durationSeconds: settings.durationSeconds, warmupSeconds: settings.warmupSeconds, rounds: settings.rounds, latencyRounds: settings.latencyRounds, equalLoadRate, sessionsPerTarget: sessions, path: 'GET /api/me', order: 'in turns, rotated by one target each round' },
      versions,
      rows,
      allAnswersChecked,
      notes,
      seconds: Math.round((Date.now() - startedAt) / 1000),
    };
  } finally {
    await Promise.all([...apaches.map((a) => a.stop()), ...children.map((c) => c.stop())]);
    await deletePrefix(redis, prefix).catch(() => {});
    const left = [...(await openidcKeys().catch(() => new Set<string>()))].filter((k) => !openidcKeysBefore.has(k));
    if (left.length) await redis.unlink(left).catch(() => {});
  }
}

/** The comparison as a Markdown table, with what it was measured on. */
export function peersTable(report: PeersReport): string {
  const rows: string[][] = [['target', 'req/s', 'min–max', 'p50 ms', 'p99 ms', '÷ bare Koa proxy', '÷ our BFF', 'proxy CPU µs/req', 'Redis CPU µs/req', 'refresh grants (/min)', 'answers (not 200 + alice)', `p50 / p99 ms at ${report.settings.equalLoadRate} req/s`]];
  for (const r of report.rows) {
    rows.push([
      r.label,
      String(r.requestsPerSecond),
      `${r.spread.min}–${r.spread.max}`,
      String(r.latencyMs.p50),
      String(r.latencyMs.p99),
      r.ratioToBare.toFixed(2),
      r.ratioToBff.toFixed(2),
      String(r.cpuUsPerRequest.proxy ?? '?'),
      r.cpuUsPerRequest.redis === undefined ? '' : String(r.cpuUsPerRequest.redis),
      r.accessTokenLifetimeSeconds === TTL_DEFAULT ? String(r.refreshGrants) : `${r.refreshGrants} (${r.refreshGrantsPerMinute})`,
      `${r.answers} (${r.failures})`,
      r.equalLoad ? `${r.equalLoad.latencyMs.p50} / ${r.equalLoad.latencyMs.p99}${r.equalLoad.requestsPerSecond < r.equalLoad.rate * 0.95 ? ` (served ${r.equalLoad.requestsPerSecond})` : ''}` : '',
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => `| ${r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  const s = report.settings;
  const cpus = os.cpus();
  return [
    line(rows[0]!),
    `|${widths.map((w, i) => (i === 0 ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`,
    ...rows.slice(1).map(line),
    '',
    `${s.path}, ${s.connections} connections (alice signed in once per connection), ${s.rounds} rounds of ${s.durationSeconds} s ${s.order}, ${s.warmupSeconds} s warm-up before each target's first round; medians over the rounds, min–max of req/s; ${cpus.length} × ${cpus[0]?.model.trim()}.`,
    `p50 / p99 ms at ${s.equalLoadRate} req/s: every target offered the same rate (half our in-memory BFF's throughput), ${s.latencyRounds} rounds of ${s.durationSeconds} s in turns, medians; "served" when a target could not keep up with it. At saturation (the p50 and p99 columns before) latency is mostly time spent queued behind the other connections.`,
    'proxy CPU µs/req: CPU time of the proxy (for Apache: the parent and all its worker processes) per counted answer; Redis CPU µs/req: the Redis server, for the rows that use it.',
    `refresh grants: logged by the target's IdP during the target's rounds (access tokens of 3600 s but in the ${TTL_SHORT} s row, whose grants per minute of the measured phase are in brackets).`,
    report.allAnswersChecked
      ? `Check: every counted answer was a 200 whose body carries alice's sub; no other answer (${report.rows.reduce((n, r) => n + r.answers, 0)} answers in all).`
      : `CHECK FAILED: some answers were not a 200 with alice's body: ${report.rows.filter((r) => r.failures || r.bodyMismatches).map((r) => `${r.id} ${r.failures} (${JSON.stringify(r.statusCodes)}, ${r.bodyMismatches} wrong bodies)`).join('; ')}.`,
    ...report.rows
      .filter((r) => r.redisPerRequest)
      .map((r) => `Redis per counted answer, ${r.id}: ${Object.entries(r.redisPerRequest!).map(([k, v]) => `${k} ${v}`).join(', ') || 'nothing'}.`),
    ...report.notes.map((n) => `Note: ${n}`),
  ].join('\n');
}
