import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import selfsigned from 'selfsigned';

/** A folder of its own for a test's key and certificate files. */
export function keyFolder(): string {
  return mkdtempSync(path.join(tmpdir(), 'bff-client-keys-'));
}

/** Writes `text` to `name` in `dir` (mode 0600) and returns its path. */
export function writeKeyFile(dir: string, name: string, text: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, text, { mode: 0o600 });
  return file;
}

/** A self-signed RSA certificate as an Entra app registration holds one: key and certificate, PEM. */
export async function clientCertificate(commonName = 'bff-client-certificate'): Promise<{ keyPem: string; certPem: string }> {
  const day = 86_400_000;
  const pems = await selfsigned.generate([{ name: 'commonName', value: commonName }], {
    keySize: 2048,
    algorithm: 'sha256',
    notBeforeDate: new Date(Date.now() - day),
    notAfterDate: new Date(Date.now() + 30 * day),
  });
  return { keyPem: pems.private, certPem: pems.cert };
}

/** A fresh private key, PKCS#8 PEM: RSA (2048 or `bits`) or EC on `curve`. */
export function privateKeyPem(kind: { rsa: number } | { ec: string }): string {
  const { privateKey } = 'rsa' in kind ? generateKeyPairSync('rsa', { modulusLength: kind.rsa }) : generateKeyPairSync('ec', { namedCurve: kind.ec });
  return privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
}
