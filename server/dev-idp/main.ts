/**
 * `npm run idp`: the dev identity provider alone, so that several BFF instances can share it.
 * They point at it with OIDC_AUTHORITY, OIDC_CLIENT_ID, OIDC_CLIENT_SECRET and OIDC_CA_FILE; with
 * DEV_IDP_CLIENT_AUTH=private_key_jwt, OIDC_CLIENT_KEY_FILE instead of the secret (the IdP reads the
 * public key from the first BFF origin's /.well-known/jwks.json).
 */
import { startDevIdp } from './index';

const port = Number(process.env.DEV_IDP_PORT ?? 4443);
const origins = (process.env.DEV_IDP_BFF_ORIGINS ?? 'http://localhost:3000,http://localhost:3001,http://localhost:3002,http://localhost:5173')
  .split(',')
  .map((o) => o.trim().replace(/\/+$/, ''))
  .filter(Boolean);
const ttl = Number(process.env.DEV_IDP_ACCESS_TOKEN_TTL ?? 3600);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  process.stderr.write('DEV_IDP_PORT: expects a port number (0-65535)\n');
  process.exit(1);
}
const clientAuth = process.env.DEV_IDP_CLIENT_AUTH ?? 'client_secret_post';
if (clientAuth !== 'client_secret_post' && clientAuth !== 'private_key_jwt') {
  process.stderr.write('DEV_IDP_CLIENT_AUTH: expects client_secret_post or private_key_jwt\n');
  process.exit(1);
}
if (!(ttl > 0)) {
  process.stderr.write('DEV_IDP_ACCESS_TOKEN_TTL: expects a positive number of seconds\n');
  process.exit(1);
}

const flag = (name: string) => !['0', 'false'].includes(process.env[name] ?? '1');
const log = (event: string, fields: Record<string, unknown>) => process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), event, ...fields })}\n`);
const idp = await startDevIdp({
  port,
  bffOrigins: origins,
  accessTokenTtlSeconds: ttl,
  frontchannel: flag('DEV_IDP_FRONTCHANNEL'),
  backchannel: flag('DEV_IDP_BACKCHANNEL'),
  rotateRefreshTokens: process.env.DEV_IDP_ROTATE_REFRESH_TOKENS === '1',
  clientAuth,
  onGrant: (grant) => log('idp.grant', grant),
  onGrantError: (grant) => log('idp.grant_error', grant),
});
process.stdout.write(
  [
    `Dev identity provider at ${idp.issuer} (users: alice, bob; password: password)`,
    `Registered BFF origins: ${origins.join(', ')}`,
    'Point BFF instances at it with:',
    `  OIDC_AUTHORITY=${idp.issuer} OIDC_CLIENT_ID=${idp.clientId} ${idp.clientKeyFile ? `OIDC_CLIENT_KEY_FILE=${idp.clientKeyFile}` : `OIDC_CLIENT_SECRET=${idp.clientSecret}`} OIDC_CA_FILE=${idp.caFile}`,
    '',
  ].join('\n'),
);
log('dev-idp.ready', { issuer: idp.issuer, caFile: idp.caFile, clientId: idp.clientId });
const stop = async () => {
  await idp.close();
  process.exit(0);
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
