import type { RequestOrigin } from './bff-pair';
import type { Fault, StoreCall } from './faulty-stores';
import { prng } from './prng';

/** How often a store call goes wrong, each kind a share of all calls (0..1). */
export interface FaultRates {
  /** The call takes effect at once; its answer comes 200–2000 ms later (past the bound: a timeout). */
  latency: number;
  /** The call fails at once and does nothing (a refused connection, a full offline queue). */
  error: number;
  /** The call never arrives and never answers: only the caller's bound ends it. */
  hang: number;
}

export const DEFAULT_FAULT_RATES: FaultRates = { latency: 0.06, error: 0.03, hang: 0.015 };

export type FaultKind = 'latency' | 'timeout' | 'error' | 'hang';

const never = new Promise<never>(() => {});

/** FNV-1a: a stable 32-bit seed from a text. */
function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * Which store calls go wrong, drawn from a seed. A call's fault is a function of the seed, the
 * round, the request it is made for (RequestOrigin: a key the client gives it) and how many calls
 * that request made before it, so the same seed puts the same faults into the same requests,
 * however concurrent requests interleave. Calls outside any known request draw from a stream per
 * instance, store, operation and user (a key's slot tag, its only stable part) instead. Whether
 * two requests race still depends on timing: a rerun of a seed is close, not identical.
 *
 * `boundMs` is the store bound the wrapper applies (STORE_TIMEOUT_MS): a latency past it is
 * counted as a timeout (the call took effect, the caller saw a failure).
 *
 * Refresh leases are spared the two faults that leave a lease held by nobody (a `lease` whose
 * answer comes past the bound, a `release` that fails or never arrives): the lease then blocks
 * every refresh of that user for REFRESH_LEASE_MS (15 s), which would make the suite take
 * minutes; their latency stays under the bound and their errors are injected as any other.
 */
export class FaultPlan {
  enabled = false;
  round = 0;
  readonly injected: Record<FaultKind, number> = { latency: 0, timeout: 0, error: 0, hang: 0 };
  readonly byStore = new Map<string, Record<FaultKind, number>>();
  /** The faults each request was given (`<round> <origin key>`), in the order of its calls. */
  readonly byRequest = new Map<string, string[]>();
  private readonly streams = new Map<string, number>();

  constructor(
    readonly seed: number,
    readonly boundMs: number,
    readonly rates: FaultRates = DEFAULT_FAULT_RATES,
  ) {}

  /** The rule for one instance's faultyStores wrapper; `origin` names the request of a call. */
  rule(instance: string, origin: () => RequestOrigin | undefined = () => undefined): (call: StoreCall) => Fault {
    return (call) => (this.enabled ? this.faultFor(instance, call, origin()) : undefined);
  }

  /** Draws from the plan's own stream (the rounds' scripts); never from the fault streams. */
  script(label: string): () => number {
    return prng(hash32(`${this.seed}|script|${label}`));
  }

  private faultFor(instance: string, call: StoreCall, origin: RequestOrigin | undefined): Fault {
    let stream: string;
    let n: number;
    if (origin) {
      stream = `${this.seed}|${this.round}|${origin.key}`;
      n = origin.calls++;
    } else {
      const owner = /\{[\w-]{11}\}/.exec(call.key)?.[0] ?? '-';
      stream = `${this.seed}|${this.round}|${instance}|${call.store}.${call.op}|${owner}`;
      n = this.streams.get(stream) ?? 0;
      this.streams.set(stream, n + 1);
    }
    const draw = prng(hash32(`${stream}|${n}|${call.store}.${call.op}`));
    const [u, v] = [draw(), draw()];
    const { latency, error, hang } = this.rates;
    // A release that fails or never arrives leaves the lease held (see above).
    if (call.store === 'leases' && call.op === 'release' && u < error + hang) return undefined;
    const count = (kind: FaultKind, fault: Fault, detail: string = kind) => {
      if (origin) this.byRequest.set(`${this.round} ${origin.key}`, [...(this.byRequest.get(`${this.round} ${origin.key}`) ?? []), `${call.store}.${call.op} ${detail}`]);
      return this.count(call, kind, fault);
    };
    if (u < error) return count('error', 'fail');
    if (u < error + hang) return count('hang', never);
    if (u < error + hang + latency) {
      // Mostly short, a few up to 2 s: 200 + 1800·v³ ms (a quarter past a 1 s bound).
      let ms = Math.round(200 + 1800 * v ** 3);
      if (call.store === 'leases' && call.op === 'lease') ms = Math.min(ms, this.boundMs - 200);
      const kind = ms >= this.boundMs ? 'timeout' : 'latency';
      return count(kind, { answerAfter: new Promise((r) => setTimeout(r, ms)) }, `${kind} ${ms} ms`);
    }
    return undefined;
  }

  private count(call: StoreCall, kind: FaultKind, fault: Fault): Fault {
    this.injected[kind]++;
    const key = `${call.store}.${call.op}`;
    const row = this.byStore.get(key) ?? { latency: 0, timeout: 0, error: 0, hang: 0 };
    row[kind]++;
    this.byStore.set(key, row);
    return fault;
  }
}
