import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { Child } from '../support/processes';

/**
 * A bench server script in its own process (node with tsx as a loader: one process, whose CPU
 * time the run can read); resolves with its URL once it says it is ready.
 */
export async function startScript(name: string, file: string, env: Record<string, string>, stdin?: string, nodeFlags: string[] = []) {
  const proc = spawn(process.execPath, [...nodeFlags, '--import', 'tsx', file], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  proc.stdin.end(stdin ?? '');
  const child = new Child(name, proc);
  const ready = await child.waitFor(() => child.events().find((e) => e.event === 'bench.ready'), `${name} to be ready`);
  return { child, url: String(ready.url) };
}

/** CPU time (user + system, ms) a process has used so far, from /proc (Linux); undefined elsewhere. */
export function cpuMs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}

/** Linux reports CPU time in clock ticks of 1/100 s on every common platform (USER_HZ). */
const CLOCK_TICKS = 100;

/**
 * CPU time (ms) of a process and all its children, live or gone: the process's own time, what
 * its reaped children used (cutime, cstime), and each live child's own time. For servers that
 * fork workers, such as Apache httpd (a parent and its worker processes, which come and go).
 */
export function processTreeCpuMs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  const stat = (p: number | string) => {
    try {
      return readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]!.split(' ');
    } catch {
      return undefined;
    }
  };
  const own = stat(pid);
  if (!own) return undefined;
  // After the command name: state, ppid, …; utime, stime, cutime, cstime are the 12th to 15th.
  let ticks = Number(own[11]) + Number(own[12]) + Number(own[13]) + Number(own[14]);
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const fields = stat(entry);
    if (fields && Number(fields[1]) === pid) ticks += Number(fields[11]) + Number(fields[12]);
  }
  return (ticks * 1000) / CLOCK_TICKS;
}
