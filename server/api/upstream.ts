import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { HttpError } from '../errors';
import { IDLE_SOCKET_MS } from '../http/outbound';
import type { RequestBody } from './framing';

export interface UpstreamCall {
  target: URL;
  method: string;
  /** Never a framing or hop-by-hop field: Node writes those for the request it sends. */
  headers: Record<string, string>;
  body: RequestBody;
  /** The browser's request, read for its content when `body` is not none. */
  source: http.IncomingMessage;
  /** Largest content to stream (a length body was checked against it already). */
  limit: number;
  timeoutMs: number;
}

const unavailable = (message: string, cause?: unknown) => new HttpError(502, 'upstream_unavailable', message, { cause });

/**
 * Keep-alive connections to the API, each used for one exchange at a time, and returned to
 * the pool only when that exchange was whole and in order.
 */
export function upstreamClient() {
  // Idle sockets are dropped before the API drops them (outbound.ts, IDLE_SOCKET_MS).
  const pooled = { keepAlive: true, timeout: IDLE_SOCKET_MS };
  const agents = { http: new http.Agent(pooled), https: new https.Agent(pooled) };
  // A request with content gets a connection of its own, closed after its answer: whether the
  // API read that content before answering cannot be seen from here, and an API that answers
  // early without draining it would read the rest as the next request on a pooled connection,
  // another user's (RFC 9112 §9.6 asks the server to close then; not every server does).
  const oneShot = { http: new http.Agent({ keepAlive: false }), https: new https.Agent({ keepAlive: false }) };

  /**
   * Sends one request and resolves with the response once its head is in. A request with
   * content uses a connection of its own (`Connection: close`), never a pooled one. The content goes
   * out framed by Node (RFC 9112 §6.1–§6.3): a Content-Length the BFF wrote and verifies, or
   * chunked. The connection is destroyed, never pooled, after anything but a complete exchange
   * (RFC 9112 §9.3, §9.6: a connection is reusable only while both ends agree where each
   * message ends): an error or timeout, content not sent whole (past `limit`, or the browser
   * went away mid-upload), an answer that came before the content was sent (the API may not
   * have read it, and would read the rest as the next request, another user's), or a response
   * not read to its end.
   * Rejects with 502 upstream_unavailable, 504 upstream_timeout, 413 payload_too_large, or
   * 400 bad_request when the browser's content was cut off.
   */
  return function callUpstream(call: UpstreamCall): Promise<http.IncomingMessage> {
    const secure = call.target.protocol === 'https:';
    const withContent = call.body.kind !== 'none';
    const headers = {
      ...call.headers,
      ...(call.body.kind === 'length' ? { 'content-length': String(call.body.length) } : {}),
      ...(withContent ? { connection: 'close' } : {}),
    };
    return new Promise((resolve, reject) => {
      const req = (secure ? https : http).request(call.target, {
        method: call.method,
        headers,
        agent: (withContent ? oneShot : agents)[secure ? 'https' : 'http'],
        timeout: call.timeoutMs,
      });
      let socket: Socket | undefined;
      // Set once the socket may go back to the pool: from then on it may carry another request.
      let released = false;
      const discard = (err?: Error) => {
        if (released) return;
        req.destroy(err);
        socket?.destroy();
      };
      req.on('socket', (s) => (socket = s));
      req.on('timeout', () => discard(new HttpError(504, 'upstream_timeout', 'The API did not answer in time.')));
      req.on('error', (err) => reject(err instanceof HttpError ? err : unavailable('The API could not be reached.', err)));
      let stopSending = () => {};
      req.on('response', (res) => {
        const early = !req.writableFinished;
        if (early) stopSending();
        res.on('end', () => (early ? discard() : (released = true)));
        res.on('close', () => {
          if (!res.complete) discard();
        });
        resolve(res);
      });
      if (call.body.kind === 'none') req.end();
      else stopSending = sendContent(call, req, reject, discard);
    });
  };
}

/**
 * Streams the browser's content into `req`; anything but the whole content, within the limit,
 * rejects and discards the exchange. Returns a function that stops sending (and reading).
 */
function sendContent(call: UpstreamCall, req: http.ClientRequest, reject: (err: HttpError) => void, discard: () => void): () => void {
  const { source, body, limit } = call;
  let sent = 0;
  const count = (chunk: Buffer) => {
    sent += chunk.length;
    if (sent > (body.kind === 'length' ? body.length : limit)) {
      stop();
      reject(new HttpError(413, 'payload_too_large', `The body exceeds ${limit} bytes.`, { headers: { Connection: 'close' } }));
      discard();
    }
  };
  const stop = () => {
    source.unpipe(req);
    source.off('data', count);
    source.pause();
  };
  source.on('data', count);
  source.on('close', () => {
    if (!source.complete || (body.kind === 'length' && sent !== body.length)) {
      reject(new HttpError(400, 'bad_request', 'The request body was cut off.'));
      discard();
    }
  });
  source.pipe(req);
  return stop;
}
