// Node flags for processes that share one machine, as `flotilla up` and the test and bench clusters
// run three masters on one host.
//
// V8 keeps a pool of worker threads (4 by default) for parallel and concurrent garbage collection
// and compilation. Three masters on a 2-core machine bring 12 of them, which crowd the main threads
// (the ones that answer writes) off the cores whenever one master collects. Measured with
// `flotilla bench watch` (5,000 watchers, 1,000 pods/s), three alternating rounds on 2026-12-02:
// p99 from write to event 91-101 ms with the default pool, 44-59 ms with one worker per master;
// `--single-threaded-gc` was no better than the default.

import { availableParallelism } from 'node:os';

/** V8 worker threads per process when `processes` busy processes share this machine's cores. */
export function colocatedPoolSize(processes: number, cores: number = availableParallelism()): number {
  return Math.max(1, Math.floor(cores / Math.max(1, processes)));
}

/** Flags for node running one of `processes` processes that share this machine. */
export function colocatedNodeArgs(processes: number): string[] {
  return [`--v8-pool-size=${colocatedPoolSize(processes)}`];
}
