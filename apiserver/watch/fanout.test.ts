// Fanout at the scale of a 5,000-node cluster: every node agent watches spec.nodeName=<its node>.
// A change must reach only the watchers of its old and new node, and an idle watcher must be small.

import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { afterEach, beforeEach, expect, test, vi } from 'vitest';
import { LocalBackend } from '../../store/local-backend.js';
import { type TempStore, openTempStore, utf8 } from '../../store/mvcc/testing.js';
import { CacheWatcher } from './cache-watcher.js';
import {
  FakeClock,
  POD_INDEXES,
  POD_TYPE_META,
  type TestPod,
  decodePod,
  podSelectable,
  describeEvent,
  encodePod,
  memoryLogger,
  pod,
  podKey,
} from './testing.js';
import { WatchCache } from './watch-cache.js';

const NODES = 5_000;
/** Pods moved from their node to the next one after the burst of creates. */
const MOVES = 500;
/** The goal for an idle watcher's memory. */
const MAX_BYTES_PER_IDLE_WATCHER = 10 * 1024;

let temp: TempStore;
let backend: LocalBackend;
let cache: WatchCache<TestPod>;

beforeEach(async () => {
  temp = openTempStore('flotilla-watch-fanout-');
  backend = new LocalBackend({ store: temp.store, clock: new FakeClock(), leaseTickMs: 3_600_000 });
  cache = new WatchCache<TestPod>({
    source: backend,
    prefix: utf8('/registry/pods/'),
    typeMeta: POD_TYPE_META,
    decode: decodePod,
    selectable: podSelectable,
    indexes: POD_INDEXES,
    clock: new FakeClock(),
    logger: memoryLogger(),
  });
  await cache.start();
});

afterEach(async () => {
  cache.stop();
  backend.close();
  await temp.dispose();
});

const node = (i: number): string => `node-${i}`;

/** A full collection when the runtime lets us ask for one (V8's gc, exposed on demand). */
function collector(): (() => void) | undefined {
  try {
    setFlagsFromString('--expose-gc');
    const gc: unknown = runInNewContext('gc');
    return typeof gc === 'function' ? () => (gc as () => void)() : undefined;
  } catch {
    return undefined;
  }
}

test('5,000 indexed watchers: a burst of binds and moves reaches exactly the old and new node', async () => {
  const gc = collector();
  gc?.();
  const before = process.memoryUsage().heapUsed;
  const watchers: CacheWatcher<TestPod>[] = [];
  for (let i = 0; i < NODES; i++) {
    watchers.push(cache.watch({ fromRevision: cache.revision, filter: { index: { name: 'spec.nodeName', value: node(i) } } }));
  }
  gc?.();
  const perWatcher = (process.memoryUsage().heapUsed - before) / NODES;
  console.log(`idle watcher: ${Math.round(perWatcher)} bytes each over ${NODES} (gc ${gc ? 'exposed' : 'not exposed'})`);
  if (gc !== undefined) expect(perWatcher).toBeLessThan(MAX_BYTES_PER_IDLE_WATCHER);
  expect(cache.watcherCount).toBe(NODES);

  const offer = vi.spyOn(CacheWatcher.prototype, 'offer');
  const created: number[] = [];
  for (let i = 0; i < NODES; i++) {
    created.push((await backend.propose({ type: 'put', key: utf8(podKey(`pod-${i}`)), value: encodePod(pod(`pod-${i}`, { nodeName: node(i) })) })).revision);
  }
  const moved: number[] = [];
  for (let i = 0; i < MOVES; i++) {
    const to = node((i + 1) % NODES);
    moved.push((await backend.propose({ type: 'put', key: utf8(podKey(`pod-${i}`)), value: encodePod(pod(`pod-${i}`, { nodeName: to })) })).revision);
  }
  await cache.waitForRevision(moved[MOVES - 1]!);
  // One offer per create (its node), two per move (the old node and the new): never all watchers.
  expect(offer).toHaveBeenCalledTimes(NODES + 2 * MOVES);
  offer.mockRestore();

  for (let i = 0; i < NODES; i++) {
    const result = await watchers[i]!.next();
    if (result.done === true) throw new Error(`watcher ${i} ended`);
    const expected = [`ADDED pod-${i}@${created[i]} on ${node(i)}`];
    if (i < MOVES) expected.push(`DELETED pod-${i}@${moved[i]} on ${node(i)}`);
    // node-i also receives pod-(i-1) moved in from its neighbour.
    const incoming = i - 1 >= 0 ? i - 1 : NODES - 1;
    if (incoming < MOVES) expected.push(`ADDED pod-${incoming}@${moved[incoming]} on ${node(i)}`);
    const seen = result.value.map(describeEvent);
    expect(seen.sort()).toEqual(expected.sort());
    // Revision order within the batch.
    const revisions = result.value.map((e) => e.revision);
    expect(revisions).toEqual([...revisions].sort((a, b) => a - b));
  }
  for (const watcher of watchers) await watcher.return();
  expect(cache.watcherCount).toBe(0);
});
