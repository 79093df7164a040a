import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { exportJWK, generateKeyPair, type JWK } from 'jose';

/** Signing keys and cookie keys of the dev IdP, kept beside its certificate so restarts keep tokens valid. */
export async function ensureDevKeys(dir: string): Promise<{ jwks: { keys: JWK[] }; cookieKeys: string[] }> {
  const file = path.join(dir, 'keys.json');
  try {
    return JSON.parse(await readFile(file, 'utf8'));
  } catch {
    const { privateKey } = await generateKeyPair('RS256', { extractable: true });
    const jwk = { ...(await exportJWK(privateKey)), kid: randomBytes(8).toString('hex'), alg: 'RS256', use: 'sig' };
    const keys = { jwks: { keys: [jwk] }, cookieKeys: [randomBytes(32).toString('base64url')] };
    await writeFile(file, JSON.stringify(keys), { mode: 0o600 });
    return keys;
  }
}
