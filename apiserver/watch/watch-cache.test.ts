// The watch cache over a LocalBackend: initial state then live, resume, expiry, waiting for a
// revision, filters, slow watchers, bookmarks, losing the store watch, resuming on another cache.

import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import type { BackendWatcher } from '../../store/backend.js';
import { LocalBackend } from '../../store/local-backend.js';
import { CompactedError, SlowWatcherError } from '../../store/mvcc/errors.js';
import { type TempStore, openTempStore, utf8 } from '../../store/mvcc/testing.js';
import type { WatchRequest, WatchResponse } from '../../store/mvcc/watch.js';
import {
  CacheReinitializedError,
  CacheStoppedError,
  ResourceExpiredError,
  TooLargeResourceVersionError,
  UnknownIndexError,
  WatcherTooSlowError,
} from './errors.js';
import type { CacheEvent } from './events.js';
import {
  FakeClock,
  POD_INDEXES,
  POD_TYPE_META,
  type TestPod,
  WatchReader,
  decodePod,
  podSelectable,
  describeEvent,
  encodePod,
  memoryLogger,
  pod,
  podKey,
} from './testing.js';
import { WatchCache, type WatchCacheLimits, type CacheWatchOptions } from './watch-cache.js';

const WAIT_MS = 5_000;
const QUIET_MS = 50;

let temp: TempStore;
let backend: LocalBackend;
let clock: FakeClock;
let logger: ReturnType<typeof memoryLogger>;
let caches: WatchCache<TestPod>[];

beforeEach(() => {
  temp = openTempStore('flotilla-watch-cache-');
  // The backend's own timers (lease ticks, idle progress) never fire: its clock is never advanced.
  backend = new LocalBackend({ store: temp.store, clock: new FakeClock(), leaseTickMs: 3_600_000 });
  clock = new FakeClock();
  logger = memoryLogger();
  caches = [];
});

afterEach(async () => {
  for (const cache of caches) cache.stop();
  backend.close();
  await temp.dispose();
});

type Source = ConstructorParameters<typeof WatchCache<TestPod>>[0]['source'];

async function newCache(limits: Partial<WatchCacheLimits> = {}, source: Source = backend): Promise<WatchCache<TestPod>> {
  const cache = new WatchCache<TestPod>({
    source,
    prefix: utf8('/registry/pods/'),
    typeMeta: POD_TYPE_META,
    decode: decodePod,
    selectable: podSelectable,
    indexes: POD_INDEXES,
    limits,
    clock,
    logger,
  });
  caches.push(cache);
  await cache.start();
  return cache;
}

async function put(object: TestPod): Promise<number> {
  const response = await backend.propose({ type: 'put', key: utf8(podKey(object.metadata.name!)), value: encodePod(object) });
  return response.revision;
}

async function putRaw(key: string, value: string): Promise<number> {
  return (await backend.propose({ type: 'put', key: utf8(key), value: utf8(value) })).revision;
}

async function remove(name: string): Promise<number> {
  return (await backend.propose({ type: 'deleteRange', key: utf8(podKey(name)) })).revision;
}

function reader(cache: WatchCache<TestPod>, options: CacheWatchOptions<TestPod> = {}): WatchReader<TestPod> {
  return new WatchReader(cache.watch(options));
}

async function events(r: WatchReader<TestPod>, count: number): Promise<string[]> {
  return (await r.events(count, WAIT_MS)).map(describeEvent);
}

async function quiet(r: WatchReader<TestPod>): Promise<void> {
  expect(await r.batch(QUIET_MS)).toBe('timeout');
}

async function failure(r: WatchReader<TestPod>): Promise<Error> {
  for (;;) {
    const batch = await r.batch(WAIT_MS);
    if (batch instanceof Error) return batch;
    if (batch === 'timeout' || batch === 'done') throw new Error(`expected an error, got ${batch}`);
  }
}

