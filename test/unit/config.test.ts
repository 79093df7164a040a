import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../server/config';

const problemsOf = (env: Record<string, string>) => {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
};

describe('configuration', () => {
  it('runs on embedded defaults with nothing set: dev IdP, sample API, in-memory stores', () => {
    const config = loadConfig({});
    expect(config.port).toBe(3000);
    expect(config.publicUrl).toBe('http://localhost:3000');
    expect(config.identity).toMatchObject({ kind: 'dev', port: 4443 });
    expect(config.redisUrl).toBeUndefined();
    expect(config.api.baseUrl).toBeUndefined();
    expect(config.sessionKeysGenerated).toBe(true);
    expect(config.sessionIdleMs).toBe(30 * 60_000);
    expect(config.sessionAbsoluteMs).toBe(12 * 3_600_000);
    expect(config.postLogoutRedirectUri).toBe('http://localhost:3000/');
  });

  it('is frozen, all the way down', () => {
    const config = loadConfig({});
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.api)).toBe(true);
    expect(Object.isFrozen(config.identity)).toBe(true);
  });

  it('names every bad variable in one message', () => {
    const problems = problemsOf({ PORT: 'eighty', PUBLIC_URL: 'not a url', SESSION_IDLE_MINUTES: '-5', REDIS_URL: 'http://redis' });
    expect(problems.map((p) => p.split(':')[0]).sort()).toEqual(['PORT', 'PUBLIC_URL', 'REDIS_URL', 'SESSION_IDLE_MINUTES']);
    expect(problems.join('\n')).toMatch(/PORT: expects a port number/);
  });

  it('asks for the rest of a half-configured identity provider', () => {
    const problems = problemsOf({ ENTRA_TENANT_ID: 'contoso' });
    expect(problems).toEqual(expect.arrayContaining([expect.stringMatching(/^ENTRA_CLIENT_ID: is required/), expect.stringMatching(/^ENTRA_CLIENT_SECRET: is required/)]));
  });

  it('refuses two identity providers at once', () => {
    const problems = problemsOf({
      ENTRA_TENANT_ID: 't', ENTRA_CLIENT_ID: 'c', ENTRA_CLIENT_SECRET: 's',
      OIDC_AUTHORITY: 'https://idp.example', OIDC_CLIENT_ID: 'c', OIDC_CLIENT_SECRET: 's',
    });
    expect(problems.join('\n')).toMatch(/set one identity provider, not both/);
  });

  it('requires https for OIDC_AUTHORITY and a readable OIDC_CA_FILE', () => {
    const problems = problemsOf({ OIDC_AUTHORITY: 'http://idp.example', OIDC_CLIENT_ID: 'c', OIDC_CLIENT_SECRET: 's' });
    expect(problems.join('\n')).toMatch(/OIDC_AUTHORITY: expects an absolute https URL/);
    const missingCa = problemsOf({ OIDC_AUTHORITY: 'https://idp.example', OIDC_CLIENT_ID: 'c', OIDC_CLIENT_SECRET: 's', OIDC_CA_FILE: '/nonexistent/ca.pem' });
    expect(missingCa.join('\n')).toMatch(/OIDC_CA_FILE: cannot read/);
  });

  it('refuses dev defaults in production', () => {
    const problems = problemsOf({ NODE_ENV: 'production' });
    const names = problems.map((p) => p.split(':')[0]);
    expect(names).toEqual(expect.arrayContaining(['SESSION_KEYS', 'TOKEN_CACHE_KEY', 'ENTRA_* or OIDC_*', 'API_BASE_URL', 'PUBLIC_URL']));
  });

  it('accepts a complete production configuration for Entra ID, with back-channel logout off', () => {
    const config = loadConfig({
      NODE_ENV: 'production',
      PUBLIC_URL: 'https://app.example.com',
      SESSION_KEYS: 'k'.repeat(32),
      TOKEN_CACHE_KEY: `k1:${Buffer.alloc(32, 7).toString('base64')}`,
      ENTRA_TENANT_ID: 'contoso.onmicrosoft.com',
      ENTRA_CLIENT_ID: '00000000-0000-0000-0000-000000000001',
      ENTRA_CLIENT_SECRET: 'secret',
      API_BASE_URL: 'https://api.example.com/v1/',
      API_SCOPES: 'api://my-api/read api://my-api/write',
    });
    expect(config.production).toBe(true);
    expect(config.identity).toMatchObject({ kind: 'entra', cloudInstance: 'https://login.microsoftonline.com' });
    expect(config.api.baseUrl).toBe('https://api.example.com/v1');
    expect(config.api.scopes).toEqual(['api://my-api/read', 'api://my-api/write']);
    expect(config.backchannelLogout).toBe(false);
  });

  it('rejects short session keys and a PUBLIC_URL with a path', () => {
    expect(problemsOf({ SESSION_KEYS: 'short' }).join('\n')).toMatch(/SESSION_KEYS: each key must be at least 32 characters/);
    expect(problemsOf({ PUBLIC_URL: 'http://localhost:3000/app' }).join('\n')).toMatch(/PUBLIC_URL: expects an origin only/);
  });

  it('refuses the multi-tenant aliases as ENTRA_TENANT_ID', () => {
    const problems = problemsOf({ ENTRA_TENANT_ID: 'common', ENTRA_CLIENT_ID: 'c', ENTRA_CLIENT_SECRET: 's' });
    expect(problems.join('\n')).toMatch(/ENTRA_TENANT_ID: expects your tenant's id or domain, not "common"/);
  });
});
