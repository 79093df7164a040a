import { X509Certificate } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import selfsigned from 'selfsigned';

export interface DevCertificates {
  /** The dev CA's certificate: the only thing a client of the dev IdP trusts. */
  ca: string;
  caFile: string;
  key: string;
  cert: string;
}

const DAY = 86_400_000;

/**
 * MSAL refuses an http: authority, so the dev IdP serves HTTPS on loopback with a leaf signed by
 * a dev CA it makes on first start (kept in a git-ignored folder, reused while valid).
 */
export async function ensureDevCertificates(dir: string): Promise<DevCertificates> {
  const files = { ca: path.join(dir, 'ca.pem'), caKey: path.join(dir, 'ca-key.pem'), cert: path.join(dir, 'localhost.pem'), key: path.join(dir, 'localhost-key.pem') };
  try {
    const [ca, cert, key] = await Promise.all([readFile(files.ca, 'utf8'), readFile(files.cert, 'utf8'), readFile(files.key, 'utf8')]);
    const leaf = new X509Certificate(cert);
    if (Date.parse(leaf.validTo) - Date.now() > 7 * DAY && leaf.verify(new X509Certificate(ca).publicKey)) {
      return { ca, caFile: files.ca, key, cert };
    }
  } catch {
    // missing or unreadable: make a new pair below
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const notBeforeDate = new Date(Date.now() - DAY);
  const notAfterDate = new Date(Date.now() + 365 * DAY);
  const ca = await selfsigned.generate([{ name: 'commonName', value: 'BFF dev identity provider CA' }], {
    keySize: 2048,
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate,
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    ],
  });
  const leaf = await selfsigned.generate([{ name: 'commonName', value: 'localhost' }], {
    keySize: 2048,
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate,
    ca: { key: ca.private, cert: ca.cert },
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
          { type: 7, ip: '::1' },
        ],
      },
    ],
  });
  await Promise.all([
    writeFile(files.ca, ca.cert),
    writeFile(files.caKey, ca.private, { mode: 0o600 }),
    writeFile(files.cert, leaf.cert),
    writeFile(files.key, leaf.private, { mode: 0o600 }),
  ]);
  return { ca: ca.cert, caFile: files.ca, key: leaf.private, cert: leaf.cert };
}
