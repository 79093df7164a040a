import { TestBrowser } from '../support/browser';
import { freePort, startBffProcess, startIdpProcess } from '../support/processes';
import { signInAt } from '../support/stack';

export interface RefreshRate {
  /** The access token lifetime the IdP issued (s). */
  lifetimeSeconds: number;
  /** Calls made (all answered 200, or the run says otherwise). */
  calls: number;
  failed: number;
  seconds: number;
  refreshGrants: number;
  refreshGrantsPerMinute: number;
}

/**
 * Refresh grants per minute of steady traffic (one user, `callsPerSecond` API calls a second
 * for `seconds`) at each access token lifetime: a dev IdP issuing tokens of that lifetime and a
 * BFF (in-memory stores) per lifetime, all measured at once. The grants are counted in the IdP's
 * own log, not inferred. With MSAL's fixed 300 s renewal margin, every call at 300 s or less
 * would refresh; ACCESS_TOKEN_MIN_REMAINING_SHARE keeps a token for most of its life.
 */
export async function measureRefreshRates(lifetimes: number[], seconds: number, callsPerSecond = 10): Promise<RefreshRate[]> {
  return Promise.all(
    lifetimes.map(async (lifetimeSeconds) => {
      const port = await freePort();
      const idp = await startIdpProcess([`http://localhost:${port}`], { DEV_IDP_ACCESS_TOKEN_TTL: String(lifetimeSeconds), DEV_IDP_FRONTCHANNEL: '0', DEV_IDP_BACKCHANNEL: '0' });
      const bff = await startBffProcess(port, idp, {}).catch(async (err) => {
        await idp.child.stop();
        throw err;
      });
      try {
        const alice = new TestBrowser(idp.ca);
        await signInAt(alice, bff.url, 'alice');
        const before = idp.refreshGrants();
        let calls = 0;
        let failed = 0;
        const until = Date.now() + seconds * 1000;
        while (Date.now() < until) {
          const started = Date.now();
          const res = await alice.api(`${bff.url}/api/me`);
          calls++;
          if (res.status !== 200) failed++;
          await new Promise((r) => setTimeout(r, Math.max(0, 1000 / callsPerSecond - (Date.now() - started))));
        }
        const refreshGrants = idp.refreshGrants() - before;
        return { lifetimeSeconds, calls, failed, seconds, refreshGrants, refreshGrantsPerMinute: Math.round((refreshGrants / seconds) * 60 * 100) / 100 };
      } finally {
        await Promise.all([bff.child.stop(), idp.child.stop()]);
      }
    }),
  );
}

export function refreshTable(rates: RefreshRate[]): string {
  const rows = [['access token lifetime', 'calls', 'failed', 'refresh grants', 'grants / minute']];
  for (const r of rates) rows.push([`${r.lifetimeSeconds} s`, String(r.calls), String(r.failed), String(r.refreshGrants), String(r.refreshGrantsPerMinute)]);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const line = (r: string[]) => `| ${r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  return [line(rows[0]!), `|${widths.map((w, i) => (i === 0 ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`, ...rows.slice(1).map(line)].join('\n');
}
