import { afterEach, describe, expect, it } from 'vitest';
import { clientAuthentication } from '../../server/identity/client-credential';
import { createLogger } from '../../server/log';
import { createStores } from '../../server/stores';
import { userKey } from '../../server/stores/user-slot';
import { glewlwydAvailable, glewlwydBrowser, signInWithGlewlwyd, signOutAtGlewlwyd, startGlewlwydStack, type Glewlwyd } from '../support/glewlwyd';
import { loadIframes, type Stack, type TokenCacheJson } from '../support/stack';

const hasGlewlwyd = glewlwydAvailable();

/**
 * Issue 15, item 4, against an OpenID provider we did not write: Glewlwyd 2.7.5 publishes a
 * revocation_endpoint (RFC 7009) in its discovery; after a global sign-out started in the SPA,
 * the refresh token the BFF held no longer works at Glewlwyd's token endpoint.
 */
describe.skipIf(!hasGlewlwyd)('refresh-token revocation at sign-out, against Glewlwyd', () => {
  let running: { glewlwyd: Glewlwyd; stack: Stack; close(): Promise<void> } | undefined;
  afterEach(() => running?.close());

  it("after a sign-out started in the SPA and Glewlwyd's end session, the refresh token no longer works at Glewlwyd", async () => {
    const memory = new Map<string, unknown>();
    const lines: string[] = [];
    running = await startGlewlwydStack({}, { stores: createStores({}, { memory }), logger: createLogger((line) => lines.push(line)) });
    const { glewlwyd, stack } = running;
    const events = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((e) => e.event === 'auth.revocation');
    expect(stack.bff.idp.revocationEndpoint).toBe(JSON.parse(stack.bff.idp.metadataJson).revocation_endpoint);
    expect(stack.bff.idp.revocationEndpoint).toMatch(/^https:\/\//);

    const browser = glewlwydBrowser(glewlwyd);
    const { callback, hops } = await signInWithGlewlwyd(browser, stack.url, glewlwyd, 'alice');
    expect(callback?.status, JSON.stringify(hops, null, 1)).toBe(302);
    const session = [...memory].find(([k]) => k.startsWith('sessions:'))!;
    const userId = JSON.parse(String(session[1])).value.user.homeAccountId as string;
    const cache = JSON.parse(stack.bff.sealer.open(JSON.parse(String(memory.get(`tokens:${userKey(userId)}`))).value, userId)) as TokenCacheJson;
    const [refreshToken] = Object.values(cache.RefreshToken).map((t) => t.secret);
    expect(await refreshAt(running, refreshToken!)).toBe('works');

    const logout = await browser.api(`${stack.url}/auth/logout`, { method: 'POST' });
    expect(logout.status).toBe(200);
    const redirect = await browser.get(logout.json().endSessionUrl);
    // Held until Glewlwyd has ended its session and told its other clients.
    expect(await refreshAt(running, refreshToken!)).toBe('works');
    const atIdp = await signOutAtGlewlwyd(browser, redirect.headers.location!, glewlwyd, { loadIframes });
    expect(atIdp.iframeResponses.map((r) => r.status)).toEqual([200]);

    await until(() => events().some((e) => e.outcome === 'revoked'));
    expect(events().map(({ outcome, trigger }) => ({ outcome, trigger }))).toEqual([
      { outcome: 'pending', trigger: undefined },
      { outcome: 'revoked', trigger: 'frontchannel' },
    ]);
    expect(await refreshAt(running, refreshToken!)).toBe('refused (400)');
    expect(lines.join('\n')).not.toContain(refreshToken);
  });
});

/** A refresh grant at the IdP's token endpoint, authenticated as the BFF: 'works', or how it was refused (Glewlwyd: a 400 with no body). */
async function refreshAt({ stack, glewlwyd }: { stack: Stack; glewlwyd: Glewlwyd }, refreshToken: string): Promise<string> {
  const { idp } = stack.bff;
  const tokenEndpoint = JSON.parse(idp.metadataJson).token_endpoint as string;
  const auth = await clientAuthentication(idp, tokenEndpoint);
  const res = await glewlwydBrowser(glewlwyd).post(tokenEndpoint, { form: { grant_type: 'refresh_token', refresh_token: refreshToken, ...auth.fields }, headers: auth.headers });
  return res.status === 200 ? 'works' : `refused (${res.status}${res.body ? ` ${res.body}` : ''})`;
}

async function until(done: () => boolean, timeoutMs = 10_000): Promise<void> {
  for (const end = Date.now() + timeoutMs; Date.now() < end; await new Promise((r) => setTimeout(r, 25))) if (done()) return;
  throw new Error('timed out');
}
