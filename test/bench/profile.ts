/**
 * Summarizes V8 CPU profiles (`npm run bench -- --profile` writes them): where the samples fall,
 * by package and by function, self and inclusive. Usage: tsx test/bench/profile.ts <file>... [--top=N]
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

const args = process.argv.slice(2);
const top = Number(args.find((a) => a.startsWith('--top='))?.slice(6) ?? 25);
const filter = args.find((a) => a.startsWith('--grep='))?.slice(7);
/** Only the samples of the last S seconds (the load, not the start-up). */
/** For functions whose label contains this, who called them (self hits by caller chain). */
const callers = args.find((a) => a.startsWith('--callers='))?.slice(10);
const last = Number(args.find((a) => a.startsWith('--last='))?.slice(7) ?? Infinity);

function where(url: string): string {
  if (!url) return '(native/V8)';
  if (url.startsWith('node:')) return url.split('/').slice(0, 2).join('/');
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  return path.relative(process.cwd(), url.replace(/^file:\/\//, ''));
}

for (const file of args.filter((a) => !a.startsWith('--'))) {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as { nodes: Node[]; startTime: number; endTime: number; samples: number[]; timeDeltas: number[] };
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  // Hits per node from the samples in the window (hitCount covers the whole run).
  const hitsOf = new Map<number, number>();
  let t = profile.startTime;
  const from = profile.endTime - last * 1e6;
  let total = 0;
  profile.samples.forEach((id, i) => {
    t += profile.timeDeltas[i] ?? 0;
    if (t < from) return;
    hitsOf.set(id, (hitsOf.get(id) ?? 0) + 1);
    total++;
  });
  for (const n of profile.nodes) n.hitCount = hitsOf.get(n.id) ?? 0;
  const perSample = (profile.endTime - Math.max(profile.startTime, from)) / 1000 / total;
  const idle = profile.nodes.filter((n) => n.callFrame.functionName === '(idle)');
  const label = (n: Node) => `${n.callFrame.functionName || '(anonymous)'} ${where(n.callFrame.url)}${n.callFrame.url ? `:${n.callFrame.lineNumber + 1}` : ''}`;

  const self = new Map<string, number>();
  const selfPkg = new Map<string, number>();
  const inclusive = new Map<string, number>();
  for (const n of profile.nodes) {
    const hits = n.hitCount ?? 0;
    if (!hits) continue;
    self.set(label(n), (self.get(label(n)) ?? 0) + hits);
    const pkg = n.callFrame.url ? where(n.callFrame.url) : n.callFrame.functionName;
    selfPkg.set(pkg, (selfPkg.get(pkg) ?? 0) + hits);
    const seen = new Set<string>();
    for (let id: number | undefined = n.id; id !== undefined; id = parent.get(id)) {
      const l = label(byId.get(id)!);
      if (!seen.has(l)) inclusive.set(l, (inclusive.get(l) ?? 0) + hits);
      seen.add(l);
    }
  }
  const busy = total - idle.reduce((s, n) => s + (n.hitCount ?? 0), 0);
  const pct = (h: number) => `${((100 * h) / busy).toFixed(1).padStart(5)}%`;
  const show = (title: string, m: Map<string, number>) => {
    console.log(`\n  ${title}`);
    [...m.entries()]
      .filter(([k]) => !filter || k.includes(filter))
      .sort((x, y) => y[1] - x[1])
      .slice(0, top)
      .forEach(([k, h]) => console.log(`  ${pct(h)}  ${k}`));
  };
  if (callers) {
    const chains = new Map<string, number>();
    for (const n of profile.nodes) {
      if (!n.hitCount || !label(n).includes(callers)) continue;
      const chain: string[] = [];
      for (let id = parent.get(n.id); id !== undefined && chain.length < 6; id = parent.get(id)) chain.push(label(byId.get(id)!));
      const key = `${label(n)}\n      <- ${chain.join('\n      <- ')}`;
      chains.set(key, (chains.get(key) ?? 0) + n.hitCount);
    }
    show(`callers of ${callers}`, chains);
  }
  console.log(`${file}: ${total} samples, ${((total * perSample) / 1000).toFixed(1)} s, busy ${((busy * perSample) / 1000).toFixed(1)} s (percentages of busy time)`);
  show('self time by package', selfPkg);
  show('self time by function', self);
  show('inclusive time by function', inclusive);
}
