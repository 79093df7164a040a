import http from 'node:http';
import https from 'node:https';
import type { INetworkModule, NetworkRequestOptions, NetworkResponse } from '@azure/msal-node';

/**
 * Outbound HTTP(S) for talking to the identity provider: node:https with an explicit CA, so that
 * a private or dev CA is trusted by exactly these clients and never by the whole process
 * (no NODE_TLS_REJECT_UNAUTHORIZED).
 */
export interface OutboundOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface OutboundResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

const MAX_RESPONSE_BYTES = 1024 * 1024;
/** Longest a pooled connection to the IdP stays idle (ms); less when the server announces less. */
export const IDLE_SOCKET_MS = 4000;

export function createOutbound(ca?: string) {
  // An idle socket is dropped before the server drops it: Node's agent honours a server's
  // `Keep-Alive: timeout=N` (closing at N-1 s) only when the agent has a timeout of its own, and
  // without one it reused sockets the IdP was closing at that moment (ECONNRESET, a 502 on a token
  // refresh after ~5 s of quiet; found by the fault-injection suite).
  const idle = { keepAlive: true, timeout: IDLE_SOCKET_MS };
  const httpsAgent = new https.Agent({ ...idle, ca });
  const httpAgent = new http.Agent(idle);

  function request(url: string, options: OutboundOptions = {}): Promise<OutboundResponse> {
    const target = new URL(url);
    const secure = target.protocol === 'https:';
    const transport = secure ? https : http;
    return new Promise((resolve, reject) => {
      const req = transport.request(
        target,
        {
          method: options.method ?? 'GET',
          headers: options.headers,
          agent: secure ? httpsAgent : httpAgent,
          timeout: options.timeoutMs ?? 10_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_RESPONSE_BYTES) req.destroy(new Error(`response from ${target.origin} exceeds ${MAX_RESPONSE_BYTES} bytes`));
            else chunks.push(chunk);
          });
          res.on('end', () => {
            const headers: Record<string, string> = {};
            for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
            resolve({ status: res.statusCode ?? 0, headers, body: Buffer.concat(chunks).toString('utf8') });
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`request to ${target.origin} timed out`)));
      req.on('error', reject);
      options.signal?.addEventListener('abort', () => req.destroy(new Error(`request to ${target.origin} was aborted`)), { once: true });
      req.end(options.body);
    });
  }

  /** A fetch for jose's createRemoteJWKSet ([customFetch]): the same CA, the same bounds. */
  async function fetchForJose(url: string, init: { headers?: HeadersInit; signal?: AbortSignal }): Promise<Response> {
    const headers = Object.fromEntries(new Headers(init.headers).entries());
    const res = await request(url, { headers, signal: init.signal });
    return new Response(res.body, { status: res.status, headers: res.headers });
  }

  /** MSAL's INetworkModule over the same client. */
  const msalNetwork: INetworkModule = {
    sendGetRequestAsync: <T>(url: string, options?: NetworkRequestOptions, timeout?: number) =>
      toMsal<T>(request(url, { headers: options?.headers, timeoutMs: timeout })),
    sendPostRequestAsync: <T>(url: string, options?: NetworkRequestOptions) =>
      toMsal<T>(request(url, { method: 'POST', headers: options?.headers, body: options?.body })),
  };

  return { request, fetchForJose, msalNetwork, close: () => (httpsAgent.destroy(), httpAgent.destroy()) };
}

export type Outbound = ReturnType<typeof createOutbound>;

async function toMsal<T>(pending: Promise<OutboundResponse>): Promise<NetworkResponse<T>> {
  const res = await pending;
  let body: unknown;
  try {
    body = JSON.parse(res.body);
  } catch {
    body = {};
  }
  return { status: res.status, headers: res.headers, body: body as T };
}
