/**
 * Only same-origin paths may be a redirect target (open redirects: express-openid-connect
 * CVE-2022-24794). Anything else, however it is encoded, becomes `fallback`.
 *
 * Contract: the result is "/" or starts with exactly one "/" and then neither "/" nor "\", and
 * stays so when decoded and normalised again, any number of times. Checked on the result, after
 * the URL parser has removed dot segments: "/.//evil" and "/%2e//evil" only become "//evil" there.
 */
export function safeReturnTo(raw: unknown, fallback = '/'): string {
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > 2048) return fallback;
  if (!staysOnOrigin(raw)) return fallback;
  const url = new URL(raw, BASE);
  const result = `${url.pathname}${url.search}${url.hash}`;
  return staysOnOrigin(result) ? result : fallback;
}

const BASE = 'http://bff.invalid';
/** Beyond this many layers of percent-encoding a value is refused, not decoded further. */
const MAX_DECODES = 4;

/** `value`, and every decoding of it until it no longer changes, is a path of this origin. */
function staysOnOrigin(value: string): boolean {
  let level = value;
  for (let decodes = 0; ; decodes++) {
    if (!isOwnPath(level)) return false;
    let next: string;
    try {
      next = decodeURIComponent(level);
    } catch {
      return false;
    }
    if (next === level) return true;
    if (decodes === MAX_DECODES) return false;
    level = next;
  }
}

function isOwnPath(value: string): boolean {
  // Control characters and backslashes have no place in a path: the URL parser drops tabs and
  // newlines, and browsers read "\" as "/".
  if (/[\u0000-\u001f\u007f\\]/.test(value) || !SINGLE_SLASH.test(value)) return false;
  const url = new URL(value, BASE);
  return url.origin === BASE && SINGLE_SLASH.test(url.pathname);
}

/** "/" alone, or one "/" followed by anything but another "/" or "\" (which would name a host). */
const SINGLE_SLASH = /^\/(?![/\\])/;
