// One API watcher on a watch cache: an async iterator of event batches.
//
// A watcher first hands out its replay (the initial state, or the cache's history after the
// revision it resumes from), computed in the same synchronous step that registers it for live
// changes, so nothing falls between the two. Live changes are pushed into a bounded buffer by the
// cache's fanout; a watcher never makes the cache wait. When the buffer would pass its bound, the
// watcher stops taking changes at once (the cache forgets it) and, after handing out what it holds,
// throws WatcherTooSlowError with the revision it is complete up to.
//
// Invariant: the buffer holds whole revisions only, in revision order, after every replay event.
//
// Memory of an idle watcher: this object (about twenty fields), an empty buffer array, and one
// entry in two of the cache's sets; no timer of its own (bookmarks come from one cache-wide tick).

import type { ApiObject } from '../../proto/api/object.js';
import { WatcherTooSlowError } from './errors.js';
import type { BookmarkEvent, CacheChange, CacheEvent, CacheEventBatch, CompiledFilter, ObjectEvent } from './events.js';

/** What a watcher needs from its cache. */
export interface WatcherHost<T extends ApiObject> {
  /** Registers the watcher for live changes and returns its replay; throws ResourceExpiredError. */
  begin(watcher: CacheWatcher<T>): CacheEvent<T>[];
  /** Forgets the watcher: no more changes are offered to it. */
  remove(watcher: CacheWatcher<T>): void;
  waitForRevision(revision: number, signal: AbortSignal): Promise<void>;
  now(): number;
}

export interface CacheWatcherLimits {
  /** Live events held undelivered before the watcher is closed as too slow. */
  readonly bufferEvents: number;
  /** Events per batch of replay, rounded up to the end of a revision. */
  readonly maxBatchEvents: number;
}

export class CacheWatcher<T extends ApiObject> implements AsyncIterableIterator<CacheEventBatch<T>> {
  /** Whether the watcher is registered with the cache and takes live changes. */
  live = false;
  private replay: CacheEvent<T>[] | undefined;
  private replayNext = 0;
  private buffer: CacheEvent<T>[] = [];
  private failure: Error | undefined;
  private closed = false;
  private waiter: (() => void) | undefined;
  /** Set while the watcher waits for the cache to reach fromRevision. */
  private abort: AbortController | undefined;
  /** Clock time of the last batch handed out, for bookmark idleness. */
  private lastActivityMs: number;

  constructor(
    private readonly host: WatcherHost<T>,
    readonly filter: CompiledFilter,
    /** 0 = the current state first, then live changes. */
    readonly fromRevision: number,
    readonly bookmarks: boolean,
    private readonly limits: CacheWatcherLimits,
    nowMs: number,
  ) {
    this.lastActivityMs = nowMs;
  }

  /** Starts now when the cache has reached fromRevision, else once it has (or fails as the wait does). */
  /** Begins now, or once the cache has reached `waitFor` (by default the watcher's own fromRevision). */
  start(revisionReached: boolean, waitFor: number = this.fromRevision): void {
    if (revisionReached) {
      this.beginNow();
      return;
    }
    const abort = new AbortController();
    this.abort = abort;
    this.host.waitForRevision(waitFor, abort.signal).then(
      () => {
        this.abort = undefined;
        if (!this.closed && this.failure === undefined) this.beginNow();
      },
      (error: unknown) => {
        this.abort = undefined;
        this.terminate(error instanceof Error ? error : new Error(String(error)));
      },
    );
  }

  private beginNow(): void {
    try {
      const replay = this.host.begin(this);
      this.live = true;
      if (replay.length > 0) this.replay = replay;
      this.wake();
    } catch (error) {
      this.terminate(error instanceof Error ? error : new Error(String(error)));
    }
  }

  /** A live change, offered by the cache's fanout. */
  offer(change: CacheChange<T>): void {
    if (this.failure !== undefined || this.closed) return;
    let event: ObjectEvent<T> | undefined;
    try {
      event = change.eventFor(this.filter);
    } catch (error) {
      // A predicate that throws ends its own watcher, never the fanout to the others.
      this.terminate(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    if (event === undefined) return;
    const first = this.buffer[0];
    // One revision larger than the bound goes out whole, as the store's watch does.
    if (this.buffer.length >= this.limits.bufferEvents && first !== undefined && first.revision !== change.revision) {
      this.tooSlow(change.revision);
      return;
    }
    this.buffer.push(event);
    this.wake();
  }

  private tooSlow(revision: number): void {
    // Drop this revision's events queued so far: the watcher resumes from revision - 1 and would
    // see them twice.
    while (this.buffer.length > 0 && this.buffer[this.buffer.length - 1]!.revision >= revision) this.buffer.pop();
    this.terminate(new WatcherTooSlowError(revision - 1, this.limits.bufferEvents));
  }

  /**
   * Called by the cache's bookmark tick. A watcher idle for idleMs with nothing undelivered gets a
   * bookmark: every event up to the cache's revision has been handed out to it.
   */
  bookmarkTick(nowMs: number, idleMs: number, bookmark: () => BookmarkEvent): void {
    if (!this.live || this.closed || this.failure !== undefined) return;
    if (this.replay !== undefined || this.buffer.length > 0 || nowMs - this.lastActivityMs < idleMs) return;
    this.buffer.push(bookmark());
    this.lastActivityMs = nowMs;
    this.wake();
  }

  /**
   * Ends the watcher with an error, handed out after the events it holds. A live watcher has been
   * offered every change up to the cache's revision, so `makeError` gets that revision; one still
   * waiting to start has seen nothing past fromRevision.
   */
  close(makeError: (lastRevision: number) => Error, cacheRevision: number): void {
    this.terminate(makeError(this.live ? cacheRevision : this.fromRevision));
  }

  private terminate(error: Error): void {
    if (this.closed || this.failure !== undefined) return;
    this.failure = error;
    this.abort?.abort();
    this.host.remove(this);
    this.wake();
  }

  private wake(): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.();
  }

  private nextReplayBatch(replay: CacheEvent<T>[]): CacheEvent<T>[] {
    const start = this.replayNext;
    let end = Math.min(replay.length, start + this.limits.maxBatchEvents);
    while (end < replay.length && replay[end]!.revision === replay[end - 1]!.revision) end++;
    this.replayNext = end;
    if (end === replay.length) {
      this.replay = undefined;
      this.replayNext = 0;
    }
    return start === 0 && end === replay.length ? replay : replay.slice(start, end);
  }

  /** Call one at a time: a second next() before the first settles replaces its wake-up. */
  async next(): Promise<IteratorResult<CacheEventBatch<T>>> {
    for (;;) {
      if (this.closed) return { done: true, value: undefined };
      if (this.replay !== undefined) return { done: false, value: this.nextReplayBatch(this.replay) };
      if (this.buffer.length > 0) {
        const batch = this.buffer;
        this.buffer = [];
        this.lastActivityMs = this.host.now();
        return { done: false, value: batch };
      }
      if (this.failure !== undefined) {
        this.closed = true;
        throw this.failure;
      }
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
      });
    }
  }

  /** Unregisters at once; undelivered events are dropped. */
  cancel(): void {
    if (this.closed) return;
    this.closed = true;
    this.buffer = [];
    this.replay = undefined;
    this.abort?.abort();
    this.host.remove(this);
    this.wake();
  }

  async return(): Promise<IteratorResult<CacheEventBatch<T>>> {
    this.cancel();
    return { done: true, value: undefined };
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
