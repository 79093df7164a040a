import { describe, expect, it } from 'vitest';
import { loadConfig, SAMPLE_TODO_API_SCOPE } from '../../server/config';
import { problemsOf } from '../support/config-problems';

/** DOWNSTREAM_APIS and DOWNSTREAM_API_<NAME>_*: named APIs, validated at start-up like the rest. */


const PRODUCTION = {
  NODE_ENV: 'production',
  PUBLIC_URL: 'https://app.example.com',
  SESSION_KEYS: 'k'.repeat(32),
  TOKEN_CACHE_KEY: `k1:${Buffer.alloc(32, 1).toString('base64')}`,
  REDIS_URL: 'rediss://redis.example.com:6380',
  ENTRA_TENANT_ID: '11111111-2222-3333-4444-555555555555',
  ENTRA_CLIENT_ID: 'c',
  ENTRA_CLIENT_SECRET: 's',
  API_BASE_URL: 'https://api.example.com',
  API_SCOPES: 'api://my-api/access_as_user',
};

describe('named downstream APIs (configuration)', () => {
  it.each(['openid', 'profile', 'email', 'offline_access', 'Email'])('refuses the standard OpenID scope %s as an API\'s scope, for a named API and for the default one: every token request asks for it', (scope) => {
    expect(problemsOf({ DOWNSTREAM_APIS: 'mail', DOWNSTREAM_API_MAIL_BASE_URL: 'http://localhost:4100', DOWNSTREAM_API_MAIL_SCOPES: scope })).toEqual([
      expect.stringMatching(new RegExp(`^DOWNSTREAM_API_MAIL_SCOPES: the scope ${scope} is a standard OpenID scope`)),
    ]);
    expect(problemsOf({ API_BASE_URL: 'http://localhost:4100', API_SCOPES: `api://mine/read ${scope}` })).toEqual([expect.stringMatching(new RegExp(`^API_SCOPES: the scope ${scope} is a standard OpenID scope`))]);
  });


  it('in development with nothing set, serves the sample todo API as `todo` beside the default sample API', () => {
    const { api } = loadConfig({});
    expect(api.named).toEqual([{ name: 'todo', scopes: [SAMPLE_TODO_API_SCOPE], timeoutMs: 10_000 }]);
    expect(api.sampleTodoPort).toBe(4001);
    expect(loadConfig({ SAMPLE_API_PORT: '0' }).api.sampleTodoPort).toBe(0);
  });

  it('reads each listed API’s base URL, scopes and timeout (default API_TIMEOUT_MS); Microsoft Graph beside the user’s own API', () => {
    const { api } = loadConfig({
      ...PRODUCTION,
      API_TIMEOUT_MS: '7000',
      DOWNSTREAM_APIS: 'graph, orders-v2',
      DOWNSTREAM_API_GRAPH_BASE_URL: 'https://graph.microsoft.com/v1.0/',
      DOWNSTREAM_API_GRAPH_SCOPES: 'https://graph.microsoft.com/User.Read',
      DOWNSTREAM_API_ORDERS_V2_BASE_URL: 'https://orders.example.com/api',
      DOWNSTREAM_API_ORDERS_V2_SCOPES: 'api://orders/read, api://orders/write',
      DOWNSTREAM_API_ORDERS_V2_TIMEOUT_MS: '2500',
    });
    expect(api.baseUrl).toBe('https://api.example.com');
    expect(api.named).toEqual([
      { name: 'graph', baseUrl: 'https://graph.microsoft.com/v1.0', scopes: ['https://graph.microsoft.com/User.Read'], timeoutMs: 7000 },
      { name: 'orders-v2', baseUrl: 'https://orders.example.com/api', scopes: ['api://orders/read', 'api://orders/write'], timeoutMs: 2500 },
    ]);
  });

  it('with API_BASE_URL and no DOWNSTREAM_APIS there are no named APIs (the single-API setup as before)', () => {
    expect(loadConfig({ API_BASE_URL: 'http://localhost:5000' }).api.named).toEqual([]);
  });

  it('refuses a name that is no safe path segment, and a name listed twice', () => {
    const problems = problemsOf({ DOWNSTREAM_APIS: 'Graph,a/b,..,-x,%2e,x_y,todo,todo', DOWNSTREAM_API_TODO_BASE_URL: 'http://localhost:5001', DOWNSTREAM_API_TODO_SCOPES: 'api://t/x' });
    for (const bad of ['Graph', 'a/b', '..', '-x', '%2e', 'x_y']) expect(problems.join('\n')).toContain(`"${bad}" is not a valid API name`);
    expect(problems.join('\n')).toMatch(/^DOWNSTREAM_APIS: names todo twice/m);
  });

  it('requires a base URL and scopes for each API, and names the variable', () => {
    const problems = problemsOf({ DOWNSTREAM_APIS: 'graph', DOWNSTREAM_API_GRAPH_TIMEOUT_MS: '-1' });
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^DOWNSTREAM_API_GRAPH_BASE_URL: is required/),
        expect.stringMatching(/^DOWNSTREAM_API_GRAPH_SCOPES: is required/),
        expect.stringMatching(/^DOWNSTREAM_API_GRAPH_TIMEOUT_MS: expects a positive number of milliseconds/),
      ]),
    );
  });

  it('refuses a scope that belongs to another API (the default one included): its token would reach both', () => {
    const problems = problemsOf({
      API_BASE_URL: 'http://localhost:5000',
      API_SCOPES: 'api://mine/access',
      DOWNSTREAM_APIS: 'a,b',
      DOWNSTREAM_API_A_BASE_URL: 'http://localhost:5001',
      DOWNSTREAM_API_A_SCOPES: 'api://mine/access',
      DOWNSTREAM_API_B_BASE_URL: 'http://localhost:5002',
      DOWNSTREAM_API_B_SCOPES: 'api://b/x API://B/X',
    });
    expect(problems).toEqual([
      "DOWNSTREAM_API_A_SCOPES: the scope api://mine/access is also API_SCOPES's; a scope names one API, or its token would reach both",
      "DOWNSTREAM_API_B_SCOPES: the scope API://B/X is also DOWNSTREAM_API_B_SCOPES's; a scope names one API, or its token would reach both",
    ]);
  });

  it('in production, a base URL must be https (or loopback http, or API_ALLOW_PLAINTEXT_HTTP=1), without query or user info', () => {
    const env = { ...PRODUCTION, DOWNSTREAM_APIS: 'orders', DOWNSTREAM_API_ORDERS_SCOPES: 'api://orders/read' };
    expect(problemsOf({ ...env, DOWNSTREAM_API_ORDERS_BASE_URL: 'http://orders.internal' })).toEqual([expect.stringMatching(/^DOWNSTREAM_API_ORDERS_BASE_URL: must be https:\/\/ in production/)]);
    expect(problemsOf({ ...env, DOWNSTREAM_API_ORDERS_BASE_URL: 'http://127.0.0.1:8080' })).toEqual([]);
    expect(problemsOf({ ...env, DOWNSTREAM_API_ORDERS_BASE_URL: 'http://orders.internal', API_ALLOW_PLAINTEXT_HTTP: '1' })).toEqual([]);
    expect(problemsOf({ ...env, DOWNSTREAM_API_ORDERS_BASE_URL: 'https://u:p@orders.example.com/?x=1' })).toEqual([expect.stringMatching(/^DOWNSTREAM_API_ORDERS_BASE_URL: expects a base URL without query/)]);
    expect(problemsOf({ ...env, DOWNSTREAM_API_ORDERS_BASE_URL: 'ftp://orders.example.com' })).toEqual([expect.stringMatching(/^DOWNSTREAM_API_ORDERS_BASE_URL: expects an absolute http\(s\) URL/)]);
  });

  it('refuses DOWNSTREAM_API_* variables of an API that DOWNSTREAM_APIS does not list (a typo would otherwise be ignored)', () => {
    expect(problemsOf({ DOWNSTREAM_API_GRAFH_SCOPES: 'User.Read' })).toEqual([expect.stringMatching(/^DOWNSTREAM_API_GRAFH_SCOPES: names an API that DOWNSTREAM_APIS does not list/)]);
  });

  it('in production, no sample todo API is added', () => {
    expect(loadConfig(PRODUCTION).api.named).toEqual([]);
  });
});
