import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../server/config';
import { createHash, createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { calculateJwkThumbprint } from 'jose';
import { clientCertificate, keyFolder, privateKeyPem, writeKeyFile } from '../support/client-keys';
import { problemsOf } from '../support/config-problems';


describe('configuration', () => {
  it('runs on embedded defaults with nothing set: dev IdP, sample API, in-memory stores', () => {
    const config = loadConfig({});
    expect(config.port).toBe(3000);
    expect(config.publicUrl).toBe('http://localhost:3000');
    expect(config.identity).toMatchObject({ kind: 'dev', port: 4443 });
    expect(config.redis).toBeUndefined();
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
    expect(problems).toEqual(expect.arrayContaining([expect.stringMatching(/^ENTRA_CLIENT_ID: is required/), expect.stringMatching(/^ENTRA_CLIENT_SECRET or ENTRA_CLIENT_CERTIFICATE_KEY_FILE: a client credential is required/)]));
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
      REDIS_URL: 'rediss://redis.example.com:6380',
    });
    expect(config.production).toBe(true);
    expect(config.redis).toEqual({ kind: 'standalone', url: 'rediss://redis.example.com:6380' });
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

/** A complete production configuration: TLS to the API and to Redis. */
const PRODUCTION = {
  NODE_ENV: 'production',
  PUBLIC_URL: 'https://app.example.com',
  SESSION_KEYS: 'k'.repeat(32),
  TOKEN_CACHE_KEY: `k1:${Buffer.alloc(32, 7).toString('base64')}`,
  OIDC_AUTHORITY: 'https://idp.example.com',
  OIDC_CLIENT_ID: 'bff',
  OIDC_CLIENT_SECRET: 'secret',
  API_BASE_URL: 'https://api.example.com',
  REDIS_URL: 'rediss://redis.example.com:6380',
};
const inProduction = (env: Record<string, string | undefined>) =>
  problemsOf(Object.fromEntries(Object.entries({ ...PRODUCTION, ...env }).filter((e): e is [string, string] => e[1] !== undefined)));

// Spellings of localhost, 127.0.0.0/8 and ::1 that every URL parser agrees on.
const LOOPBACK = ['localhost', 'LOCALHOST', 'LocalHost', '127.0.0.1', '127.0.0.2', '127.1.2.3', '127.255.255.254', '[::1]', '[0:0:0:0:0:0:0:1]'];
// Hosts that look like loopback and are not (or are other addresses of this machine, never plain loopback).
const LOOK_ALIKES = [
  '127.0.0.1.evil.example', 'localhost.evil.example', '127.0.0.1.nip.io', 'evil.localhost', 'localhost.', 'localhost.localdomain',
  '[::ffff:127.0.0.1]', '[::ffff:7f00:1]', '[::]', '0.0.0.0', '128.0.0.1', '126.255.255.255', '10.0.0.1', '[::2]',
  '127.0.0.1@evil.example', 'localhost:6379@evil.example', 'evil.example#@127.0.0.1', 'evil.example?@localhost',
];

describe('production refuses what gives up transport security or global sign-out, unless told so by name', () => {
  it('accepts the complete production configuration these tests start from', () => {
    expect(inProduction({})).toEqual([]);
  });

  it('refuses an http:// API_BASE_URL to a host other than loopback in production, naming the opt-in', () => {
    const problems = inProduction({ API_BASE_URL: 'http://api.internal:8080/v1' });
    expect(problems).toEqual([expect.stringMatching(/^API_BASE_URL: must be https:\/\/ in production, or http:\/\/ to a loopback host .*API_ALLOW_PLAINTEXT_HTTP=1/)]);
    expect(problems[0]).toContain('api.internal');
    // Development is not production: http to anywhere, as before.
    expect(problemsOf({ API_BASE_URL: 'http://api.internal:8080/v1' })).toEqual([]);
  });

  it('API_ALLOW_PLAINTEXT_HTTP=1, and only it, lets production call a remote API over http://', () => {
    const plain = { API_BASE_URL: 'http://api.internal:8080/v1' };
    expect(inProduction({ ...plain, API_ALLOW_PLAINTEXT_HTTP: '0' }).map((p) => p.split(':')[0])).toEqual(['API_BASE_URL']);
    expect(inProduction({ ...plain, REDIS_ALLOW_PLAINTEXT: '1' }).map((p) => p.split(':')[0])).toEqual(['API_BASE_URL']);
    expect(loadConfig({ ...PRODUCTION, ...plain, API_ALLOW_PLAINTEXT_HTTP: '1' }).api.baseUrl).toBe('http://api.internal:8080/v1');
  });

  it('refuses a plain redis:// REDIS_URL to a host other than loopback in production, unless REDIS_ALLOW_PLAINTEXT=1; rediss:// is always accepted', () => {
    const problems = inProduction({ REDIS_URL: 'redis://:secret@redis.internal:6379/0' });
    expect(problems).toEqual([expect.stringMatching(/^REDIS_URL: must be rediss:\/\/ \(TLS\) in production, or redis:\/\/ to a loopback host .*REDIS_ALLOW_PLAINTEXT=1/)]);
    expect(problems[0]).toContain('redis.internal');
    expect(problems[0]).not.toContain('secret');
    expect(loadConfig({ ...PRODUCTION, REDIS_URL: 'redis://redis.internal:6379', REDIS_ALLOW_PLAINTEXT: '1' }).redis).toEqual({ kind: 'standalone', url: 'redis://redis.internal:6379' });
    expect(inProduction({ REDIS_URL: 'rediss://redis.internal:6380' })).toEqual([]);
    expect(inProduction({ REDIS_URL: 'rediss://redis.internal:6380', REDIS_CLUSTER: '1' })).toEqual([]);
    expect(problemsOf({ REDIS_URL: 'redis://redis.internal:6379' })).toEqual([]);
  });

  it('refuses a plain redis:// REDIS_URL with REDIS_CLUSTER=1 in production even to a loopback root node, unless REDIS_ALLOW_PLAINTEXT=1', () => {
    // The root node only tells where the cluster's nodes are: the BFF then connects to those.
    const problems = inProduction({ REDIS_URL: 'redis://127.0.0.1:7000', REDIS_CLUSTER: '1' });
    expect(problems).toEqual([expect.stringMatching(/^REDIS_URL: .*REDIS_CLUSTER=1.*REDIS_ALLOW_PLAINTEXT=1/)]);
    expect(inProduction({ REDIS_URL: 'redis://127.0.0.1:7000', REDIS_CLUSTER: '1', REDIS_ALLOW_PLAINTEXT: '1' })).toEqual([]);
    expect(inProduction({ REDIS_URL: 'redis://127.0.0.1:6379' })).toEqual([]);
  });

  it('reads REDIS_SENTINEL as a primary name and its sentinels, with REDIS_PASSWORD for both, and refuses a malformed or contradictory one by name', () => {
    expect(loadConfig({ REDIS_SENTINEL: 'mymaster@10.0.0.5:26379,sentinel-2.internal:26380,[::1]:26381', REDIS_PASSWORD: 's3cret' }).redis).toEqual({
      kind: 'sentinel',
      name: 'mymaster',
      sentinels: [
        { host: '10.0.0.5', port: 26379 },
        { host: 'sentinel-2.internal', port: 26380 },
        { host: '::1', port: 26381 },
      ],
      password: 's3cret',
    });
    for (const bad of ['mymaster', '@127.0.0.1:26379', 'mymaster@127.0.0.1', 'mymaster@127.0.0.1:26379,', 'my master@h:1', 'm@h:1;rm'])
      expect(problemsOf({ REDIS_SENTINEL: bad })).toEqual([expect.stringMatching(/^REDIS_SENTINEL: expects <primary name>@<host>:<port>/)]);
    for (const port of ['0', '65536', '99999']) expect(problemsOf({ REDIS_SENTINEL: `m@127.0.0.1:26379,127.0.0.1:${port}` })).toEqual(['REDIS_SENTINEL: expects every sentinel port in 1-65535']);
    expect(loadConfig({ REDIS_URL: 'rediss://r.example:6380', REDIS_CLUSTER: '1', REDIS_SIGNOUT_REPLICAS: '2' }).redis).toEqual({ kind: 'cluster', url: 'rediss://r.example:6380', signOutReplicas: 2 });
    for (const bad of ['-1', '1.5', 'one', '17']) expect(problemsOf({ REDIS_URL: 'redis://127.0.0.1:6379', REDIS_SIGNOUT_REPLICAS: bad })).toEqual([expect.stringMatching(/^REDIS_SIGNOUT_REPLICAS: expects/)]);
    expect(problemsOf({ REDIS_SENTINEL: 'm@h:1', REDIS_URL: 'redis://127.0.0.1:6379' })).toEqual([expect.stringMatching(/^REDIS_SENTINEL: .*cannot be combined with REDIS_URL/)]);
    expect(problemsOf({ REDIS_PASSWORD: 'x', REDIS_URL: 'redis://127.0.0.1:6379' })).toEqual([expect.stringMatching(/^REDIS_PASSWORD: is for REDIS_SENTINEL only/)]);
    expect(problemsOf({ REDIS_CLUSTER: '1' })).toEqual([expect.stringMatching(/^REDIS_CLUSTER: expects REDIS_URL/)]);
  });

  it('refuses REDIS_SENTINEL in production unless REDIS_ALLOW_PLAINTEXT=1 says the traffic may go unencrypted', () => {
    const problems = inProduction({ REDIS_URL: undefined, REDIS_SENTINEL: 'mymaster@127.0.0.1:26379', REDIS_PASSWORD: 'hunter22' });
    expect(problems).toEqual([expect.stringMatching(/^REDIS_SENTINEL: .*without TLS.*REDIS_ALLOW_PLAINTEXT=1/)]);
    expect(problems[0]).not.toContain('hunter22');
    expect(inProduction({ REDIS_URL: undefined, REDIS_SENTINEL: 'mymaster@127.0.0.1:26379', REDIS_ALLOW_PLAINTEXT: '1' })).toEqual([]);
  });

  it('refuses in-memory stores (no REDIS_URL) in production unless SINGLE_INSTANCE_MEMORY_STORES=1', () => {
    const problems = inProduction({ REDIS_URL: undefined });
    expect(problems).toEqual([expect.stringMatching(/^REDIS_URL: is required in production.*sign-out.*SINGLE_INSTANCE_MEMORY_STORES=1/)]);
    const config = loadConfig({ ...PRODUCTION, REDIS_URL: undefined, SINGLE_INSTANCE_MEMORY_STORES: '1' });
    expect(config.redis).toBeUndefined();
    expect(problemsOf({})).toEqual([]);
  });

  it('refuses SINGLE_INSTANCE_MEMORY_STORES=1 together with REDIS_URL, which would contradict it', () => {
    expect(inProduction({ SINGLE_INSTANCE_MEMORY_STORES: '1' })).toEqual([expect.stringMatching(/^SINGLE_INSTANCE_MEMORY_STORES: .*REDIS_URL/)]);
    expect(problemsOf({ REDIS_URL: 'redis://localhost:6379', SINGLE_INSTANCE_MEMORY_STORES: '1' })).toEqual([expect.stringMatching(/^SINGLE_INSTANCE_MEMORY_STORES: /)]);
  });

  it('refuses JWKS_REFETCH_COOLDOWN_SECONDS below 1 in production, and still takes 0 in development', () => {
    for (const value of ['0', '0.5']) {
      expect(inProduction({ JWKS_REFETCH_COOLDOWN_SECONDS: value }), value).toEqual([expect.stringMatching(/^JWKS_REFETCH_COOLDOWN_SECONDS: must be at least 1 in production/)]);
    }
    expect(loadConfig({ ...PRODUCTION, JWKS_REFETCH_COOLDOWN_SECONDS: '1' }).jwksCooldownMs).toBe(1000);
    expect(loadConfig({ JWKS_REFETCH_COOLDOWN_SECONDS: '0' }).jwksCooldownMs).toBe(0);
  });

  it('lists every production refusal at once', () => {
    const problems = inProduction({ API_BASE_URL: 'http://api.internal', REDIS_URL: undefined, JWKS_REFETCH_COOLDOWN_SECONDS: '0' });
    expect(problems.map((p) => p.split(':')[0]).sort()).toEqual(['API_BASE_URL', 'JWKS_REFETCH_COOLDOWN_SECONDS', 'REDIS_URL']);
  });

  it('counts localhost, 127.0.0.0/8 and [::1] as loopback in any case and full IPv6 spelling, for http:// API_BASE_URL and redis:// REDIS_URL', () => {
    const outcomes = LOOPBACK.flatMap((host) => [
      `API_BASE_URL http://${host}:8080: ${inProduction({ API_BASE_URL: `http://${host}:8080/v1` }).join('; ') || 'accepted'}`,
      `REDIS_URL redis://${host}:6379: ${inProduction({ REDIS_URL: `redis://${host}:6379` }).join('; ') || 'accepted'}`,
    ]);
    expect(outcomes.filter((o) => !o.endsWith(': accepted'))).toEqual([]);
  });

  it('counts the IPv4 spellings the WHATWG parser turns into 127.x.x.x as loopback for http://, as the HTTP client will connect there', () => {
    for (const host of ['127.1', '0x7f.0.0.1', '2130706433', '127.0.0.1.']) {
      expect(inProduction({ API_BASE_URL: `http://${host}:8080` }), host).toEqual([]);
    }
  });

  it('refuses every look-alike of a loopback host, for http:// API_BASE_URL and redis:// REDIS_URL', () => {
    // redis: URLs are not normalised by the URL parser, so non-canonical IPv4 forms are refused there too.
    const redisOnly = ['127.1', '0x7f.0.0.1', '2130706433', '0177.0.0.1', '127.000.000.001', '127.0.0.1.', 'local%68ost', 'localhost%2eevil.example'];
    const outcomes = [
      ...LOOK_ALIKES.map((host) => ({ name: 'API_BASE_URL', url: `http://${host}/v1`, problems: inProduction({ API_BASE_URL: `http://${host}/v1` }) })),
      ...[...LOOK_ALIKES, ...redisOnly].map((host) => ({ name: 'REDIS_URL', url: `redis://${host}`, problems: inProduction({ REDIS_URL: `redis://${host}` }) })),
    ];
    const accepted = outcomes.filter((o) => !(o.problems.length === 1 && o.problems[0]!.startsWith(`${o.name}: `)));
    expect(accepted.map((o) => `${o.url}: ${o.problems.join('; ') || 'accepted'}`)).toEqual([]);
  });
});

describe('client credentials', () => {
  const entra = { ENTRA_TENANT_ID: 'contoso.example', ENTRA_CLIENT_ID: 'c' };
  const oidc = { OIDC_AUTHORITY: 'https://idp.example', OIDC_CLIENT_ID: 'c' };
  const dir = keyFolder();
  let cert: { keyPem: string; certPem: string; keyFile: string; certFile: string };
  const ec = writeKeyFile(dir, 'ec.pem', privateKeyPem({ ec: 'prime256v1' }));
  const rsa = writeKeyFile(dir, 'rsa.pem', privateKeyPem({ rsa: 2048 }));

  beforeAll(async () => {
    const { keyPem, certPem } = await clientCertificate();
    cert = { keyPem, certPem, keyFile: writeKeyFile(dir, 'cert-key.pem', keyPem), certFile: writeKeyFile(dir, 'cert.pem', certPem) };
  });

  it('Entra: refuses a certificate key of fewer than 2048 bits, as for private_key_jwt', () => {
    const small = writeKeyFile(dir, 'small-cert-key.pem', privateKeyPem({ rsa: 1024 }));
    expect(problemsOf({ ...entra, ENTRA_CLIENT_CERTIFICATE_KEY_FILE: small, ENTRA_CLIENT_CERTIFICATE_THUMBPRINT: 'ab'.repeat(32) })).toEqual([
      expect.stringMatching(/^ENTRA_CLIENT_CERTIFICATE_KEY_FILE: .*RSA of 1024 bits; expects an RSA key of 2048 bits or more/),
    ]);
  });

  it('Entra: names both variables when a secret and a certificate are set', () => {
    const problems = problemsOf({ ...entra, ENTRA_CLIENT_SECRET: 's', ENTRA_CLIENT_CERTIFICATE_KEY_FILE: cert.keyFile, ENTRA_CLIENT_CERTIFICATE_FILE: cert.certFile });
    expect(problems).toEqual([expect.stringMatching(/^ENTRA_CLIENT_SECRET and ENTRA_CLIENT_CERTIFICATE_KEY_FILE, ENTRA_CLIENT_CERTIFICATE_FILE: set one client credential, not both/)]);
  });

  it('Entra: names the choices when no client credential is set', () => {
    expect(problemsOf(entra)).toEqual([
      'ENTRA_CLIENT_SECRET or ENTRA_CLIENT_CERTIFICATE_KEY_FILE: a client credential is required: a secret (ENTRA_CLIENT_SECRET), or a certificate (ENTRA_CLIENT_CERTIFICATE_KEY_FILE with ENTRA_CLIENT_CERTIFICATE_FILE or ENTRA_CLIENT_CERTIFICATE_THUMBPRINT)',
    ]);
  });

  it('Entra: a certificate needs its key file and either its certificate file or its thumbprint, not both', () => {
    expect(problemsOf({ ...entra, ENTRA_CLIENT_CERTIFICATE_KEY_FILE: cert.keyFile })).toEqual([expect.stringMatching(/^ENTRA_CLIENT_CERTIFICATE_FILE or ENTRA_CLIENT_CERTIFICATE_THUMBPRINT: is required with ENTRA_CLIENT_CERTIFICATE_KEY_FILE/)]);
    expect(problemsOf({ ...entra, ENTRA_CLIENT_CERTIFICATE_FILE: cert.certFile })).toEqual([expect.stringMatching(/^ENTRA_CLIENT_CERTIFICATE_KEY_FILE: is required when ENTRA_CLIENT_CERTIFICATE_FILE is set/)]);
    const both = problemsOf({ ...entra, ENTRA_CLIENT_CERTIFICATE_KEY_FILE: cert.keyFile, ENTRA_CLIENT_CERTIFICATE_FILE: cert.certFile, ENTRA_CLIENT_CERTIFICATE_THUMBPRINT: 'ab'.repeat(32) });
    expect(both).toEqual([expect.stringMatching(/^ENTRA_CLIENT_CERTIFICATE_FILE and ENTRA_CLIENT_CERTIFICATE_THUMBPRINT: set one, not both/)]);
    expect(problemsOf({ ...entra, ENTRA_CLIENT_CERTIFICATE_KEY_FILE: cert.keyFile, ENTRA_CLIENT_CERTIFICATE_THUMBPRINT: 'not-hex' })).toEqual([expect.stringMatching(/^ENTRA_CLIENT_CERTIFICATE_THUMBPRINT: expects the certificate's thumbprint in hex/)]);
  });

  it('Entra: names the file variable that is unreadable, not a key, not a certificate, or not the certificate’s key', () => {
    const withFiles = (key: string, certificate: string) => problemsOf({ ...entra, ENTRA_CLIENT_CERTIFICATE_KEY_FILE: key, ENTRA_CLIENT_CERTIFICATE_FILE: certificate });
    expect(withFiles('/nonexistent/key.pem', cert.certFile)).toEqual([expect.stringMatching(/^ENTRA_CLIENT_CERTIFICATE_KEY_FILE: cannot read \/nonexistent\/key.pem; expects a readable file/)]);
    expect(withFiles(cert.certFile, cert.certFile)).toEqual([expect.stringMatching(/^ENTRA_CLIENT_CERTIFICATE_KEY_FILE: .* holds no private key; expects an unencrypted private key/)]);
    expect(withFiles(ec, cert.certFile)).toEqual([expect.stringMatching(/^ENTRA_CLIENT_CERTIFICATE_KEY_FILE: the key in .* is ec; expects the RSA private key of the certificate/)]);
    expect(withFiles(cert.keyFile, cert.keyFile)).toEqual([expect.stringMatching(/^ENTRA_CLIENT_CERTIFICATE_FILE: .* holds no certificate; expects a PEM certificate/)]);
    expect(withFiles(cert.keyFile, '/nonexistent/cert.pem')).toEqual([expect.stringMatching(/^ENTRA_CLIENT_CERTIFICATE_FILE: cannot read/)]);
    expect(withFiles(rsa, cert.certFile)).toEqual([expect.stringMatching(/^ENTRA_CLIENT_CERTIFICATE_KEY_FILE: the key in .* is not the private key of the certificate in/)]);
  });

  it('Entra: a certificate file gives the SHA-256 thumbprint and the chain; a thumbprint alone is taken as given (64 digits SHA-256, 40 SHA-1)', () => {
    const der = new X509Certificate(cert.certPem).raw;
    const fromFile = loadConfig({ ...entra, ENTRA_CLIENT_CERTIFICATE_KEY_FILE: cert.keyFile, ENTRA_CLIENT_CERTIFICATE_FILE: cert.certFile }).identity;
    expect(fromFile).toMatchObject({ kind: 'entra', credential: { kind: 'certificate', thumbprint: { alg: 'sha256', hex: createHash('sha256').update(der).digest('hex') }, certificatePem: cert.certPem } });
    const sha1 = createHash('sha1').update(der).digest('hex').toUpperCase();
    const byThumbprint = loadConfig({ ...entra, ENTRA_CLIENT_CERTIFICATE_KEY_FILE: cert.keyFile, ENTRA_CLIENT_CERTIFICATE_THUMBPRINT: sha1.match(/../g)!.join(':') }).identity;
    expect(byThumbprint).toMatchObject({ credential: { kind: 'certificate', thumbprint: { alg: 'sha1', hex: sha1.toLowerCase() } } });
    expect(byThumbprint.kind === 'entra' && byThumbprint.credential.kind === 'certificate' && byThumbprint.credential.certificatePem).toBe(undefined);
  });

  it('OIDC: names both variables when a secret and a key are set, and the choices when neither is', () => {
    expect(problemsOf({ ...oidc, OIDC_CLIENT_SECRET: 's', OIDC_CLIENT_KEY_FILE: ec })).toEqual([expect.stringMatching(/^OIDC_CLIENT_SECRET and OIDC_CLIENT_KEY_FILE: set one client credential, not both/)]);
    expect(problemsOf(oidc)).toEqual([expect.stringMatching(/^OIDC_CLIENT_SECRET or OIDC_CLIENT_KEY_FILE: a client credential is required/)]);
    expect(problemsOf({ ...oidc, OIDC_CLIENT_KEY_ID: 'k1' })).toEqual([expect.stringMatching(/^OIDC_CLIENT_KEY_FILE: is required when OIDC_CLIENT_KEY_ID is set/)]);
    expect(problemsOf({ OIDC_CLIENT_KEY_FILE: ec })).toEqual(['OIDC_AUTHORITY: is required when OIDC_CLIENT_KEY_FILE is set', 'OIDC_CLIENT_ID: is required when OIDC_CLIENT_KEY_FILE is set']);
  });

  it('OIDC: refuses a key file that is unreadable, public, encrypted, too small, of another curve, or unfit for OIDC_CLIENT_KEY_ALG', () => {
    const keyProblems = (file: string, more: Record<string, string> = {}) => problemsOf({ ...oidc, OIDC_CLIENT_KEY_FILE: file, ...more });
    const publicPem = writeKeyFile(dir, 'public.pem', createPublicKey(createPrivateKey(privateKeyPem({ ec: 'prime256v1' }))).export({ format: 'pem', type: 'spki' }) as string);
    const publicJwk = writeKeyFile(dir, 'public.jwk', JSON.stringify(createPublicKey(createPrivateKey(privateKeyPem({ ec: 'prime256v1' }))).export({ format: 'jwk' })));
    const encrypted = writeKeyFile(dir, 'encrypted.pem', createPrivateKey(privateKeyPem({ ec: 'prime256v1' })).export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: 'p' }) as string);
    expect(keyProblems('/nonexistent/key.pem')).toEqual([expect.stringMatching(/^OIDC_CLIENT_KEY_FILE: cannot read \/nonexistent\/key.pem; expects a readable file with an unencrypted private key, PEM .* or a private JWK/)]);
    expect(keyProblems(publicPem)).toEqual([expect.stringMatching(/^OIDC_CLIENT_KEY_FILE: .* holds no private key/)]);
    expect(keyProblems(publicJwk)).toEqual([expect.stringMatching(/^OIDC_CLIENT_KEY_FILE: .* holds a public JWK/)]);
    expect(keyProblems(encrypted)).toEqual([expect.stringMatching(/^OIDC_CLIENT_KEY_FILE: .* holds an encrypted key/)]);
    expect(keyProblems(writeKeyFile(dir, 'small.pem', privateKeyPem({ rsa: 1024 })))).toEqual([expect.stringMatching(/^OIDC_CLIENT_KEY_FILE: expects an RSA key of 2048 bits or more, or an EC P-256 key; got rsa of 1024 bits/)]);
    expect(keyProblems(writeKeyFile(dir, 'p384.pem', privateKeyPem({ ec: 'secp384r1' })))).toEqual([expect.stringMatching(/got ec on secp384r1/)]);
    expect(keyProblems(ec, { OIDC_CLIENT_KEY_ALG: 'RS256' })).toEqual([expect.stringMatching(/^OIDC_CLIENT_KEY_FILE: the key in .* cannot sign RS256; it fits ES256 \(OIDC_CLIENT_KEY_ALG\)/)]);
    expect(keyProblems(ec, { OIDC_CLIENT_KEY_ALG: 'HS256' })).toEqual([expect.stringMatching(/^OIDC_CLIENT_KEY_ALG: expects RS256, PS256 \(RSA keys\) or ES256/)]);
  });

  it('OIDC: reads private_key_jwt keys from PEM or JWK; alg by key type or as asked; kid as asked, the JWK’s own, or its RFC 7638 thumbprint', async () => {
    const credentialOf = (env: Record<string, string>) => {
      const identity = loadConfig({ ...oidc, ...env }).identity;
      if (identity.kind !== 'oidc' || identity.credential.kind !== 'private_key_jwt') throw new Error('no private_key_jwt credential');
      return identity.credential;
    };
    const fromEc = credentialOf({ OIDC_CLIENT_KEY_FILE: ec });
    expect(fromEc).toMatchObject({ alg: 'ES256', kid: await calculateJwkThumbprint(fromEc.publicJwk as never) });
    expect(Object.keys(fromEc.publicJwk).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
    const fromRsa = credentialOf({ OIDC_CLIENT_KEY_FILE: rsa });
    expect(fromRsa).toMatchObject({ alg: 'RS256', kid: await calculateJwkThumbprint(fromRsa.publicJwk as never) });
    expect(Object.keys(fromRsa.publicJwk).sort()).toEqual(['alg', 'e', 'kid', 'kty', 'n', 'use']);
    expect(credentialOf({ OIDC_CLIENT_KEY_FILE: rsa, OIDC_CLIENT_KEY_ALG: 'PS256', OIDC_CLIENT_KEY_ID: 'bff-2026' })).toMatchObject({ alg: 'PS256', kid: 'bff-2026' });
    const jwk = { ...createPrivateKey(privateKeyPem({ rsa: 2048 })).export({ format: 'jwk' }), kid: 'from-the-jwk', alg: 'PS256' };
    expect(credentialOf({ OIDC_CLIENT_KEY_FILE: writeKeyFile(dir, 'key.jwk', JSON.stringify(jwk)) })).toMatchObject({ alg: 'PS256', kid: 'from-the-jwk', publicJwk: { kid: 'from-the-jwk', n: jwk.n } });
  });

  it('DEV_IDP_CLIENT_AUTH: client_secret_post by default, private_key_jwt on request, nothing else', () => {
    expect(loadConfig({}).identity).toMatchObject({ kind: 'dev', clientAuth: 'client_secret_post' });
    expect(loadConfig({ DEV_IDP_CLIENT_AUTH: 'private_key_jwt' }).identity).toMatchObject({ kind: 'dev', clientAuth: 'private_key_jwt' });
    expect(problemsOf({ DEV_IDP_CLIENT_AUTH: 'client_secret_basic' })).toEqual(['DEV_IDP_CLIENT_AUTH: expects client_secret_post or private_key_jwt']);
  });
});

describe('metrics', () => {
  const token = 'metrics-token-0123456789abcdef-0123456789';

  it('are off with neither METRICS_PORT nor METRICS_TOKEN: no endpoint anywhere', () => {
    expect(loadConfig({}).metrics).toBeUndefined();
  });

  it('METRICS_PORT alone: a listener of their own on loopback (127.0.0.1), no token', () => {
    expect(loadConfig({ METRICS_PORT: '9464' }).metrics).toEqual({ port: 9464, host: '127.0.0.1', token: undefined });
    expect(loadConfig({ METRICS_PORT: '9464', METRICS_HOST: '::1' }).metrics).toMatchObject({ host: '::1' });
    // Listened on as the address itself: an IPv6 address loses its URL brackets.
    expect(loadConfig({ METRICS_PORT: '9464', METRICS_HOST: '[::1]' }).metrics).toMatchObject({ host: '::1' });
  });

  it('METRICS_TOKEN alone: on the main port behind the bearer token', () => {
    expect(loadConfig({ METRICS_TOKEN: token }).metrics).toEqual({ port: undefined, host: '127.0.0.1', token });
  });

  it('refuses a token shorter than 32 characters or with spaces, and a port that is not one', () => {
    expect(problemsOf({ METRICS_TOKEN: 'short' })).toEqual([expect.stringMatching(/^METRICS_TOKEN: expects a token of at least 32 characters/)]);
    expect(problemsOf({ METRICS_TOKEN: `${token} x` })).toEqual([expect.stringMatching(/^METRICS_TOKEN: expects printable characters without spaces/)]);
    expect(problemsOf({ METRICS_PORT: 'ninety' })).toEqual(['METRICS_PORT: expects a port number (1-65535)']);
    expect(problemsOf({ METRICS_PORT: '70000' })).toEqual(['METRICS_PORT: expects a port number (1-65535)']);
  });

  it('a METRICS_HOST other than loopback needs METRICS_TOKEN, in development and production alike', () => {
    for (const host of ['0.0.0.0', '10.0.0.5', 'metrics.internal', '::']) {
      expect(problemsOf({ METRICS_PORT: '9464', METRICS_HOST: host })).toEqual([expect.stringMatching(new RegExp(`^METRICS_HOST: ${host.replace(/\./g, '\\.')} is not a loopback address.*set METRICS_TOKEN`))]);
    }
    expect(loadConfig({ METRICS_PORT: '9464', METRICS_HOST: '0.0.0.0', METRICS_TOKEN: token }).metrics).toEqual({ port: 9464, host: '0.0.0.0', token });
    for (const host of ['localhost', '127.0.0.1', '::1', '[::1]']) expect(problemsOf({ METRICS_PORT: '9464', METRICS_HOST: host })).toEqual([]);
  });

  it('METRICS_HOST needs METRICS_PORT, and METRICS_PORT must not be PORT', () => {
    expect(problemsOf({ METRICS_HOST: '127.0.0.1', METRICS_TOKEN: token })).toEqual([expect.stringMatching(/^METRICS_HOST: .*set METRICS_PORT too/)]);
    expect(problemsOf({ PORT: '3000', METRICS_PORT: '3000' })).toEqual([expect.stringMatching(/^METRICS_PORT: must differ from PORT \(3000\)/)]);
    expect(problemsOf({ METRICS_PORT: '9464', METRICS_HOST: 'not a host' })).toEqual(['METRICS_HOST: expects a host name or an IP address to listen on, e.g. 127.0.0.1']);
  });
});
