// The watch cache of one resource kind on one master (Kubernetes' cacher + watchCache): ONE store
// watch on the kind's prefix feeds the current objects, a ring of recent changes, and every API
// watcher of the kind.
//
// Start: a linearizable list of the prefix in pages at one revision R, then a store watch from
// R + 1, so the cache misses no change and sees none twice. The cache's revision is the revision
// it has seen every change up to; it advances with events and with the store watch's progress
// responses, which the cache asks for while someone waits for a revision (writes to other kinds
// move the store's revision without an event here).
//
// Fanout: watchers filtered by an index sit in a map from index value to watchers, so a change
// costs O(watchers of its old and new value + unindexed watchers), not O(all watchers). A change
// builds each event kind at most once (CacheChange); watchers share those objects.
//
// When the store watch fails the cache lists again and watches again; its watchers are closed
// with CacheReinitializedError carrying the revision each one is complete up to.
//
// Memory: per object version its stored bytes, what selectors read (namespace, labels, the kind's
// selectable fields) and its index values; not the decoded object. Each change is decoded once, to
// compute those, and then dropped: watchers and lists are sent the stored bytes, and a caller that
// wants an object decodes it again. So the garbage collector marks a few small objects per version
// instead of a whole object graph (decoded pods kept here made the watching master pause for
// 50-110 ms every ~2 s in `bench watch`). Plus the ring: up to ringCapacity changes, each a small
// record pointing at the object versions it joins (a superseded version stays alive while a change
// in the ring refers to it). For pods of ~2 KB stored, a full ring of distinct versions of busy
// objects is up to ~0.3 GB at the default 100,000; a kind with mostly idle objects costs far less.

import { Buffer } from 'node:buffer';
import type { ApiObject } from '../../proto/api/object.js';
import type { Clock } from '../../raft/driver/raft-node.js';
import type { Backend, BackendWatcher } from '../../store/backend.js';
import type { Logger } from '../../store/logger.js';
import { CompactedError, SlowWatcherError } from '../../store/mvcc/errors.js';
import { prefixRangeEnd } from '../../store/mvcc/keyspace.js';
import type { KeyValue, WatchEvent } from '../../store/mvcc/responses.js';
import type { WatchResponse } from '../../store/mvcc/watch.js';
import { CacheWatcher, type WatcherHost } from './cache-watcher.js';
import {
  CacheNotReadyError,
  CacheReinitializedError,
  CacheStoppedError,
  ResourceExpiredError,
  TooLargeResourceVersionError,
  UnknownIndexError,
} from './errors.js';
import { CachedObjects } from './cached-objects.js';
import { EventRing } from './event-ring.js';
import { RevisionWaiters } from './revision-waiters.js';
import {
  type BookmarkEvent,
  CacheChange,
  type CacheEvent,
  type CacheFilter,
  CachedObject,
  CachedObjectEvent,
  type CompiledFilter,
  type ObjectEvent,
  type Selectable,
} from './events.js';

/** Changes kept for watches resuming from a recent resourceVersion (see Memory above). */
export const RING_CAPACITY = 100_000;
/** Live events a watcher may hold undelivered before it is closed as too slow (pointers to shared events). */
export const WATCHER_BUFFER_EVENTS = 1_000;
/** Events per batch of a watcher's replay, rounded up to the end of a revision. */
export const MAX_BATCH_EVENTS = 1_000;
/** Keys per page of the start-up list, so a 150,000-object kind is not one giant response. */
export const LIST_PAGE_SIZE = 5_000;
/** How long a read or watch waits for the cache to reach its revision (Kubernetes' blockTimeout). */
export const WAIT_FOR_REVISION_TIMEOUT_MS = 3_000;
/** How often the store watch is asked for progress while someone waits for a revision. */
export const PROGRESS_REQUEST_INTERVAL_MS = 100;
/** A watcher that asked for bookmarks gets one after this long without a batch (Kubernetes: about a minute). */
export const BOOKMARK_IDLE_MS = 60_000;
/** How often the cache looks for watchers due a bookmark: one timer for all of them. */
export const BOOKMARK_CHECK_INTERVAL_MS = 1_000;
/** Wait before listing again after the store watch failed, so a failing store is not hammered. */
export const RELIST_BACKOFF_MS = 1_000;
/** The first retry of a cache's first list; later ones double up to RELIST_BACKOFF_MS. */
export const FIRST_LIST_RETRY_MS = 50;

