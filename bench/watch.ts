// `flotilla bench watch`: W watchers on one master (each watching the pods of its own node, as node
// agents do) while a writer creates pods through another master at R objects/s. Prints p50/p99
// delivery latency (from the write being sent to the event arriving at its watcher, so the write's
// own commit is included) and the watching master's memory per watcher.

import { setMaxListeners } from 'node:events';
import { parseArgs } from 'node:util';
import type { ApiClient } from '../client/api-client.js';
import { fetchStatus } from '../cli/status.js';
import type { Pod } from '../proto/api/types.js';
import { TestCluster } from '../test/harness/cluster.js';
import { LoopDelay } from '../store/loop-delay.js';
import { mastersDuring, sampleMasters } from './masters.js';

/** Bounds on the flags, whatever they say. */
const MAX_WATCHERS = 20_000;
const MAX_RATE = 20_000;
const MAX_SECONDS = 600;
/** Streams one client connection carries at most (the RPC server allows 1,000). */
const WATCHERS_PER_CONNECTION = 500;
/** The writer sends one bulk create per tick. */
const WRITE_TICK_MS = 10;
/** Seconds of writing before the measured phase (--warmup). */
const DEFAULT_WARMUP_SECONDS = 5;
/** Bulk creates in flight at once; past it the writer waits for the oldest. */
const MAX_INFLIGHT_WRITES = 200;
/** How long events may still arrive after the last write. */
const DRAIN_MS = 3_000;

const SENT_AT = 'bench.flotilla.io/sent-at';
/** Names of the pods written while warming up (not measured) and while measuring. */
const WARMUP_PREFIX = 'warm-';
const MEASURED_PREFIX = 'w-';

/** What one bulk create came back with. */
interface WriteOutcome {
  /** The pods it created. */
  readonly acked: readonly string[];
  readonly failed: number;
  readonly firstError: string | undefined;
  /** When it returned or failed. */
  readonly at: number;
}

/**
 * Creates pods through `writer` at `rate` per second for `seconds`, one bulk create per
 * WRITE_TICK_MS, each pod on node `node-(n % watchers)` and stamped with when it was sent.
 * Returns the latencies of the calls that returned (one failed as a whole has none), sorted.
 */
async function writePhase(
  writer: ApiClient,
  seconds: number,
  rate: number,
  watchers: number,
  prefix: string,
  onWrite: (outcome: WriteOutcome) => void,
): Promise<{ written: number; elapsedSeconds: number; latencies: number[] }> {
  let written = 0;
  const latencies: number[] = [];
  const perTick = Math.max(1, Math.round((rate * WRITE_TICK_MS) / 1000));
  const start = performance.now();
  const end = start + seconds * 1000;
  const inflight: Promise<void>[] = [];
  for (let tick = 0; performance.now() < end; tick++) {
    const due = start + tick * WRITE_TICK_MS;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const batch: Pod[] = [];
    for (let j = 0; j < perTick; j++, written++) {
      batch.push({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: `${prefix}${written}`, namespace: 'default', annotations: { [SENT_AT]: String(now()) } },
        spec: { nodeName: `node-${written % watchers}`, containers: [{ name: 'c', image: 'busybox' }] },
      });
    }
    const sentAt = now();
    inflight.push(
      writer.bulkCreate('Pod', batch).then(
        (results) => {
          const at = now();
          latencies.push(at - sentAt);
          const acked: string[] = [];
          let failed = 0;
          let firstError: string | undefined;
          results.forEach((x, i) => {
            if (x.ok) {
              acked.push(batch[i]!.metadata.name ?? '');
            } else {
              failed++;
              firstError ??= `${x.error.codeName}: ${x.error.message}`;
            }
          });
          onWrite({ acked, failed, firstError, at });
        },
        (err: unknown) => onWrite({ acked: [], failed: batch.length, firstError: (err as Error).message, at: now() }),
      ),
    );
    if (inflight.length > MAX_INFLIGHT_WRITES) await inflight.shift();
  }
  await Promise.all(inflight);
  latencies.sort((a, b) => a - b);
  return { written, elapsedSeconds: (performance.now() - start) / 1000, latencies };
}

