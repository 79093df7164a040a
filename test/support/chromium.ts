import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions } from 'playwright-core';

/** Debian's Chromium: playwright-core drives it; no browser download (`playwright install`). */
export const CHROMIUM_PATH = '/usr/bin/chromium';

const required = ['1', 'true'].includes(process.env.REQUIRE_BROWSER ?? '');

/**
 * Whether the browser tests must be skipped: only when Chromium is missing and REQUIRE_BROWSER
 * is not set (CI sets it, so a missing browser fails there instead of passing silently).
 */
export function skipBrowserTests(): boolean {
  if (existsSync(CHROMIUM_PATH) || required) return false;
  console.warn(`browser tests skipped: no Chromium at ${CHROMIUM_PATH} (apt-get install -y chromium)`);
  return true;
}

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`REQUIRE_BROWSER is set but there is no Chromium at ${CHROMIUM_PATH} (apt-get install -y chromium)`);
  }
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    // No sandbox: containers and CI runners rarely allow its namespaces. The rest keeps the
    // browser quiet and offline: no update checks, no sync, no QUIC.
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
      '--disable-sync',
      '--disable-quic',
    ],
  });
}

/**
 * A fresh profile that trusts the dev IdP's self-signed CA, and reaches nothing but loopback:
 * oidc-provider's default pages @import Google Fonts, which a test must not depend on.
 * `options` (a User-Agent, a viewport) go to browser.newContext.
 */
export async function newLoopbackContext(browser: Browser, options: BrowserContextOptions = {}): Promise<BrowserContext> {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1100, height: 760 }, ...options });
  await context.route(
    (url) => !['localhost', '127.0.0.1', '[::1]'].includes(url.hostname),
    (route) => route.abort('blockedbyclient'),
  );
  return context;
}
