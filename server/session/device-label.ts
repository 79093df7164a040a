/**
 * A device label for the sessions page ("Chrome on Windows") from a User-Agent header, chosen
 * from a fixed vocabulary: the raw header is never stored or echoed, so a crafted User-Agent
 * cannot put text of its own on the page, and a long one costs nothing. Unknown parts read
 * "Browser" / "unknown system". A minimal mapping on purpose (no UA-parsing dependency): the
 * label helps a user tell their devices apart, it is not a security signal (any client can send
 * any User-Agent).
 *
 * Order matters, as browsers borrow each other's tokens: Edge and Opera and Samsung Internet
 * say "Chrome" too, Chrome says "Safari", iPad Safari 13+ says "Macintosh" (MDN, "Browser
 * detection using the user agent").
 */
export function deviceLabel(userAgent: string | undefined): string {
  // Real User-Agents are well under 1 KB; looking at the first 512 characters bounds the work.
  const ua = (userAgent ?? '').slice(0, 512);
  return `${browserOf(ua)} on ${systemOf(ua)}`;
}

const BROWSERS: [RegExp, string][] = [
  [/\bEdg(?:e|A|iOS)?\//, 'Edge'],
  [/\bOPR\/|\bOpera\b/, 'Opera'],
  [/\bSamsungBrowser\//, 'Samsung Internet'],
  [/\bFirefox\/|\bFxiOS\//, 'Firefox'],
  [/(?:\b|Headless)Chrom(?:e|ium)\/|\bCriOS\//, 'Chrome'],
  [/\bVersion\/[\d.]+.*\bSafari\//, 'Safari'],
];

const SYSTEMS: [RegExp, string][] = [
  [/\bWindows\b/, 'Windows'],
  [/\biPhone\b/, 'iPhone'],
  [/\biPad\b/, 'iPad'],
  [/\bAndroid\b/, 'Android'],
  [/\bCrOS\b/, 'ChromeOS'],
  [/\bMac OS X\b|\bMacintosh\b/, 'macOS'],
  [/\bLinux\b/, 'Linux'],
];

function browserOf(ua: string): string {
  return BROWSERS.find(([pattern]) => pattern.test(ua))?.[1] ?? 'Browser';
}

function systemOf(ua: string): string {
  return SYSTEMS.find(([pattern]) => pattern.test(ua))?.[1] ?? 'unknown system';
}
