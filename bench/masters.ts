// What each master of a benchmark's cluster spent on a phase of it: CPU from /proc (the master's
// process and its scheduler process, cli/scheduler-process.ts), and the garbage collector's pauses
// and the member's role from its /status.

import { fetchStatus } from '../cli/status.js';
import type { GcPausesMs } from '../store/gc-pauses.js';
import type { HarnessMember } from '../test/harness/cluster.js';
import { processCpuSeconds, processPeakRssMb } from './proc.js';

/** One master's counters at a moment: CPU from /proc, GC pauses and role from its /status. */
export interface MasterSample {
  readonly cpuSeconds: number;
  /** Its scheduler process's PID and CPU seconds, when one runs. */
  readonly scheduler: { readonly pid: number; readonly cpuSeconds: number } | undefined;
  readonly role: string;
  readonly gc: GcPausesMs;
}

/** A process's CPU seconds, or undefined when it is gone (a scheduler process may exit between the status and the read). */
function cpuOf(pid: number): number | undefined {
  try {
    return processCpuSeconds(pid);
  } catch {
    return undefined;
  }
}

export async function sampleMasters(members: readonly HarnessMember[]): Promise<Map<string, MasterSample>> {
  const samples = await Promise.all(
    members.map(async (m): Promise<[string, MasterSample]> => {
      const st = await fetchStatus(m.listen);
      const schedulerCpu = st.schedulerPid === undefined ? undefined : cpuOf(st.schedulerPid);
      return [
        m.name,
        {
          cpuSeconds: m.proc?.pid === undefined ? NaN : processCpuSeconds(m.proc.pid),
          scheduler: st.schedulerPid === undefined || schedulerCpu === undefined ? undefined : { pid: st.schedulerPid, cpuSeconds: schedulerCpu },
          role: st.role,
          gc: st.gcPausesMs,
        },
      ];
    }),
  );
  return new Map(samples);
}

/** What a master's scheduler process used between two samples (all of it if the process is new since `before`). */
function schedulerCpuDuring(before: MasterSample | undefined, after: MasterSample): number {
  if (after.scheduler === undefined) return 0;
  const was = before?.scheduler?.pid === after.scheduler.pid ? before.scheduler.cpuSeconds : 0;
  return after.scheduler.cpuSeconds - was;
}

/** The CPU seconds the masters and their scheduler processes used between two samples. */
export function mastersCpuSecondsDuring(before: Map<string, MasterSample>, after: Map<string, MasterSample>): number {
  let sum = 0;
  for (const [name, b] of after) {
    const a = before.get(name);
    sum += b.cpuSeconds - (a?.cpuSeconds ?? 0) + schedulerCpuDuring(a, b);
  }
  return sum;
}

/** The largest peak RSS (VmHWM) among the masters' scheduler processes, MB (0 when none runs). */
export function schedulersPeakRssMb(samples: Map<string, MasterSample>): number {
  let peak = 0;
  for (const s of samples.values()) {
    if (s.scheduler === undefined) continue;
    try {
      peak = Math.max(peak, processPeakRssMb(s.scheduler.pid));
    } catch {
      // gone since the sample
    }
  }
  return peak;
}

/**
 * What each master spent between two samples: CPU seconds per 1,000 pods (the figure to
 * compare before and after a change: latency tails move with the machine's load, this far less)
 * and the garbage collector's pauses in it (the longest is since the master started).
 */
export function mastersDuring(before: Map<string, MasterSample>, after: Map<string, MasterSample>, pods: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, b] of after) {
    const a = before.get(name);
    if (a === undefined) continue;
    const kind = (k: 'minor' | 'major'): Record<string, number> => ({
      count: b.gc[k].count - a.gc[k].count,
      totalMs: Number((b.gc[k].totalMs - a.gc[k].totalMs).toFixed(1)),
      maxSinceStartMs: Number(b.gc[k].max.toFixed(1)),
    });
    const per1000 = (seconds: number): number => Number(((seconds / Math.max(1, pods)) * 1000).toFixed(3));
    out[name] = {
      role: b.role,
      cpuSecondsPer1000Pods: per1000(b.cpuSeconds - a.cpuSeconds),
      schedulerCpuSecondsPer1000Pods: per1000(schedulerCpuDuring(a, b)),
      gcScavenges: kind('minor'),
      gcMarkCompacts: kind('major'),
    };
  }
  return out;
}