/**
 * Revisions of history a cache loads when it starts: it lists that far back (never before the
 * store's compaction) and replays the rest through its store watch into the ring, so a master that
 * just (re)started still serves watches from the resourceVersions clients hold instead of sending
 * every informer back to relist.
 */
export const START_HISTORY_REVISIONS = 10_000;

export interface WatchCacheLimits {
  readonly ringCapacity: number;
  readonly startHistoryRevisions: number;
  readonly watcherBufferEvents: number;
  readonly maxBatchEvents: number;
  readonly listPageSize: number;
  readonly waitForRevisionTimeoutMs: number;
  readonly progressRequestIntervalMs: number;
  readonly bookmarkIdleMs: number;
  readonly bookmarkCheckIntervalMs: number;
  readonly relistBackoffMs: number;
}

export const DEFAULT_WATCH_CACHE_LIMITS: WatchCacheLimits = {
  ringCapacity: RING_CAPACITY,
  startHistoryRevisions: START_HISTORY_REVISIONS,
  watcherBufferEvents: WATCHER_BUFFER_EVENTS,
  maxBatchEvents: MAX_BATCH_EVENTS,
  listPageSize: LIST_PAGE_SIZE,
  waitForRevisionTimeoutMs: WAIT_FOR_REVISION_TIMEOUT_MS,
  progressRequestIntervalMs: PROGRESS_REQUEST_INTERVAL_MS,
  bookmarkIdleMs: BOOKMARK_IDLE_MS,
  bookmarkCheckIntervalMs: BOOKMARK_CHECK_INTERVAL_MS,
  relistBackoffMs: RELIST_BACKOFF_MS,
};

export interface WatchCacheOptions<T extends ApiObject> {
  readonly source: Pick<Backend, 'range' | 'watch' | 'header'>;
  /** The kind's key prefix, e.g. "/registry/pods/". */
  readonly prefix: Uint8Array;
  /** apiVersion and kind of the empty object a BOOKMARK carries. */
  readonly typeMeta: { readonly apiVersion: string; readonly kind: string };
  /** The object stored at kv (without resourceVersion: the cache sets it). May throw: the key is logged and skipped. */
  decode(kv: KeyValue): T;
  /** What predicates and indexes read of an object, kept instead of it. May throw, like decode. */
  selectable(object: T): Selectable;
  /**
   * The object at kv with at least what `selectable` reads (a projection, cheaper than decode):
   * what each change is decoded with. Defaults to decode. May throw, like decode.
   */
  decodeForSelection?(kv: KeyValue): T;
  /** Named index functions, e.g. 'spec.nodeName'; undefined = the object is in no bucket of that index. */
  readonly indexes?: Readonly<Record<string, (object: Selectable) => string | undefined>>;
  readonly limits?: Partial<WatchCacheLimits>;
  readonly clock: Clock;
  readonly logger: Logger;
}

export interface CacheWatchOptions<T extends ApiObject> {
  /** undefined or 0: the current state as ADDED events, then live changes. N: every change after N. */
  readonly fromRevision?: number;
  readonly filter?: CacheFilter;
  readonly bookmarks?: boolean;
}

export interface CacheList<T extends ApiObject> {
  /** Sorted by key; `decode()` an item for the object. */
  readonly items: readonly CachedObject<T>[];
  /** The cache's revision: the list is the state at it. */
  readonly revision: number;
}

