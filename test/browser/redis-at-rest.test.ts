import { userOfKey } from '../support/keys';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildClientIfNeeded } from '../../server/client-build';
import { launchChromium, newLoopbackContext, skipBrowserTests } from '../support/chromium';
import { redisAvailable, redisReader, REDIS_TEST_URL } from '../support/redis';
import { startStack, type Stack, type TokenCacheJson } from '../support/stack';
import { uniquePrefix } from '../support/processes';
import { JWT } from './support/no-tokens';
import { cameBackTo, headerSignIn, submitIdpLogin } from './support/pages';

const runnable = !skipBrowserTests() && (await redisAvailable());

describe.skipIf(!runnable)('tokens at rest in Redis after a full browser run', () => {
  let stack: Stack;
  let redis: Awaited<ReturnType<typeof redisReader>>;
  const prefix = uniquePrefix('at-rest');

  beforeAll(async () => {
    buildClientIfNeeded();
    stack = await startStack({ REDIS_URL: REDIS_TEST_URL, REDIS_KEY_PREFIX: prefix });
    redis = await redisReader();
  });

  afterAll(async () => {
    await stack?.close();
    if (redis) {
      await redis.deleteAll(`${prefix}*`);
      await redis.close();
    }
  });

  test('Redis holds no plain-text token (no JWT, no refresh token value) in any key, signed in and after sign-out', async () => {
    const browser = await launchChromium();
    try {
      const page = await (await newLoopbackContext(browser)).newPage();
      page.setDefaultTimeout(10_000);
      for (const [username, name] of [['alice', 'Alice Example'], ['bob', 'Bob Example']] as const) {
        await page.goto(stack.url);
        await headerSignIn(page).click();
        await submitIdpLogin(page, new URL(stack.bff.idp.issuer).origin, username, 'password');
        await cameBackTo(page, stack.url, 'after signing in');
        await page.getByRole('banner').getByText(name).waitFor();
        await page.getByRole('region', { name: 'Todos' }).getByRole('listitem').first().waitFor();
        if (username === 'alice') {
          // Sign alice out from the SPA before bob signs in, so both states are on record.
          await page.getByRole('banner').getByRole('button', { name: 'Sign out' }).click();
          await page.getByRole('button', { name: /sign me out/i }).click();
          await cameBackTo(page, stack.url, 'after signing out');
          await headerSignIn(page).waitFor();
        }
      }

      const everything = await redis.dump(`${prefix}*`);
      expect(everything.size).toBeGreaterThan(0);
      const tokenKeys = [...everything.keys()].filter((k) => k.startsWith(`${prefix}tokens:`));
      expect(tokenKeys).toHaveLength(1); // bob's; alice's went at her sign-out
      const bobId = userOfKey(tokenKeys[0]!);
      const cache = JSON.parse(stack.bff.sealer.open(JSON.parse(everything.get(tokenKeys[0]!)!).value, bobId)) as TokenCacheJson;
      const secrets = [...Object.values(cache.RefreshToken), ...Object.values(cache.AccessToken), ...Object.values(cache.IdToken)].map((t) => t.secret);
      expect(secrets.length).toBeGreaterThanOrEqual(3);
      for (const [key, value] of everything) {
        expect(`${key} ${value}`).not.toMatch(JWT);
        for (const secret of secrets) expect(value).not.toContain(secret);
      }
    } finally {
      await browser.close();
    }
  });
});
