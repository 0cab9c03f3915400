// What Linux says about a process the benchmarks started (the masters), from /proc.

import { readFileSync } from 'node:fs';

/** CPU seconds (user + system) the process has used: /proc/PID/stat fields 14 and 15, in clock ticks (100 per second). */
export function processCpuSeconds(pid: number): number {
  const fields = (readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1] ?? '').split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** The process's peak resident memory (VmHWM), MB. */
export function processPeakRssMb(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? 0 : Number(m[1]) / 1024;
}