/** Keys as strings that sort like the bytes (latin1 maps each byte to one UTF-16 unit below 256). */
function keyString(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1');
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

export class WatchCache<T extends ApiObject> implements WatcherHost<T> {
  readonly limits: WatchCacheLimits;
  private readonly source: Pick<Backend, 'range' | 'watch' | 'header'>;
  private readonly prefix: Uint8Array;
  private readonly rangeEnd: Uint8Array;
  private readonly prefixText: string;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly indexNames: readonly string[];
  private readonly indexFunctions: readonly ((object: Selectable) => string | undefined)[];

  private readonly objects: CachedObjects<T>;
  private ring: EventRing<T>;
  private revision_ = 0;
  private ready = false;
  /**
   * The present when the cache (re)started: until the replay of history reaches it, the cache's
   * state is older than what clients may have seen, so the current state (lists, and watches
   * without a resourceVersion) waits for it.
   */
  private startupHead = 0;
  private stopped = false;
  /** Bumped on every (re)initialization; a store watch loop of an older generation stops. */
  private generation = 0;
  private storeWatcher: BackendWatcher | undefined;

  /** Every open watcher, waiting or live. */
  private readonly watchers = new Set<CacheWatcher<T>>();
  private readonly unindexedWatchers = new Set<CacheWatcher<T>>();
  /** Per index: value → live watchers filtered on that value. */
  private readonly indexedWatchers: Map<string, Set<CacheWatcher<T>>>[];
  private readonly bookmarkWatchers = new Set<CacheWatcher<T>>();

  private readonly revisionWaiters: RevisionWaiters;
  private progressTimer: unknown;
  /** A progress request is out on the current store watch and not answered yet. */
  private progressRequested = false;
  private bookmarkTimer: unknown;
  private relistTimer: unknown;
  private decodeFailures_ = 0;
  private readonly initialEvents = new WeakMap<CachedObject<T>, ObjectEvent<T>>();

  constructor(private readonly options: WatchCacheOptions<T>) {
    this.limits = { ...DEFAULT_WATCH_CACHE_LIMITS, ...options.limits };
    this.source = options.source;
    this.prefix = options.prefix;
    this.rangeEnd = prefixRangeEnd(options.prefix);
    this.prefixText = keyString(options.prefix);
    this.clock = options.clock;
    this.logger = options.logger;
    const indexes = Object.entries(options.indexes ?? {});
    this.indexNames = indexes.map(([name]) => name);
    this.indexFunctions = indexes.map(([, fn]) => fn);
    this.objects = new CachedObjects(indexes.length);
    this.indexedWatchers = indexes.map(() => new Map());
    this.ring = new EventRing(this.limits.ringCapacity, 0);
    this.revisionWaiters = new RevisionWaiters(options.clock);
  }

  /** The revision the cache has seen every change up to. */
  get revision(): number {
    return this.revision_;
  }

  get isReady(): boolean {
    return this.ready;
  }

  /** Objects held. */
  get size(): number {
    return this.objects.size;
  }

  /** Open watchers (waiting or live). */
  get watcherCount(): number {
    return this.watchers.size;
  }

  /** Keys skipped because decode threw. */
  get decodeFailures(): number {
    return this.decodeFailures_;
  }

  /** The oldest revision a watch may resume from. */
  get oldestRevision(): number {
    return this.ring.floor;
  }

  now(): number {
    return this.clock.now();
  }

  /** Lists and starts watching; resolves once the cache is ready. */
  async start(): Promise<void> {
    if (this.stopped) throw new CacheStoppedError(this.revision_);
    this.bookmarkTimer = this.clock.setInterval(() => this.bookmarkTick(), this.limits.bookmarkCheckIntervalMs);
    // A master's caches start with the master, before its store may have a leader: the first list
    // is retried (every relistBackoffMs) until it succeeds or the cache is stopped.
    for (let attempt = 1; ; attempt++) {
      try {
        await this.initialize();
        return;
      } catch (error) {
        if (this.stopped) throw new CacheStoppedError(this.revision_);
        if (attempt % 10 === 1) this.logger.warn('watch cache cannot list yet; retrying', { prefix: this.prefixText, attempt, error: describe(error) });
        // Quick at first (a leader is usually a moment away), then every relistBackoffMs.
        const delay = Math.min(this.limits.relistBackoffMs, FIRST_LIST_RETRY_MS * 2 ** (attempt - 1));
        await new Promise<void>((resolve) => {
          this.relistTimer = this.clock.setTimeout(resolve, delay);
        });
      }
    }
  }

  /** Ends every watcher with CacheStoppedError, stops the store watch and every timer. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.ready = false;
    this.generation++;
    this.storeWatcher?.cancel();
    this.storeWatcher = undefined;
    if (this.bookmarkTimer !== undefined) this.clock.clearInterval(this.bookmarkTimer);
    if (this.progressTimer !== undefined) this.clock.clearTimeout(this.progressTimer);
    if (this.relistTimer !== undefined) this.clock.clearTimeout(this.relistTimer);
    for (const watcher of [...this.watchers]) watcher.close((lastRevision) => new CacheStoppedError(lastRevision), this.revision_);
    this.revisionWaiters.rejectAll(new CacheStoppedError(this.revision_));
  }

  // --- Loading and following the store ---

  /**
   * Lists the prefix at one revision, page by page: up to startHistoryRevisions before the present
   * (`head`, read linearizably, so the cache will reach every write acknowledged before start()),
   * never before the store's compaction. The pages read this master's own history at that revision.
   */
  private async listPrefix(): Promise<{ revision: number; head: number; kvs: KeyValue[] }> {
    const present = await this.source.range({ key: this.prefix, rangeEnd: this.rangeEnd, countOnly: true }, 'linearizable');
    const head = present.revision;
    let revision = Math.max(1, head - this.limits.startHistoryRevisions);
    for (;;) {
      const kvs: KeyValue[] = [];
      let key = this.prefix;
      try {
        for (;;) {
          const page = await this.source.range({ key, rangeEnd: this.rangeEnd, limit: this.limits.listPageSize, revision }, 'serializable', { skipCount: true });
          for (const kv of page.kvs) kvs.push(kv);
          const last = page.kvs[page.kvs.length - 1];
          if (!page.more || last === undefined) return { revision, head, kvs };
          // The smallest key after `last`.
          key = new Uint8Array(last.key.length + 1);
          key.set(last.key);
        }
      } catch (error) {
        if (!(error instanceof CompactedError) || this.stopped) throw error;
        // History before the compaction is gone: start there instead (a range at the compact
        // revision itself is still whole).
        if (error.compactRevision <= revision || error.compactRevision > head) throw error;
        revision = error.compactRevision;
        this.logger.info('watch cache history starts at the compaction', { prefix: this.prefixText, revision });
      }
    }
  }

  private async initialize(): Promise<void> {
    const generation = ++this.generation;
    for (;;) {
      const { revision, head, kvs } = await this.listPrefix();
      if (this.stopped || generation !== this.generation) return;
      let watcher: BackendWatcher;
      try {
        watcher = this.watchStore(revision + 1);
      } catch (error) {
        // Compacted between the list and the watch: that list can never be followed.
        if (!(error instanceof CompactedError)) throw error;
        this.logger.warn('watch cache list compacted before its watch started; listing again', { prefix: this.prefixText, revision });
        continue;
      }
      this.objects.clear();
      for (const kv of kvs) {
        const cached = this.decodeEntry(kv);
        if (cached !== undefined) this.objects.set(cached, undefined);
      }
      this.ring = new EventRing(this.limits.ringCapacity, revision);
      this.revision_ = revision;
      this.startupHead = head;
      this.ready = true;
      this.logger.info('watch cache ready', { prefix: this.prefixText, revision, objects: this.objects.size });
      this.revisionAdvanced();
      void this.follow(watcher, generation);
      // Waiting on the present asks the store for progress, so an idle prefix catches up too.
      if (revision < head) void this.waitForRevision(head).catch(() => undefined);
      return;
    }
  }

  private async follow(watcher: BackendWatcher, generation: number): Promise<void> {
    let reason: string;
    try {
      for (;;) {
        const result = await watcher.next();
        if (this.stopped || generation !== this.generation) return;
        if (result.done === true) {
          reason = 'the store watch ended';
          break;
        }
        this.applyResponse(result.value);
      }
    } catch (error) {
      if (this.stopped || generation !== this.generation) return;
      // The store dropped a watcher that fell behind, with everything up to the cache's revision
      // delivered: watching again from there loses nothing, and the cache's watchers never notice.
      if (error instanceof SlowWatcherError && this.resumeStoreWatch(generation)) return;
      reason = describe(error);
    }
    this.reinitialize(reason);
  }

  private resumeStoreWatch(generation: number): boolean {
    let watcher: BackendWatcher;
    try {
      watcher = this.watchStore(this.revision_ + 1);
    } catch {
      return false;
    }
    this.logger.warn('watch cache resumed its store watch after falling behind', {
      prefix: this.prefixText,
      revision: this.revision_,
    });
    void this.follow(watcher, generation);
    return true;
  }

  private watchStore(startRevision: number): BackendWatcher {
    const watcher = this.source.watch({
      key: this.prefix,
      rangeEnd: this.rangeEnd,
      startRevision,
      prevKv: true,
      progressNotify: true,
    });
    this.storeWatcher = watcher;
    this.progressRequested = false;
    return watcher;
  }

  /** Closes every watcher with the revision it can resume from, and lists again after a backoff. */
  private reinitialize(reason: string): void {
    this.logger.warn('watch cache lost its store watch; listing again', {
      prefix: this.prefixText,
      revision: this.revision_,
      reason,
    });
    this.ready = false;
    this.generation++;
    this.storeWatcher?.cancel();
    this.storeWatcher = undefined;
    this.closeWatchers((lastRevision) => new CacheReinitializedError(lastRevision, reason));
    this.relistTimer = this.clock.setTimeout(() => {
      this.relistTimer = undefined;
      this.initialize().catch((error: unknown) => {
        if (!this.stopped) this.reinitialize(`list failed: ${describe(error)}`);
      });
    }, this.limits.relistBackoffMs);
  }

  private closeWatchers(makeError: (lastRevision: number) => Error): void {
    // Watchers still waiting to start keep waiting: they start against the new state, or fail then.
    for (const watcher of [...this.watchers]) if (watcher.live) watcher.close(makeError, this.revision_);
  }

  private applyResponse(response: WatchResponse): void {
    if (response.type === 'progress') {
      this.progressRequested = false;
      if (response.revision > this.revision_) {
        this.revision_ = response.revision;
        this.revisionAdvanced();
      }
      return;
    }
    for (const event of response.events) this.applyEvent(event);
    const last = response.events[response.events.length - 1];
    // Not response.revision: the store's revision when the response was taken can be past events
    // still queued for the next response.
    if (last !== undefined && last.kv.modRevision > this.revision_) this.revision_ = last.kv.modRevision;
    this.revisionAdvanced();
  }

  private applyEvent(event: WatchEvent): void {
    const revision = event.kv.modRevision;
    const key = keyString(event.kv.key);
    const previous = this.objects.get(key);
    if (previous !== undefined && event.prevKv !== undefined && event.prevKv.modRevision !== previous.raw.modRevision) {
      // Either a version was skipped as undecodable (logged then), or the cache missed a change.
      this.logger.warn('watch cache held another version than the store replaced', {
        key,
        cachedRevision: previous.raw.modRevision,
        storeRevision: event.prevKv.modRevision,
      });
    }
    let current: CachedObject<T> | undefined;
    if (event.type === 'put') {
      current = this.decodeEntry(event.kv);
      // An undecodable version leaves the last good one in place: nothing to tell watchers.
      if (current === undefined) return;
    } else if (previous === undefined) {
      return;
    }
    if (current !== undefined) this.objects.set(current, previous);
    else if (previous !== undefined) this.objects.delete(previous);
    this.revision_ = Math.max(this.revision_, revision);
    const change = new CacheChange(revision, current, previous);
    this.ring.push(change);
    this.fanout(change);
  }

  private decodeEntry(kv: KeyValue): CachedObject<T> | undefined {
    const key = keyString(kv.key);
    let selectable: Selectable;
    try {
      const object = this.options.decodeForSelection !== undefined ? this.options.decodeForSelection(kv) : this.options.decode(kv);
      selectable = this.options.selectable(object);
    } catch (error) {
      this.decodeFailures_++;
      this.logger.error('watch cache skipped an object it cannot decode', {
        key,
        revision: kv.modRevision,
        error: describe(error),
      });
      return undefined;
    }
    const indexValues = this.indexFunctions.map((fn) => {
      try {
        return fn(selectable);
      } catch {
        return undefined;
      }
    });
    return new CachedObject(key, kv, selectable, indexValues, this.options.decode);
  }

  private fanout(change: CacheChange<T>): void {
    for (const watcher of this.unindexedWatchers) watcher.offer(change);
    for (let i = 0; i < this.indexedWatchers.length; i++) {
      const byValue = this.indexedWatchers[i]!;
      if (byValue.size === 0) continue;
      const before = change.previous?.indexValues[i];
      const after = change.current?.indexValues[i];
      if (before !== undefined) {
        const watchers = byValue.get(before);
        if (watchers !== undefined) for (const watcher of watchers) watcher.offer(change);
      }
      if (after !== undefined && after !== before) {
        const watchers = byValue.get(after);
        if (watchers !== undefined) for (const watcher of watchers) watcher.offer(change);
      }
    }
  }

  // --- Revisions ---

  private revisionAdvanced(): void {
    if (this.ready) this.revisionWaiters.reached(this.revision_);
  }

  /**
   * Resolves once the cache has seen every change up to `revision`. Rejects after
   * waitForRevisionTimeoutMs with TooLargeResourceVersionError (CacheNotReadyError when the cache
   * never became ready), with signal's reason when aborted, or with CacheStoppedError.
   */
  waitForRevision(revision: number, signal?: AbortSignal): Promise<void> {
    if (this.stopped) return Promise.reject(new CacheStoppedError(this.revision_));
    if (this.ready && revision <= this.revision_) return Promise.resolve();
    const timeoutMs = this.limits.waitForRevisionTimeoutMs;
    const waiting = this.revisionWaiters.wait(revision, timeoutMs, signal, () =>
      this.ready
        ? new TooLargeResourceVersionError(revision, this.revision_, timeoutMs)
        : new CacheNotReadyError(`not ready within ${timeoutMs} ms`),
    );
    this.requestProgress();
    return waiting;
  }

  /**
   * Asks the store watch for progress, unless a request is still unanswered, and again every
   * interval while someone waits (this master's store may itself be behind the revision asked for).
   * Answers do not trigger a new request at once: a lagging store would make that a busy loop.
   */
  private requestProgress(): void {
    if (!this.progressRequested && this.storeWatcher !== undefined) {
      this.progressRequested = true;
      this.storeWatcher.requestProgress();
    }
    if (this.progressTimer !== undefined || this.revisionWaiters.size === 0) return;
    this.progressTimer = this.clock.setTimeout(() => {
      this.progressTimer = undefined;
      // Idempotent at the store: asking again only matters if the watcher was replaced meanwhile.
      this.progressRequested = false;
      if (this.revisionWaiters.size > 0 && !this.stopped) this.requestProgress();
    }, this.limits.progressRequestIntervalMs);
  }

  private bookmarkTick(): void {
    if (!this.ready || this.bookmarkWatchers.size === 0) return;
    const now = this.clock.now();
    let bookmark: BookmarkEvent | undefined;
    const makeBookmark = (): BookmarkEvent =>
      (bookmark ??= {
        type: 'BOOKMARK',
        object: { ...this.options.typeMeta, metadata: { resourceVersion: String(this.revision_) } },
        revision: this.revision_,
      });
    for (const watcher of this.bookmarkWatchers) watcher.bookmarkTick(now, this.limits.bookmarkIdleMs, makeBookmark);
    // So the next bookmarks carry a revision that has moved with the rest of the store.
    this.requestProgress();
  }

  // --- Reads and watches ---

  private compile(filter: CacheFilter | undefined): CompiledFilter {
    let indexPosition = -1;
    if (filter?.index !== undefined) {
      indexPosition = this.indexNames.indexOf(filter.index.name);
      if (indexPosition < 0) throw new UnknownIndexError(filter.index.name, this.indexNames);
    }
    return { indexPosition, indexValue: filter?.index?.value ?? '', predicate: filter?.predicate };
  }

  /** The objects matching `filter` as of the cache's revision. Throws CacheNotReadyError, UnknownIndexError. */
  list(filter?: CacheFilter): CacheList<T> {
    if (!this.ready) throw new CacheNotReadyError('listing the store');
    if (this.revision_ < this.startupHead) throw new CacheNotReadyError(`replaying history up to revision ${this.startupHead}`);
    const compiled = this.compile(filter);
    return { items: this.objects.matching(compiled), revision: this.revision_ };
  }

  /** Throws UnknownIndexError; every other failure comes out of the iterator. */
  watch(options: CacheWatchOptions<T> = {}): CacheWatcher<T> {
    const filter = this.compile(options.filter);
    const fromRevision = options.fromRevision ?? 0;
    if (!Number.isSafeInteger(fromRevision) || fromRevision < 0) throw new RangeError(`fromRevision ${fromRevision} is not a revision`);
    const watcher = new CacheWatcher<T>(
      this,
      filter,
      fromRevision,
      options.bookmarks === true,
      { bufferEvents: this.limits.watcherBufferEvents, maxBatchEvents: this.limits.maxBatchEvents },
      this.clock.now(),
    );
    this.watchers.add(watcher);
    if (this.stopped) watcher.close((lastRevision) => new CacheStoppedError(lastRevision), this.revision_);
    else {
      // The current state is served once the cache has caught up with the present it started at.
      const needed = fromRevision === 0 ? this.startupHead : fromRevision;
      watcher.start(this.ready && needed <= this.revision_, needed);
    }
    return watcher;
  }

  /** WatcherHost: registers a watcher whose fromRevision the cache has reached, returning its replay. */
  begin(watcher: CacheWatcher<T>): CacheEvent<T>[] {
    if (!this.ready) throw new CacheNotReadyError('listing the store');
    const replay: CacheEvent<T>[] = [];
    if (watcher.fromRevision === 0) {
      for (const cached of this.objects.matching(watcher.filter)) replay.push(this.initialEvent(cached));
    } else {
      if (watcher.fromRevision < this.ring.floor) throw new ResourceExpiredError(watcher.fromRevision, this.ring.floor);
      for (const change of this.ring.after(watcher.fromRevision)) {
        const event = change.eventFor(watcher.filter);
        if (event !== undefined) replay.push(event);
      }
    }
    const { indexPosition, indexValue } = watcher.filter;
    if (indexPosition < 0) {
      this.unindexedWatchers.add(watcher);
    } else {
      const byValue = this.indexedWatchers[indexPosition]!;
      let watchers = byValue.get(indexValue);
      if (watchers === undefined) byValue.set(indexValue, (watchers = new Set()));
      watchers.add(watcher);
    }
    if (watcher.bookmarks) this.bookmarkWatchers.add(watcher);
    return replay;
  }

  private initialEvent(cached: CachedObject<T>): ObjectEvent<T> {
    // Stamped with the state's revision, not the object's: a client resuming after the initial
    // state must not be replayed the changes between the two. Watchers starting at the same
    // revision (agents reconnecting together) share it.
    const known = this.initialEvents.get(cached);
    if (known !== undefined && known.revision === this.revision_) return known;
    const event: ObjectEvent<T> = new CachedObjectEvent('ADDED', cached, this.revision_, cached.raw.modRevision);
    this.initialEvents.set(cached, event);
    return event;
  }

  /** WatcherHost: forgets a watcher. */
  remove(watcher: CacheWatcher<T>): void {
    this.watchers.delete(watcher);
    this.bookmarkWatchers.delete(watcher);
    const { indexPosition, indexValue } = watcher.filter;
    if (indexPosition < 0) {
      this.unindexedWatchers.delete(watcher);
      return;
    }
    const byValue = this.indexedWatchers[indexPosition]!;
    const watchers = byValue.get(indexValue);
    watchers?.delete(watcher);
    if (watchers?.size === 0) byValue.delete(indexValue);
  }
}
