// tinybench figures for the watch cache's fanout: `npm run build && node dist/bench/watch-fanout.bench.js`.
// One pod moves from one node to another per operation (a MODIFIED, or a DELETED and an ADDED for
// node watchers), fed to the cache through a fake store watch, with 5,000 watchers each filtering
// on its own node: once through the spec.nodeName index, once through a predicate (every watcher
// looks at every event). Decoding is excluded (objects are pre-built) so the figures are the
// cache's own work: the change record, the ring, the fanout. Prints medians; no pass/fail.

import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { Bench } from 'tinybench';
import { WatchCache } from '../apiserver/watch/watch-cache.js';
import type { CacheWatcher } from '../apiserver/watch/cache-watcher.js';
import { FakeClock, POD_INDEXES, POD_TYPE_META, type TestPod, memoryLogger, pod, podKey, podSelectable } from '../apiserver/watch/testing.js';
import type { BackendWatcher } from '../store/backend.js';
import type { KeyValue } from '../store/mvcc/responses.js';
import type { WatchResponse } from '../store/mvcc/watch.js';

const WATCHERS = 5_000;
/** Pods that move between nodes; each operation moves the next one. */
const PODS = 5_000;

const encoder = new TextEncoder();

/** A store watch the bench feeds by hand. */
class FeedWatcher implements BackendWatcher {
  readonly synced = true;
  private waiting: ((result: IteratorResult<WatchResponse>) => void) | undefined;
  private readonly queued: WatchResponse[] = [];

  push(response: WatchResponse): void {
    const waiting = this.waiting;
    this.waiting = undefined;
    if (waiting !== undefined) waiting({ done: false, value: response });
    else this.queued.push(response);
  }

  next(): Promise<IteratorResult<WatchResponse>> {
    const queued = this.queued.shift();
    if (queued !== undefined) return Promise.resolve({ done: false, value: queued });
    return new Promise((resolve) => {
      this.waiting = resolve;
    });
  }

  cancel(): void {}
  requestProgress(): void {}
}

interface Scenario {
  readonly cache: WatchCache<TestPod>;
  readonly watchers: CacheWatcher<TestPod>[];
  /** Moves the next pod to another node and waits until the cache has fanned the change out. */
  step(): Promise<void>;
}

async function scenario(watcherFilter: 'none' | 'index' | 'predicate'): Promise<Scenario> {
  const feed = new FeedWatcher();
  const objects = new WeakMap<Uint8Array, TestPod>();
  const cache = new WatchCache<TestPod>({
    source: {
      header: () => ({ clusterId: 1n, memberId: 1n, raftTerm: 1, revision: 1 }),
      range: async () => ({ type: 'range', revision: 1, kvs: [], count: 0, more: false }),
      watch: () => feed,
    },
    prefix: encoder.encode('/registry/pods/'),
    typeMeta: POD_TYPE_META,
    decode: (kv) => objects.get(kv.value)!,
    selectable: podSelectable,
    indexes: POD_INDEXES,
    clock: new FakeClock(),
    logger: memoryLogger(),
  });
  await cache.start();
  const watchers: CacheWatcher<TestPod>[] = [];
  for (let i = 0; watcherFilter !== 'none' && i < WATCHERS; i++) {
    const nodeName = `node-${i}`;
    watchers.push(
      cache.watch({
        fromRevision: 1,
        filter:
          watcherFilter === 'index'
            ? { index: { name: 'spec.nodeName', value: nodeName } }
            : { predicate: (p) => p.fields['spec.nodeName'] === nodeName },
      }),
    );
  }
  const keys = Array.from({ length: PODS }, (_, i) => encoder.encode(podKey(`pod-${i}`)));
  const created = new Array<number>(PODS).fill(0);
  let revision = 1;
  let ops = 0;
  const step = async (): Promise<void> => {
    const podIndex = ops % PODS;
    const round = Math.floor(ops / PODS);
    ops++;
    revision++;
    const value = new Uint8Array(0);
    objects.set(value, pod(`pod-${podIndex}`, { nodeName: `node-${(podIndex + round) % WATCHERS}` }));
    if (created[podIndex] === 0) created[podIndex] = revision;
    const kv: KeyValue = { key: keys[podIndex]!, createRevision: created[podIndex]!, modRevision: revision, version: round + 1, value, lease: 0 };
    feed.push({ type: 'events', watchId: 1, revision, events: [{ type: 'put', kv }] });
    // Nobody reads the watchers: each gets about two events per PODS operations, so a run of a
    // second stays far below the buffer bound (checked at the end: no watcher was closed).
    await cache.waitForRevision(revision);
  };
  return { cache, watchers, step };
}

function collector(): (() => void) | undefined {
  try {
    setFlagsFromString('--expose-gc');
    const gc: unknown = runInNewContext('gc');
    return typeof gc === 'function' ? () => (gc as () => void)() : undefined;
  } catch {
    return undefined;
  }
}

const gc = collector();
gc?.();
const heapBefore = process.memoryUsage().heapUsed;
const indexed = await scenario('index');
gc?.();
const bytesPerWatcher = (process.memoryUsage().heapUsed - heapBefore) / WATCHERS;
const predicated = await scenario('predicate');
const baseline = await scenario('none');

const bench = new Bench({ time: 1000, warmup: true });
bench
  .add('one change, no watchers (the cache\'s own work)', baseline.step)
  .add(`one change, ${WATCHERS.toLocaleString('en-US')} index watchers (spec.nodeName)`, indexed.step)
  .add(`one change, ${WATCHERS.toLocaleString('en-US')} predicate watchers`, predicated.step);

await bench.run();
console.table(
  bench.tasks.map((t) => {
    const r = t.result;
    if (r === undefined || !('latency' in r)) return { task: t.name, error: 'no result' };
    return {
      task: t.name,
      'median (µs)': (r.latency.p50! * 1000).toFixed(2),
      'p99 (µs)': (r.latency.p99! * 1000).toFixed(2),
      'ops/s (median)': Math.round(r.throughput.p50 ?? 0).toLocaleString('en-US'),
      samples: r.latency.samplesCount,
    };
  }),
);
console.log(
  gc === undefined
    ? 'idle watcher memory: gc not exposed, not measured'
    : `idle watcher memory: ${Math.round(bytesPerWatcher)} bytes each (${WATCHERS.toLocaleString('en-US')} index watchers, heap after gc)`,
);
for (const s of [indexed, predicated]) {
  if (s.cache.watcherCount !== WATCHERS) console.log(`WARNING: ${WATCHERS - s.cache.watcherCount} watchers were closed as slow; the figures are off`);
}
for (const s of [indexed, predicated, baseline]) s.cache.stop();
