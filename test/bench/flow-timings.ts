// Rough latencies of the user-visible flows on one stack (npx tsx test/bench/flow-timings.ts).
import { startStack } from '../support/stack';
const stack = await startStack();
const pct = (xs: number[], p: number) => xs.slice().sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!.toFixed(1);
const signIns: number[] = [];
let browser = stack.browser();
for (let i = 0; i < 30; i++) {
  browser = stack.browser();
  const t = performance.now();
  await stack.signIn(browser, i % 2 ? 'alice' : 'bob');
  signIns.push(performance.now() - t);
}
const me: number[] = [];
for (let i = 0; i < 300; i++) {
  const t = performance.now();
  const r = await browser.api(`${stack.url}/api/me`);
  if (r.status !== 200) throw new Error(String(r.status));
  me.push(performance.now() - t);
}
const session: number[] = [];
for (let i = 0; i < 300; i++) {
  const t = performance.now();
  await browser.api(`${stack.url}/auth/session`);
  session.push(performance.now() - t);
}
console.log(`sign-in (full flow, 5 HTTP round trips incl. IdP form): p50 ${pct(signIns, 0.5)} ms, p90 ${pct(signIns, 0.9)} ms (n=30)`);
console.log(`/api/me through the BFF: p50 ${pct(me, 0.5)} ms, p99 ${pct(me, 0.99)} ms (n=300, sequential)`);
console.log(`/auth/session: p50 ${pct(session, 0.5)} ms, p99 ${pct(session, 0.99)} ms (n=300)`);
await stack.close();
