import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { access, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
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

/**
 * The BFF's private key for private_key_jwt at the dev IdP (DEV_IDP_CLIENT_AUTH=private_key_jwt):
 * an EC P-256 key, PKCS#8 PEM, made on first use and kept beside the IdP's own keys. The BFF reads
 * it as it would read OIDC_CLIENT_KEY_FILE; the IdP knows only its public half, from the BFF's JWKS.
 */
export async function ensureDevClientKey(dir: string): Promise<string> {
  const file = path.join(dir, 'bff-client-key.pem');
  try {
    await access(file);
  } catch {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    // Written aside, then renamed: a BFF starting at the same moment never reads half a key.
    const partial = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
    await writeFile(partial, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
    await rename(partial, file);
  }
  return file;
}
