import type { IncomingHttpHeaders } from 'node:http';

/**
 * Representation metadata (RFC 9110 §8.3–§8.8) the SPA may need, passed back as the API sent
 * it. Everything else is dropped: the BFF's own security headers (CSP, nosniff, framing,
 * Cache-Control: no-store) stay whatever the API says, and the API cannot grant CORS, set
 * cookies, redirect through Refresh, preload through Link or clear site data on the BFF's
 * origin. Not here: Content-Length (the BFF frames its own answer), Vary and Expires (nothing
 * is cached under no-store), Accept-Ranges and Content-Range (Range is not forwarded).
 */
const REPRESENTATION = ['content-type', 'content-encoding', 'content-language', 'content-disposition', 'etag', 'last-modified'];

/**
 * The API answer's headers the browser gets: REPRESENTATION; Retry-After on 429 and 503
 * (RFC 9110 §10.2.3, RFC 6585 §4); Content-Length on an answer to HEAD, where it describes the
 * representation and frames nothing; Location (RFC 9110 §10.2.2, e.g. on 201) only when it
 * names a resource under the API base, rewritten to its `/api/…` (`/api/<name>/…`) path, so that it can neither
 * send the SPA's fetch to another origin nor reveal where the API lives.
 */
export function responseHeaders(
  upstream: { statusCode?: number; headers: IncomingHttpHeaders },
  request: { method: string; target: URL; baseUrl: string; mount?: string },
): Record<string, string> {
  const kept: Record<string, string> = {};
  const single = (name: string) => {
    const value = upstream.headers[name];
    return typeof value === 'string' ? value : undefined;
  };
  for (const name of REPRESENTATION) {
    const value = single(name);
    if (value !== undefined) kept[name] = value;
  }
  const retryAfter = single('retry-after');
  if (retryAfter !== undefined && (upstream.statusCode === 429 || upstream.statusCode === 503)) kept['retry-after'] = retryAfter;
  const length = single('content-length');
  if (request.method === 'HEAD' && length !== undefined && /^\d+$/.test(length)) kept['content-length'] = length;
  const location = single('location');
  const bffLocation = location === undefined ? undefined : apiPathFor(location, request.target, request.baseUrl, request.mount ?? '/api');
  if (bffLocation !== undefined) kept.location = bffLocation;
  return kept;
}

/** `<mount>/<rest>` for a URI reference under the API base (resolved against the request's target). */
function apiPathFor(reference: string, target: URL, baseUrl: string, mount: string): string | undefined {
  let resolved: URL;
  try {
    resolved = new URL(reference, target);
  } catch {
    return undefined;
  }
  const base = new URL(`${baseUrl}/`);
  const basePath = base.pathname.replace(/\/$/, '');
  if (resolved.origin !== base.origin) return undefined;
  if (resolved.pathname !== basePath && !resolved.pathname.startsWith(`${basePath}/`)) return undefined;
  return `${mount}${resolved.pathname.slice(basePath.length)}${resolved.search}`;
}