describe('initial state and live events', () => {
  test('ADDED for every current object at the cache revision, then ADDED, MODIFIED, DELETED live', async () => {
    const r2 = await put(pod('a'));
    const r3 = await put(pod('b', { nodeName: 'n1' }));
    const cache = await newCache();
    expect(cache.revision).toBe(r3);
    const w = reader(cache);
    const initial = await w.events(2, WAIT_MS);
    expect(initial.map(describeEvent)).toEqual([`ADDED a@${r2}`, `ADDED b@${r3} on n1`]);
    expect(initial.map((e) => e.revision)).toEqual([r3, r3]);
    expect(w.batches).toHaveLength(1);

    const r4 = await put(pod('c'));
    const r5 = await put(pod('a', { image: 'nginx:2' }));
    const r6 = await remove('b');
    expect(await events(w, 3)).toEqual([`ADDED c@${r4}`, `MODIFIED a@${r5}`, `DELETED b@${r6} on n1`]);
    await quiet(w);
    const list = cache.list();
    expect(list.revision).toBe(r6);
    expect(list.items.map((c) => c.decode()).map((p) => `${p.metadata.name}@${p.metadata.resourceVersion}`)).toEqual([`a@${r5}`, `c@${r4}`]);
  });

  test('DELETED carries the last state, stamped with the delete revision, and the last stored bytes', async () => {
    const cache = await newCache();
    const w = reader(cache, { fromRevision: cache.revision });
    const created = await put(pod('p', { nodeName: 'n1', labels: { app: 'web' } }));
    const deleted = await remove('p');
    const [, del] = await w.events(2, WAIT_MS);
    expect(del?.type).toBe('DELETED');
    if (del?.type !== 'DELETED') return;
    const last = del.decode();
    expect(last.spec.nodeName).toBe('n1');
    expect(last.metadata.labels).toEqual({ app: 'web' });
    expect(last.metadata.resourceVersion).toBe(String(deleted));
    expect(del.resourceVersion).toBe(deleted);
    expect(del.revision).toBe(deleted);
    expect(del.raw.modRevision).toBe(created);
  });

  test('the list at start is paged and at one revision; undecodable keys are logged and skipped', async () => {
    for (let i = 0; i < 25; i++) await put(pod(`p${String(i).padStart(2, '0')}`));
    await putRaw(podKey('broken'), 'not json');
    const cache = await newCache({ listPageSize: 4 });
    expect(cache.size).toBe(25);
    expect(cache.decodeFailures).toBe(1);
    expect(logger.lines.some((l) => l.level === 'error' && l.fields?.['key'] === podKey('broken'))).toBe(true);
    const w = reader(cache, { fromRevision: cache.revision });
    await putRaw(podKey('broken2'), '{');
    const r = await put(pod('ok'));
    expect(await events(w, 1)).toEqual([`ADDED ok@${r}`]);
    expect(cache.decodeFailures).toBe(2);
  });

  test('an unknown index is refused at once', async () => {
    const cache = await newCache();
    expect(() => cache.watch({ filter: { index: { name: 'spec.nope', value: 'x' } } })).toThrow(UnknownIndexError);
    expect(() => cache.list({ index: { name: 'spec.nope', value: 'x' } })).toThrow(UnknownIndexError);
  });
});

