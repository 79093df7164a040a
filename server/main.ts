import { buildClientIfNeeded } from './client-build';
import { ConfigError, loadConfig } from './config';
import { createLogger } from './log';
import { startBff } from './start';

const log = createLogger();
// `npm start`: the SPA it serves is built first when missing or older than its sources.
if (process.argv.includes('--build-client')) {
  try {
    buildClientIfNeeded();
  } catch (err) {
    process.stderr.write(`The SPA could not be built: ${(err as Error).message}\n`);
    process.exit(1);
  }
}
let config;
try {
  config = loadConfig(process.env);
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  }
  throw err;
}
if (config.sessionKeysGenerated) {
  log.warn('config.session_keys_generated', { message: 'SESSION_KEYS is not set: using a random key; sessions end when the process restarts.' });
}

try {
  const bff = await startBff(config, { logger: log, extraOrigins: config.production ? [] : ['http://localhost:5173'] });
  log.info('bff.started', { url: config.publicUrl, listening: bff.url, idp: bff.idp.issuer, api: bff.apiBaseUrl });
  process.stdout.write(`\n  BFF ready at ${config.publicUrl}  (${signInHint(bff.idp)})\n\n`);
  const stop = async () => {
    await bff.close();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
} catch (err) {
  process.stderr.write(`The BFF could not start: ${(err as Error).message}\n`);
  process.exit(1);
}

/** Which identity provider the start-up banner names: only the embedded one has seeded users. */
function signInHint(idp: { kind: 'dev' | 'oidc' | 'entra'; issuer: string }): string {
  if (idp.kind === 'dev') return 'sign in as alice / password with the embedded dev IdP';
  return `signing in with ${idp.kind === 'entra' ? 'Microsoft Entra ID' : 'the OpenID provider'} ${idp.issuer}`;
}
