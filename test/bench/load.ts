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
}

export interface LoadResult {
  requestsPerSecond: number;
  latencyMs: { p50: number; p99: number; average: number };
  requests: number;
  durationSeconds: number;
  /** Responses other than 200, and connection errors: any of them makes the run invalid. */
  failures: number;
  statusCodes: Record<string, number>;
}

/**
 * Drives one target with autocannon: a warm-up run whose figures are dropped (JIT, connection
 * pools, caches), then the measured run with the same connections.
 */
export async function drive(options: LoadOptions, measured?: { start(): unknown; stop(): unknown }): Promise<LoadResult> {
  const { url, connections } = options;
  let next = 0;
  const base = {
    url,
    connections,
    timeout: 10,
    headers: options.headers ?? {},
    setupClient: (client: { setHeaders(h: Record<string, string>): void }) => {
      const extra = options.perConnection?.[next++ % options.perConnection.length];
      if (extra) client.setHeaders({ ...options.headers, ...extra });
    },
  };
  if (options.warmupSeconds > 0) await autocannon({ ...base, duration: options.warmupSeconds });
  next = 0;
  await measured?.start();
  const result = await autocannon({ ...base, duration: options.durationSeconds });
  await measured?.stop();
  const statusCodes = Object.fromEntries(Object.entries(result.statusCodeStats ?? {}).map(([code, s]) => [code, s.count]));
  const ok = statusCodes['200'] ?? 0;
  const requests = Object.values(statusCodes).reduce((a, b) => a + b, 0);
  return {
    requestsPerSecond: Math.round(ok / result.duration),
    latencyMs: { p50: result.latency.p50, p99: result.latency.p99, average: round(result.latency.average, 2) },
    requests,
    durationSeconds: round(result.duration, 2),
    failures: requests - ok + result.errors,
    statusCodes,
  };
}

export const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;