describe('resume from a revision', () => {
  test('every change after N, from the ring then live', async () => {
    const cache = await newCache();
    const r1 = await put(pod('a'));
    const r2 = await put(pod('b'));
    const r3 = await put(pod('a', { image: 'v2' }));
    await cache.waitForRevision(r3);
    const w = reader(cache, { fromRevision: r1 });
    expect(await events(w, 2)).toEqual([`ADDED b@${r2}`, `MODIFIED a@${r3}`]);
    const r4 = await remove('b');
    expect(await events(w, 1)).toEqual([`DELETED b@${r4}`]);
  });

  test('a replay comes in bounded batches that never end inside a revision', async () => {
    const cache = await newCache({ maxBatchEvents: 2 });
    const from = cache.revision;
    const single = await put(pod('a'));
    const ops = ['b', 'c', 'd'].map((name) => ({ type: 'put' as const, key: utf8(podKey(name)), value: encodePod(pod(name)) }));
    const txn = (await backend.propose({ type: 'txn', compare: [], success: ops, failure: [] })).revision;
    const last = await put(pod('e'));
    await cache.waitForRevision(last);
    const w = reader(cache, { fromRevision: from });
    await w.events(5, WAIT_MS);
    expect(w.batches.map((batch) => batch.map((e) => e.revision))).toEqual([[single, txn, txn, txn], [last]]);
  });

  test('N older than the ring reaches is ResourceExpiredError naming the oldest revision', async () => {
    const start = await put(pod('seed'));
    const cache = await newCache({ ringCapacity: 3, startHistoryRevisions: 0 });
    expect(cache.oldestRevision).toBe(start);
    const older = reader(cache, { fromRevision: start - 1 });
    expect(await failure(older)).toEqual(new ResourceExpiredError(start - 1, start));
    let last = 0;
    for (let i = 0; i < 5; i++) last = await put(pod(`p${i}`));
    await cache.waitForRevision(last);
    // Five changes through a ring of three: the two oldest are gone.
    expect(cache.oldestRevision).toBe(last - 3);
    const expired = await failure(reader(cache, { fromRevision: last - 4 }));
    expect(expired).toBeInstanceOf(ResourceExpiredError);
    expect(expired).toMatchObject({ requested: last - 4, oldestRevision: last - 3 });
    expect(await events(reader(cache, { fromRevision: last - 3 }), 3)).toHaveLength(3);
  });

  test('a cache that starts late replays recent history: watches from before its start are served', async () => {
    const r1 = await put(pod('early'));
    const r2 = await put(pod('later'));
    const cache = await newCache();
    expect(cache.oldestRevision).toBeLessThan(r1);
    expect(await events(reader(cache, { fromRevision: r1 }), 1)).toEqual([`ADDED later@${r2}`]);
    expect(cache.list().items.map((c) => c.decode().metadata.name)).toEqual(['early', 'later']);
    expect(cache.revision).toBeGreaterThanOrEqual(r2);
  });

  test('the history a cache loads at start stops at the store compaction and at startHistoryRevisions', async () => {
    const r1 = await put(pod('a'));
    const r2 = await put(pod('b'));
    await backend.propose({ type: 'compact', revision: r2 });
    const r3 = await put(pod('c'));
    const compacted = await newCache();
    expect(compacted.oldestRevision).toBe(r2);
    expect(await failure(reader(compacted, { fromRevision: r1 }))).toBeInstanceOf(ResourceExpiredError);
    expect(await events(reader(compacted, { fromRevision: r2 }), 1)).toEqual([`ADDED c@${r3}`]);
    const short = await newCache({ startHistoryRevisions: 1 });
    expect(short.oldestRevision).toBe(r3 - 1);
  });

  test('N ahead of the cache waits for it, then starts after N', async () => {
    const cache = await newCache();
    const now = cache.revision;
    const w = reader(cache, { fromRevision: now + 2 });
    await quiet(w);
    await put(pod('a')); // now + 1
    await put(pod('b')); // now + 2
    await quiet(w);
    const r = await put(pod('c'));
    expect(await events(w, 1)).toEqual([`ADDED c@${r}`]);
  });

  test('N the cache does not reach in time is TooLargeResourceVersionError', async () => {
    const cache = await newCache();
    const w = reader(cache, { fromRevision: cache.revision + 100 });
    await quiet(w);
    clock.advance(cache.limits.waitForRevisionTimeoutMs);
    const error = await failure(w);
    expect(error).toBeInstanceOf(TooLargeResourceVersionError);
    expect(error).toMatchObject({ requested: cache.revision + 100, currentRevision: cache.revision });
    expect(error.message).toContain('Too large resource version');
    expect(cache.watcherCount).toBe(0);
  });

  test('cancelling a watcher that waits for its revision unregisters it at once', async () => {
    const cache = await newCache();
    const w = cache.watch({ fromRevision: cache.revision + 5 });
    const ahead = cache.watch({ fromRevision: cache.revision + 7 });
    expect(cache.watcherCount).toBe(2);
    w.cancel();
    expect(cache.watcherCount).toBe(1);
    expect(await w.next()).toEqual({ done: true, value: undefined });
    cache.stop();
    // Stopped before it started: it resumes from the revision it asked for, not the cache's.
    await expect(ahead.next()).rejects.toEqual(new CacheStoppedError(cache.revision + 7));
  });

  test('waitForRevision follows writes to other prefixes through progress requests', async () => {
    const cache = await newCache();
    const w = reader(cache, { fromRevision: cache.revision });
    const other = await putRaw('/registry/nodes/n1', '{}');
    await cache.waitForRevision(other);
    expect(cache.revision).toBe(other);
    expect(cache.list().revision).toBe(other);
    // A client holding a revision from another kind watches from it without waiting.
    const from = reader(cache, { fromRevision: other });
    const r = await put(pod('a'));
    expect(await events(from, 1)).toEqual([`ADDED a@${r}`]);
    expect(await events(w, 1)).toEqual([`ADDED a@${r}`]);
    const abort = new AbortController();
    const waiting = cache.waitForRevision(r + 10, abort.signal);
    abort.abort(new Error('client went away'));
    await expect(waiting).rejects.toThrow('client went away');
  });
});

