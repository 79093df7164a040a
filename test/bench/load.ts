import autocannon from 'autocannon';

export interface LoadOptions {
  url: string;
  /** Headers of every request. */
  headers?: Record<string, string>;
  /** Extra headers per connection, round-robin (e.g. one session cookie per connection). */
  perConnection?: Record<string, string>[];
  connections: number;
  durationSeconds: number;
  warmupSeconds: number;
  /**
   * Text every answer's body must contain (e.g. `"sub":"<alice's id>"`): an answer counts only
   * when it is a 200 whose body has it; any other answer is a failure.
   */
  bodyIncludes?: string;
  /**
   * Requests per second offered across all connections; unset: as fast as answers come
   * (throughput). At a rate every target can serve, latency shows what a request costs rather
   * than how long it queued behind the others.
   */
  overallRate?: number;
}

export interface LoadResult {
  /** Counted answers per second: 200s (with the expected body, when one is given). */
  requestsPerSecond: number;
  latencyMs: { p50: number; p99: number; average: number };
  requests: number;
  /** Answers counted: 200s (with the expected body, when one is given). */
  counted: number;
  durationSeconds: number;
  /** Responses other than 200, 200s without the expected body, and connection errors: any of them makes the run invalid. */
  failures: number;
  /** 200s whose body lacked `bodyIncludes` (0 when none was given). */
  bodyMismatches: number;
  statusCodes: Record<string, number>;
}

/**
 * Drives one target with autocannon: a warm-up run whose figures are dropped (JIT, connection
 * pools, caches), then the measured run with the same connections. Every answer is looked at
 * (status and body) as it arrives.
 */
export async function drive(options: LoadOptions, measured?: { start(): unknown; stop(): unknown }): Promise<LoadResult> {
  const { url, connections } = options;
  let next = 0;
  const tally = { answers: 0, ok: 0, mismatches: 0 };
  const needle = options.bodyIncludes;
  const base = {
    url,
    connections,
    timeout: 10,
    ...(options.overallRate ? { overallRate: options.overallRate } : {}),
    headers: options.headers ?? {},
    requests: [
      {
        onResponse: (status: number, body: string) => {
          tally.answers++;
          if (status !== 200) return;
          if (needle !== undefined && !body.includes(needle)) tally.mismatches++;
          else tally.ok++;
        },
      },
    ],
    setupClient: (client: { setHeaders(h: Record<string, string>): void }) => {
      const extra = options.perConnection?.[next++ % options.perConnection.length];
      if (extra) client.setHeaders({ ...options.headers, ...extra });
    },
  };
  if (options.warmupSeconds > 0) await autocannon({ ...base, duration: options.warmupSeconds });
  next = 0;
  await measured?.start();
  Object.assign(tally, { answers: 0, ok: 0, mismatches: 0 });
  const result = await autocannon({ ...base, duration: options.durationSeconds });
  await measured?.stop();
  const statusCodes = Object.fromEntries(Object.entries(result.statusCodeStats ?? {}).map(([code, s]) => [code, s.count]));
  const { answers: requests, ok } = tally;
  return {
    requestsPerSecond: Math.round(ok / result.duration),
    latencyMs: { p50: result.latency.p50, p99: result.latency.p99, average: round(result.latency.average, 2) },
    requests,
    counted: ok,
    durationSeconds: round(result.duration, 2),
    failures: requests - ok + result.errors,
    bodyMismatches: tally.mismatches,
    statusCodes,
  };
}

export const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;
