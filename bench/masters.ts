// What each master of a benchmark's cluster spent on a phase of it: CPU from /proc, and the
// garbage collector's pauses and the member's role from its /status.

import { fetchStatus } from '../cli/status.js';
import type { GcPausesMs } from '../store/gc-pauses.js';
import type { HarnessMember } from '../test/harness/cluster.js';
import { processCpuSeconds } from './proc.js';

/** One master's counters at a moment: CPU from /proc, GC pauses and role from its /status. */
export interface MasterSample {
  readonly cpuSeconds: number;
  readonly role: string;
  readonly gc: GcPausesMs;
}

export async function sampleMasters(members: readonly HarnessMember[]): Promise<Map<string, MasterSample>> {
  const samples = await Promise.all(
    members.map(async (m): Promise<[string, MasterSample]> => {
      const st = await fetchStatus(m.listen);
      return [m.name, { cpuSeconds: m.proc?.pid === undefined ? NaN : processCpuSeconds(m.proc.pid), role: st.role, gc: st.gcPausesMs }];
    }),
  );
  return new Map(samples);
}

/** The masters' CPU seconds added up. */
export function mastersCpuSeconds(samples: Map<string, MasterSample>): number {
  let sum = 0;
  for (const s of samples.values()) sum += s.cpuSeconds;
  return sum;
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
    out[name] = {
      role: b.role,
      cpuSecondsPer1000Pods: Number((((b.cpuSeconds - a.cpuSeconds) / Math.max(1, pods)) * 1000).toFixed(3)),
      gcScavenges: kind('minor'),
      gcMarkCompacts: kind('major'),
    };
  }
  return out;
}