describe('filters', () => {
  test('an index filter delivers own-node events only: ADDED when bound here, DELETED when moved away', async () => {
    const cache = await newCache();
    const from = cache.revision;
    const n1 = reader(cache, { fromRevision: from, filter: { index: { name: 'spec.nodeName', value: 'n1' } } });
    const n2 = reader(cache, { fromRevision: from, filter: { index: { name: 'spec.nodeName', value: 'n2' } } });
    await put(pod('p')); // unbound: nobody's
    await put(pod('other', { nodeName: 'n3' }));
    const bound = await put(pod('p', { nodeName: 'n1' }));
    const updated = await put(pod('p', { nodeName: 'n1', image: 'v2' }));
    const moved = await put(pod('p', { nodeName: 'n2' }));
    const gone = await remove('p');
    expect(await events(n1, 3)).toEqual([`ADDED p@${bound} on n1`, `MODIFIED p@${updated} on n1`, `DELETED p@${moved} on n1`]);
    expect(await events(n2, 2)).toEqual([`ADDED p@${moved} on n2`, `DELETED p@${gone} on n2`]);
    await quiet(n1);
    await quiet(n2);
    expect(cache.list({ index: { name: 'spec.nodeName', value: 'n3' } }).items.map((c) => c.decode().metadata.name)).toEqual(['other']);
  });

  test('a predicate filter (labels) gets ADDED when an object starts matching and DELETED when it stops', async () => {
    await put(pod('x', { labels: { app: 'web' } }));
    await put(pod('y', { labels: { app: 'db' } }));
    const cache = await newCache();
    const web = reader(cache, { filter: { predicate: (p) => p.labels?.['app'] === 'web' } });
    expect((await events(web, 1)).map((e) => e.split('@')[0])).toEqual(['ADDED x']);
    const relabeled = await put(pod('y', { labels: { app: 'web' } }));
    const unlabeled = await put(pod('x', { labels: {} }));
    await put(pod('z', { labels: { app: 'db' } }));
    expect(await events(web, 2)).toEqual([`ADDED y@${relabeled}`, `DELETED x@${unlabeled}`]);
    await quiet(web);
    const both = cache.list({
      index: { name: 'metadata.namespace', value: 'default' },
      predicate: (p) => p.labels?.['app'] !== undefined,
    });
    expect(both.items.map((c) => c.decode().metadata.name)).toEqual(['y', 'z']);
  });

  test('a predicate that throws ends its own watcher only', async () => {
    const cache = await newCache();
    const broken = reader(cache, {
      fromRevision: cache.revision,
      filter: {
        predicate: (p) => {
          if (p.fields['metadata.name'] === 'bad') throw new Error('predicate bug');
          return true;
        },
      },
    });
    const fine = reader(cache, { fromRevision: cache.revision });
    const good = await put(pod('good'));
    const bad = await put(pod('bad'));
    expect(await events(broken, 1)).toEqual([`ADDED good@${good}`]);
    expect((await failure(broken)).message).toBe('predicate bug');
    expect(await events(fine, 2)).toEqual([`ADDED good@${good}`, `ADDED bad@${bad}`]);
    expect(cache.isReady).toBe(true);
  });

  test('watchers share event objects', async () => {
    const cache = await newCache();
    const a = reader(cache, { fromRevision: cache.revision });
    const b = reader(cache, { fromRevision: cache.revision, filter: { index: { name: 'spec.nodeName', value: 'n1' } } });
    await put(pod('p', { nodeName: 'n1' }));
    const [ea] = await a.events(1, WAIT_MS);
    const [eb] = await b.events(1, WAIT_MS);
    expect(ea).toBe(eb);
  });
});

