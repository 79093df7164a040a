// CI: prints the gzip size of each JavaScript file of the built SPA (dist/client/assets) and
// fails when together they exceed the budget. The SPA holds no auth library (the BFF does the
// OAuth work), so React is most of it.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';

const BUDGET_BYTES = 80 * 1000; // 80 kB, as Vite reports sizes
const dir = process.argv[2] ?? 'dist/client/assets';

let files;
try {
  files = readdirSync(dir).filter((f) => f.endsWith('.js')).sort();
} catch {
  console.error(`bundle-size: no ${dir}; run \`npm run build\` first`);
  process.exit(1);
}
if (files.length === 0) {
  console.error(`bundle-size: no JavaScript in ${dir}`);
  process.exit(1);
}

const kB = (n) => `${(n / 1000).toFixed(2)} kB`;
let total = 0;
console.log(`JavaScript of the SPA (${dir}), gzip level 9:`);
for (const file of files) {
  const raw = readFileSync(path.join(dir, file));
  const gz = gzipSync(raw, { level: 9 }).length;
  total += gz;
  console.log(`  ${file.padEnd(32)} ${kB(raw.length).padStart(10)}  gzip ${kB(gz).padStart(9)}`);
}
const verdict = total <= BUDGET_BYTES ? 'within' : 'OVER';
console.log(`  ${'total'.padEnd(32)} ${''.padStart(10)}  gzip ${kB(total).padStart(9)}  (${verdict} the budget of ${kB(BUDGET_BYTES)})`);
if (total > BUDGET_BYTES) process.exit(1);
