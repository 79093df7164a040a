import { HttpError } from '../errors';

/**
 * How many times a segment is percent-decoded (and NFKC-normalised) while looking for what a
 * server might make of it. Servers decode once or twice (Tomcat, Spring, some gateways); a
 * segment still changing after this many rounds is refused rather than guessed at.
 */
const MAX_INTERPRETATIONS = 4;
const MAX_PATH_CHARS = 2048;
const MAX_QUERY_CHARS = 4096;

const invalidPath = () => new HttpError(400, 'invalid_path', 'The API path is not valid.');

/**
 * The downstream URL for `<mount>/<rest>` (`rawPath` as received, still percent-encoded; `mount`
 * is `/api` or a named API's `/api/<name>`), under `baseUrl`'s path. Throws 400 invalid_path for any path a downstream server could resolve
 * outside that base, or read as something other than what the BFF checked:
 * - a segment that `isUnsafeSegment` refuses (dot segments, RFC 3986 §5.2.4, in any encoding;
 *   encoded `/` or `\`; control characters);
 * - a `%` that starts no valid percent-encoding (RFC 3986 §2.1), `//` after the mount (an
 *   authority, RFC 3986 §3.3), or an over-long path or query.
 */
export function downstreamUrl(baseUrl: string, rawPath: string, querystring: string, mount = '/api'): URL {
  const rest = rawPath.startsWith(mount) && (rawPath.length === mount.length || rawPath[mount.length] === '/') ? rawPath.slice(mount.length) : rawPath;
  if (rest.length > MAX_PATH_CHARS || querystring.length > MAX_QUERY_CHARS || rest.startsWith('//') || /%(?![0-9a-f]{2})/i.test(rest)) {
    throw invalidPath();
  }
  if (rest.split('/').some(isUnsafeSegment)) throw invalidPath();
  const base = new URL(`${baseUrl}/`);
  const basePath = base.pathname.replace(/\/$/, '');
  const target = new URL(`${basePath}${rest || '/'}${querystring ? `?${querystring}` : ''}`, base);
  if (target.origin !== base.origin || !target.pathname.startsWith(basePath)) throw invalidPath();
  return target;
}

/**
 * Whether one raw path segment could, to some server, be a dot segment or more than one
 * segment. Every reading reachable by up to MAX_INTERPRETATIONS steps of percent-decoding
 * (RFC 3986 §2.1, UTF-8 only: overlong forms such as `%c0%ae` are invalid, so refused) or
 * Unicode NFKC normalisation (UAX #15: U+FF0E, U+2024 and U+FE52 become `.`, U+FF0F `/`) is
 * refused when, with its `;parameters` stripped (RFC 3986 §3.3; Tomcat and Spring drop them),
 * it is only dots and white space (`.`, `..`, `.. ` for servers that trim), or when it holds
 * `/`, `\` or a control character (C0, DEL, C1).
 */
export function isUnsafeSegment(raw: string): boolean {
  const seen = new Set<string>();
  let readings = [raw];
  for (let round = 0; readings.length > 0; round++) {
    if (round > MAX_INTERPRETATIONS) return true;
    const next: string[] = [];
    for (const reading of readings) {
      if (seen.has(reading)) continue;
      seen.add(reading);
      if (/[\u0000-\u001f\u007f-\u009f/\\]/.test(reading) || /^\s*\.[.\s]*$/.test(reading.split(';', 1)[0]!)) return true;
      const decoded = percentDecoded(reading);
      if (decoded === undefined) return true;
      next.push(decoded, reading.normalize('NFKC'));
    }
    readings = next.filter((r) => !seen.has(r));
  }
  return false;
}

/** One round of percent-decoding; the string itself when it holds none; undefined when invalid. */
function percentDecoded(s: string): string | undefined {
  if (!/%[0-9a-f]{2}/i.test(s)) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}