describe('slow watchers', () => {
  test('a watcher past its buffer is closed with its last revision; others are unaffected; resuming loses nothing', async () => {
    const cache = await newCache({ watcherBufferEvents: 5 });
    const from = cache.revision;
    const slow = reader(cache, { fromRevision: from });
    const fast = reader(cache, { fromRevision: from });
    const revisions: number[] = [];
    const fastSeen: string[] = [];
    for (let i = 0; i < 12; i++) {
      revisions.push(await put(pod(`p${i}`)));
      fastSeen.push(...(await events(fast, 1)));
    }
    const delivered: CacheEvent<TestPod>[] = [];
    let error: Error | undefined;
    for (;;) {
      const batch = await slow.batch(WAIT_MS);
      if (batch instanceof Error) {
        error = batch;
        break;
      }
      if (!Array.isArray(batch)) throw new Error(String(batch));
      delivered.push(...batch);
    }
    expect(error).toBeInstanceOf(WatcherTooSlowError);
    const lastRevision = (error as WatcherTooSlowError).lastRevision;
    expect(delivered.map((e) => e.revision)).toEqual(revisions.slice(0, 5));
    expect(lastRevision).toBe(revisions[4]);
    expect(fastSeen).toHaveLength(12);
    // Resuming from lastRevision: exactly the rest, no gap, no repeat.
    const resumed = reader(cache, { fromRevision: lastRevision });
    expect((await resumed.events(7, WAIT_MS)).map((e) => e.revision)).toEqual(revisions.slice(5));
    expect(cache.watcherCount).toBe(2);
  });

  test('a revision larger than the buffer goes out whole', async () => {
    const cache = await newCache({ watcherBufferEvents: 2 });
    const w = reader(cache, { fromRevision: cache.revision });
    const ops = ['a', 'b', 'c', 'd'].map((name) => ({ type: 'put' as const, key: utf8(podKey(name)), value: encodePod(pod(name)) }));
    const txn = await backend.propose({ type: 'txn', compare: [], success: ops, failure: [] });
    const batch = await w.batch(WAIT_MS);
    expect(Array.isArray(batch) && batch.map((e) => e.revision)).toEqual([txn.revision, txn.revision, txn.revision, txn.revision]);
  });
});

describe('bookmarks', () => {
  test('an idle watcher that asked gets BOOKMARK with the cache revision after the idle interval', async () => {
    const cache = await newCache({ bookmarkIdleMs: 10_000, bookmarkCheckIntervalMs: 1_000 });
    const marked = reader(cache, { fromRevision: cache.revision, bookmarks: true });
    const plain = reader(cache, { fromRevision: cache.revision });
    const r = await put(pod('a'));
    await events(marked, 1);
    await events(plain, 1);
    const other = await putRaw('/registry/nodes/n1', '{}');
    await cache.waitForRevision(other);
    clock.advance(9_000);
    await quiet(marked);
    clock.advance(1_000);
    const [bookmark] = await marked.events(1, WAIT_MS);
    expect(bookmark).toEqual({
      type: 'BOOKMARK',
      object: { apiVersion: 'v1', kind: 'Pod', metadata: { resourceVersion: String(other) } },
      revision: other,
    });
    expect(r).toBeLessThan(other);
    await quiet(plain);
    // Not again until idle for another interval.
    clock.advance(5_000);
    await quiet(marked);
  });
});

/** A source whose store watchers a test can break. */
class BreakableSource {
  readonly watchers: { watcher: BackendWatcher; fail: (error: Error) => void }[] = [];
  constructor(private readonly inner: LocalBackend) {}
  header = () => this.inner.header();
  range: LocalBackend['range'] = (request, consistency) => this.inner.range(request, consistency);
  watch = (request: WatchRequest): BackendWatcher => {
    const inner = this.inner.watch(request);
    let failure: Error | undefined;
    let wake: (() => void) | undefined;
    const watcher: BackendWatcher = {
      get synced() {
        return inner.synced;
      },
      cancel: () => inner.cancel(),
      requestProgress: () => inner.requestProgress(),
      next: async (): Promise<IteratorResult<WatchResponse>> => {
        const broken = new Promise<never>((_, reject) => {
          wake = () => reject(failure);
        });
        if (failure !== undefined) throw failure;
        return Promise.race([inner.next(), broken]);
      },
    };
    this.watchers.push({
      watcher,
      fail: (error) => {
        failure = error;
        inner.cancel();
        wake?.();
      },
    });
    return watcher;
  };
}

