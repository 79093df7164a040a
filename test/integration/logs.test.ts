import { describe, expect, it } from 'vitest';
import { DEV_BFF_CLIENT_SECRET } from '../../server/dev-idp';
import { createLogger } from '../../server/log';
import { JWT_PATTERN, loadIframes, startInspectableStack } from '../support/stack';

describe('logs', () => {
  it('carry a request id, the route and the outcome, and never a token, code, secret or cookie value', async () => {
    const lines: string[] = [];
    const { stack, keys } = await startInspectableStack({ LOG_REQUESTS: '1' }, { logger: createLogger((line) => lines.push(line)) });
    try {
      const browser = stack.browser();
      const callback = await stack.signIn(browser, 'alice');
      const code = new URL(callback.url).searchParams.get('code')!;
      const cookie = (await browser.cookie(stack.url, 'bff.sid'))!;
      await browser.api(`${stack.url}/api/me`);
      await browser.api(`${stack.url}/api/../../etc/passwd`);
      const sid = keys('logout:sid:')[0]!.split(' ').pop()!;
      await loadIframes([`${stack.url}/auth/frontchannel-logout?sid=${sid}`]);

      const all = lines.join('\n');
      expect(all).not.toMatch(JWT_PATTERN);
      expect(all).not.toContain(code);
      expect(all).not.toContain(cookie);
      expect(all).not.toContain(sid);
      expect(all).not.toContain(DEV_BFF_CLIENT_SECRET);

      const entries = lines.map((l) => JSON.parse(l));
      const requests = entries.filter((e) => e.event === 'request');
      expect(requests.length).toBeGreaterThan(3);
      for (const r of requests) {
        expect(r.requestId).toMatch(/^[0-9a-f-]{36}$/);
        expect(r.route).toMatch(/^\//);
        expect(r.route).not.toContain('?');
        expect(typeof r.status).toBe('number');
      }
      const signOut = entries.find((e) => e.event === 'auth.signout');
      expect(signOut).toMatchObject({ path: 'frontchannel', sessionsEnded: 1 });
      expect(signOut.requestId).toMatch(/^[0-9a-f-]{36}$/);
    } finally {
      await stack.close();
    }
  });
});
