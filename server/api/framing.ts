import type { IncomingMessage } from 'node:http';
import { HttpError } from '../errors';

/**
 * The content a request carries, as the BFF frames it upstream: nothing; `length` bytes, sent
 * with a Content-Length the BFF writes itself; or a stream of unknown length, which Node sends
 * chunked (RFC 9112 §7.1). The browser's own framing headers are never forwarded.
 */
export type RequestBody = { kind: 'none' } | { kind: 'length'; length: number } | { kind: 'stream' };

/**
 * Methods that may carry content here. GET, HEAD and DELETE may not: RFC 9110 §9.3.1, §9.3.2
 * and §9.3.5 give their content no meaning and warn that it "might lead some implementations
 * to reject the request and close the connection because of its potential as a request
 * smuggling attack"; the SPA sends none. Other methods are refused as 405 before this.
 */
const CONTENT_METHODS = new Set(['POST', 'PUT', 'PATCH']);

// The refused request's content stays unread: close the browser's connection rather than drain it.
const CLOSE = { headers: { Connection: 'close' } };

/**
 * What the request declares, read from the framing Node's HTTP parser accepted (RFC 9112 §6.3:
 * it refuses Transfer-Encoding with Content-Length, repeated or listed lengths, and a last
 * coding other than chunked). Call it before any token work.
 * Throws 400 body_not_allowed when GET, HEAD or DELETE declares content (a Content-Length
 * above 0, or any Transfer-Encoding); 400 bad_request for a transfer coding besides chunked,
 * which Node would leave applied to the content (RFC 9112 §6.1); 413 payload_too_large when
 * the declared length exceeds `limit` (a chunked body is bounded while it streams).
 */
export function requestBody(req: IncomingMessage, limit: number): RequestBody {
  const transferEncoding = req.headers['transfer-encoding'];
  const contentLength = req.headers['content-length'];
  const length = contentLength === undefined ? 0 : Number(contentLength);
  if (!CONTENT_METHODS.has(req.method ?? '')) {
    if (transferEncoding !== undefined || length !== 0) {
      throw new HttpError(400, 'body_not_allowed', `A ${req.method} request carries no content.`, CLOSE);
    }
    return { kind: 'none' };
  }
  if (transferEncoding !== undefined) {
    if (transferEncoding.trim().toLowerCase() !== 'chunked') throw new HttpError(400, 'bad_request', 'Only the chunked transfer coding is accepted.', CLOSE);
    return { kind: 'stream' };
  }
  if (!Number.isSafeInteger(length) || length < 0) throw new HttpError(400, 'bad_request', 'The Content-Length is not valid.', CLOSE);
  if (length > limit) throw new HttpError(413, 'payload_too_large', `The body exceeds ${limit} bytes.`, CLOSE);
  return length === 0 ? { kind: 'none' } : { kind: 'length', length };
}