describe('losing the store watch', () => {
  test('a compacted store watch relists; watchers are closed with the revision to resume from', async () => {
    const source = new BreakableSource(backend);
    const cache = await newCache({ startHistoryRevisions: 0 }, source);
    const w = reader(cache, { fromRevision: cache.revision });
    const r1 = await put(pod('a'));
    expect(await events(w, 1)).toEqual([`ADDED a@${r1}`]);
    const other = await putRaw('/registry/nodes/n1', '{}');
    await cache.waitForRevision(other);
    source.watchers[0]!.fail(new CompactedError(other, other));
    const error = await failure(w);
    expect(error).toBeInstanceOf(CacheReinitializedError);
    expect((error as CacheReinitializedError).lastRevision).toBe(other);
    expect(cache.isReady).toBe(false);
    const r2 = await put(pod('b'));
    // A watcher asked for meanwhile waits for the new state.
    const waiting = reader(cache, { fromRevision: r2 });
    clock.advance(cache.limits.relistBackoffMs);
    await cache.waitForRevision(r2);
    expect(cache.list().items.map((c) => c.decode().metadata.name)).toEqual(['a', 'b']);
    expect(cache.oldestRevision).toBe(r2);
    const r3 = await put(pod('c'));
    expect(await events(waiting, 1)).toEqual([`ADDED c@${r3}`]);
    expect(logger.lines.some((l) => l.level === 'warn' && String(l.fields?.['reason']).includes('CompactedError'))).toBe(true);
  });

  test('a store watch dropped as slow is resumed from the cache revision; watchers do not notice', async () => {
    const source = new BreakableSource(backend);
    const cache = await newCache({}, source);
    const w = reader(cache, { fromRevision: cache.revision });
    const r1 = await put(pod('a'));
    expect(await events(w, 1)).toEqual([`ADDED a@${r1}`]);
    source.watchers[0]!.fail(new SlowWatcherError(1, r1 + 1));
    const r2 = await put(pod('b'));
    expect(await events(w, 1)).toEqual([`ADDED b@${r2}`]);
    expect(source.watchers).toHaveLength(2);
    expect(cache.isReady).toBe(true);
  });

  test('stop ends every watcher with CacheStoppedError and its last revision', async () => {
    const cache = await newCache();
    const w = reader(cache);
    await w.events(0, WAIT_MS);
    const r = await put(pod('a'));
    await events(w, 1);
    cache.stop();
    const error = await failure(w);
    expect(error).toEqual(new CacheStoppedError(r));
    await expect(cache.waitForRevision(r + 1)).rejects.toThrow(CacheStoppedError);
  });
});

describe('resuming on another master', () => {
  test('a watcher resuming from its last delivered revision on another cache sees no gap and no repeat', async () => {
    const filter = { index: { name: 'spec.nodeName', value: 'n1' } };
    const masterA = await newCache();
    const masterB = await newCache();
    const onA = reader(masterA, { filter });
    await put(pod('p0', { nodeName: 'n1' }));
    await put(pod('q', { nodeName: 'n2' }));
    await put(pod('p1', { nodeName: 'n1' }));
    await put(pod('p0', { nodeName: 'n2' }));
    const seen = await onA.events(3, WAIT_MS);
    const last = seen[seen.length - 1]!.revision;
    await onA.watcher.return();
    expect(masterA.watcherCount).toBe(0);
    // Written while the client moves over.
    const r1 = await put(pod('p1', { nodeName: 'n1', image: 'v2' }));
    const r2 = await remove('p1');
    const r3 = await put(pod('p2', { nodeName: 'n1' }));
    const onB = reader(masterB, { fromRevision: last, filter });
    expect(await events(onB, 3)).toEqual([`MODIFIED p1@${r1} on n1`, `DELETED p1@${r2} on n1`, `ADDED p2@${r3} on n1`]);
    await quiet(onB);
  });

  test('resuming after the initial state continues from the state revision', async () => {
    await put(pod('a'));
    const cache = await newCache();
    const first = reader(cache);
    const [initial] = await first.events(1, WAIT_MS);
    await first.watcher.return();
    const r = await put(pod('b'));
    const resumed = reader(cache, { fromRevision: initial!.revision });
    expect(await events(resumed, 1)).toEqual([`ADDED b@${r}`]);
  });
});