function now(): number {
  return performance.timeOrigin + performance.now();
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function flag(values: Record<string, string | undefined>, name: string, fallback: number, max: number, min = 1): number {
  const raw = values[name];
  const n = raw === undefined ? fallback : Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} '${raw}' must be a whole number from ${min} to ${max}`);
  return n;
}

export interface WatchBenchResult {
  readonly watchers: number;
  readonly targetRate: number;
  readonly writesPerSecond: number;
  readonly written: number;
  readonly delivered: number;
  /** Acknowledged writes whose event never arrived. */
  readonly missing: number;
  /** Events that arrived more than once. */
  readonly duplicates: number;
  /** Events of writes whose call failed (outcome unknown) but which committed. */
  readonly deliveredOfFailedWrites: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** Delivery after the writer got its answer: the watch path without the write's commit. */
  readonly afterAckP50Ms: number;
  readonly afterAckP99Ms: number;
  /** The bulk writes' own latency. */
  readonly writeP50Ms: number;
  readonly writeP99Ms: number;
  readonly heapBytesPerWatcher: number;
  readonly rssBytesPerWatcher: number;
}

export async function watchBenchCommand(argv: readonly string[], out: NodeJS.WritableStream): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: { watchers: { type: 'string' }, rate: { type: 'string' }, seconds: { type: 'string' }, warmup: { type: 'string' } },
    strict: true,
  });
  const watchers = flag(values, 'watchers', 5_000, MAX_WATCHERS);
  const rate = flag(values, 'rate', 1_000, MAX_RATE);
  const seconds = flag(values, 'seconds', 10, MAX_SECONDS);
  const warmupSeconds = flag(values, 'warmup', DEFAULT_WARMUP_SECONDS, MAX_SECONDS, 0);

  // --expose-gc lets /status?gc=1 report the heap really held, for memory per watcher.
  process.env['FLOTILLA_MASTER_NODE_ARGS'] = `${process.env['FLOTILLA_MASTER_NODE_ARGS'] ?? ''} --expose-gc`.trim();
  const cluster = await TestCluster.start({ tickMs: 50 });
  const clients: ApiClient[] = [];
  try {
    const leader = await cluster.waitLeader();
    const watchMaster = cluster.members.find((m) => m.name !== leader.name)!;
    const writeMaster = cluster.members.find((m) => m.name !== watchMaster.name)!;
    const writer = cluster.api([writeMaster.name]);
    clients.push(writer);
    for (let i = 0; ; i++) {
      try {
        await writer.get('Namespace', 'default');
        break;
      } catch (err) {
        if (i > 100) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    out.write(`bench watch: ${watchers} watchers on ${watchMaster.name}, writer on ${writeMaster.name} at ${rate} pods/s for ${seconds} s after ${warmupSeconds} s of warm-up\n`);

    const before = await fetchStatus(watchMaster.listen, { gc: true });
    const latencies: number[] = [];
    const ac = new AbortController();
    // Every watcher listens on this one signal.
    setMaxListeners(watchers + 10, ac.signal);
    let delivered = 0;
    let streamErrors = 0;
    const deliveredAt = new Map<string, number>();
    const ackedAt = new Map<string, number>();
    const connections = Math.ceil(watchers / WATCHERS_PER_CONNECTION);
    for (let c = 0; c < connections; c++) clients.push(cluster.api([watchMaster.name]));
    const watching = Array.from({ length: watchers }, async (_, i) => {
      const client = clients[1 + (i % connections)]!;
      try {
        for await (const ev of client.watch<Pod>('Pod', { namespace: 'default', fieldSelector: `spec.nodeName=node-${i}`, signal: ac.signal })) {
          if (ev.type !== 'ADDED' || !(ev.object.metadata.name ?? '').startsWith(MEASURED_PREFIX)) continue;
          const t = now();
          const sent = Number(ev.object.metadata.annotations?.[SENT_AT]);
          latencies.push(t - sent);
          deliveredAt.set(ev.object.metadata.name ?? '', t);
          delivered++;
        }
      } catch {
        if (!ac.signal.aborted) streamErrors++;
      }
    });
    // Let every watch reach the master before measuring what the watchers hold.
    await new Promise((r) => setTimeout(r, Math.min(10_000, 1_000 + watchers / 2)));
    const withWatchers = await fetchStatus(watchMaster.listen, { gc: true });

    // The benchmark's own event loop: its stalls delay the timestamps it takes, so they are printed too.
    const benchLoop = new LoopDelay(10);
    // A warm-up phase first, at the same rate and through the same paths, whose figures are not
    // counted: the masters' and the bench's code gets compiled, and the watch caches and
    // per-watcher state settle. A control plane runs for days; what its users wait on is the
    // steady state. The warm-up's own write p99 is printed, so a slow start stays visible.
    const warm = warmupSeconds > 0 ? await writePhase(writer, warmupSeconds, rate, watchers, WARMUP_PREFIX, () => {}) : undefined;
    benchLoop.reset();
    const mastersBefore = await sampleMasters(cluster.members);
    let writeErrors = 0;
    let firstWriteError: string | undefined;
    const measured = await writePhase(writer, seconds, rate, watchers, MEASURED_PREFIX, (outcome) => {
      writeErrors += outcome.failed;
      firstWriteError ??= outcome.firstError;
      for (const name of outcome.acked) ackedAt.set(name, outcome.at);
    });
    const { written, latencies: writeLatencies } = measured;
    const elapsed = measured.elapsedSeconds;
    const masters = mastersDuring(mastersBefore, await sampleMasters(cluster.members), written);
    const drainUntil = performance.now() + DRAIN_MS;
    // Every acknowledged write must arrive; a write that failed (outcome unknown) may arrive too.
    const undelivered = (): number => {
      let n = 0;
      for (const name of ackedAt.keys()) if (!deliveredAt.has(name)) n++;
      return n;
    };
    while (undelivered() > 0 && performance.now() < drainUntil) await new Promise((r) => setTimeout(r, 50));
    // The bench's own loop, read before the watchers are torn down (5,000 aborts take a while).
    const benchLoopMs = benchLoop.read();
    benchLoop.stop();
    ac.abort();
    await Promise.all(watching);

    const loops = await Promise.all(cluster.members.map(async (m) => ({ [m.name]: (await fetchStatus(m.listen)).eventLoopDelayMs })));
    latencies.sort((a, b) => a - b);
    // After the writer's acknowledgement: the watch path alone (an event that beat the ack counts 0).
    const afterAck = [...deliveredAt].map(([name, t]) => Math.max(0, t - (ackedAt.get(name) ?? t))).sort((a, b) => a - b);
    const result: WatchBenchResult = {
      watchers,
      targetRate: rate,
      writesPerSecond: Math.round((written - writeErrors) / elapsed),
      written: written - writeErrors,
      delivered,
      missing: undelivered(),
      duplicates: delivered - deliveredAt.size,
      deliveredOfFailedWrites: [...deliveredAt.keys()].filter((name) => !ackedAt.has(name)).length,
      p50Ms: Number(percentile(latencies, 50).toFixed(2)),
      p99Ms: Number(percentile(latencies, 99).toFixed(2)),
      maxMs: Number((latencies[latencies.length - 1] ?? NaN).toFixed(2)),
      afterAckP50Ms: Number(percentile(afterAck, 50).toFixed(2)),
      afterAckP99Ms: Number(percentile(afterAck, 99).toFixed(2)),
      writeP50Ms: Number(percentile(writeLatencies, 50).toFixed(2)),
      writeP99Ms: Number(percentile(writeLatencies, 99).toFixed(2)),
      heapBytesPerWatcher: Math.round((withWatchers.memory.heapUsed - before.memory.heapUsed) / watchers),
      rssBytesPerWatcher: Math.round((withWatchers.memory.rss - before.memory.rss) / watchers),
    };
    out.write(`${JSON.stringify({ bench: 'watch', ...result, warmupSeconds, warmupWriteP99Ms: warm === undefined ? undefined : Number(percentile(warm.latencies, 99).toFixed(2)), writeErrors, firstWriteError, streamErrors, watchMaster: watchMaster.name, writeMaster: writeMaster.name, eventLoopDelayMs: Object.assign({ bench: benchLoopMs }, ...loops), masters, goals: { p99Ms: { goal: '< 50 (5000 watchers, 1000 writes/s)', measured: result.p99Ms }, heapBytesPerWatcher: { goal: '< 10240', measured: result.heapBytesPerWatcher } } })}\n`);
    return result.missing === 0 && result.duplicates === 0 && streamErrors === 0 ? 0 : 1;
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await cluster.stop();
  }
}
