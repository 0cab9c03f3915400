// Node flags for the masters that `flotilla up` and the test and bench clusters start. V8 reads
// both at start-up only, so they are flags of the node command, not settings a running master could
// change; a master started by hand takes them the same way:
//   node --max-semi-space-size=64 --initial-old-space-size=512 --v8-pool-size=1 bin/flotilla.js master ...
//
// --max-semi-space-size: a master allocates a lot of short-lived objects per request (decoded
// objects, frames, log entries). A bigger young generation lets more of them die there instead of
// being copied and promoted, then marked in the old one. `bench schedule --nodes 1000 --pods 30000`,
// alternating runs on 2026-12-02: 1,554-1,630 pods/s and 30.5-31.7 masters' CPU seconds with 64 MB,
// 1,278-1,285 and 37.1-41.9 with the default (16 MB); 128 MB was no better than 64, 32 MB no better
// than the default. It costs up to three times that in RSS per master.
//
// --v8-pool-size: V8 keeps worker threads (4 by default) for parallel and concurrent garbage
// collection and compilation. Three masters on a 2-core machine bring 12 of them, which crowd the
// main threads (the ones that answer writes) off the cores whenever one master collects.
// `flotilla bench watch` (5,000 watchers, 1,000 pods/s), three alternating rounds on 2026-12-02: p99
// from write to event 91-101 ms with the default pool, 44-59 ms with one worker per master;
// `--single-threaded-gc` was no better than the default.
//
// --initial-old-space-size: how big the old generation may grow before its first full collection.
// Left to itself, V8 starts a master's at a few MB and, seeing little of a young heap survive, keeps
// the limit a step above what is live: a master holding 50-100 MB of watch caches ran a
// mark-compact every 1-2 s (pauses up to 80 ms, which every write and watch event waits out). With
// the size given, the first full collection waits until the old generation reaches it, and later
// limits grow from there with what is live (2,000 pods/s for 90 s: two or three mark-compacts per
// master instead of dozens). 2026-12-04, alternating: `bench watch` p99 31, 22, 22 ms against 56, 59,
// 39 ms; `bench schedule --nodes 1000 --pods 30000` 1,701 and 2,077 pods/s on 27.6 and 23.8 CPU s
// against 1,496 and 1,839 on 31.5 and 26.5. It costs memory: a busy master's RSS reaches about this
// much before anything is collected (an idle one allocates little and stays small).

import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';

/**
 * bin/flotilla.js, which the lab, the test and bench clusters and a master (for its scheduler)
 * start: seen from dist/cli, or from cli/ when the sources run under the tests.
 */
export const FLOTILLA_BIN =
  ['../../bin/flotilla.js', '../bin/flotilla.js'].map((p) => fileURLToPath(new URL(p, import.meta.url))).find((p) => existsSync(p)) ??
  fileURLToPath(new URL('../../bin/flotilla.js', import.meta.url));

/** The young generation's semi-space size of a master, MB. */
export const MASTER_SEMI_SPACE_MB = 64;

/** The old generation's size before its first full collection, for masters and their schedulers, MB. */
export const INITIAL_OLD_SPACE_MB = 512;

/** V8 worker threads per process when `processes` busy processes share this machine's cores. */
export function colocatedPoolSize(processes: number, cores: number = availableParallelism()): number {
  return Math.max(1, Math.floor(cores / Math.max(1, processes)));
}

/** The young generation's semi-space size of a scheduler process (cli/scheduler-process.ts), MB. */
export const SCHEDULER_SEMI_SPACE_MB = 64;

/**
 * Flags for node running a master's scheduler process: its young generation, and the worker pool
 * its master was given (`masterExecArgv`), since it shares the master's share of the cores.
 */
export function schedulerNodeArgs(masterExecArgv: readonly string[] = process.execArgv): string[] {
  const pool = masterExecArgv.filter((a) => a.startsWith('--v8-pool-size='));
  return [`--max-semi-space-size=${SCHEDULER_SEMI_SPACE_MB}`, `--initial-old-space-size=${INITIAL_OLD_SPACE_MB}`, ...pool.slice(-1)];
}

/** Flags for node running a master, one of `processes` masters that share this machine. */
export function masterNodeArgs(processes: number): string[] {
  return [`--max-semi-space-size=${MASTER_SEMI_SPACE_MB}`, `--initial-old-space-size=${INITIAL_OLD_SPACE_MB}`, `--v8-pool-size=${colocatedPoolSize(processes)}`];
}
