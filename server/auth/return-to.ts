/**
 * Only same-origin paths may be a redirect target (open redirects: express-openid-connect
 * CVE-2022-24794). Anything else, however it is encoded, becomes "/".
 */
export function safeReturnTo(raw: unknown, fallback = '/'): string {
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > 2048) return fallback;
  // Control characters and backslashes have no place in a path; browsers treat "\" as "/".
  if (/[\u0000-\u001f\u007f\\]/.test(raw)) return fallback;
  if (!raw.startsWith('/') || raw.startsWith('//')) return fallback;
  let decoded = raw;
  try {
    // Reject encoded tricks such as /%2F%2Fevil or /%5Cevil: decode until stable.
    for (let i = 0; i < 3; i++) {
      const next = decodeURIComponent(decoded);
      if (next === decoded) break;
      decoded = next;
    }
  } catch {
    return fallback;
  }
  if (/[\u0000-\u001f\u007f\\]/.test(decoded) || decoded.startsWith('//')) return fallback;
  const base = 'http://bff.invalid';
  const url = new URL(raw, base);
  if (url.origin !== base) return fallback;
  return `${url.pathname}${url.search}${url.hash}`;
}
