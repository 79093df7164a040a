import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { beforeAll, expect, test } from 'vitest';
import { buildClientIfNeeded } from '../../server/client-build';

/** The SPA's JavaScript budget, gzip level 9, in kB as Vite reports them (1000 bytes). */
const BUDGET_BYTES = 80 * 1000;
const ASSETS = 'dist/client/assets';

beforeAll(() => {
  buildClientIfNeeded();
});

// The SPA holds no auth library (the BFF does the OAuth work), so React is most of it.
test('the SPA downloads at most 80 kB of JavaScript (gzip), every file of the build counted', () => {
  const files = readdirSync(ASSETS).filter((f) => f.endsWith('.js')).sort();
  expect(files.length, `JavaScript in ${ASSETS}`).toBeGreaterThan(0);
  const kB = (n: number) => `${(n / 1000).toFixed(2)} kB`;
  let total = 0;
  const lines = [`JavaScript of the SPA (${ASSETS}), gzip level 9:`];
  for (const file of files) {
    const raw = readFileSync(path.join(ASSETS, file));
    const gz = gzipSync(raw, { level: 9 }).length;
    total += gz;
    lines.push(`  ${file.padEnd(32)} ${kB(raw.length).padStart(10)}  gzip ${kB(gz).padStart(9)}`);
  }
  lines.push(`  ${'total'.padEnd(32)} ${''.padStart(10)}  gzip ${kB(total).padStart(9)}  (budget ${kB(BUDGET_BYTES)})`);
  console.log(lines.join('\n'));
  expect(total).toBeLessThanOrEqual(BUDGET_BYTES);
});
