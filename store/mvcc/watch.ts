// The watch hub: one subscription to the store feeds every watcher. A watcher receives each change
// in its key range exactly once, in revision order: first the history from its start revision,
// read from the store in bounded batches while it is "unsynced", then live changes as they are
// applied once it is "synced".
//
// Handover without gap or duplicate: apply, history reads and the sync decision all run
// synchronously on one thread. An unsynced watcher ignores live changes; a catch-up step reads the
// history up to the current revision R and, when it reaches R, marks the watcher synced with
// nextRevision R + 1 in the same step, before any later change can be published.
//
// Invariant: every event with a revision below nextRevision has been queued, delivered or filtered
// out; nothing at or above it has. Each watcher's queue holds at most maxPendingEvents events (or
// one revision's events, when a single revision is larger), so a slow consumer costs bounded memory
// and never delays the others: on overflow it is cancelled with SlowWatcherError, after what it
// already has queued has been delivered.

import { CompactedError, type MvccError, SlowWatcherError } from './errors.js';
import { FieldReader, commandFieldError } from './fields.js';
import { type KeyRange, MAX_KEY_BYTES, keyRange, rangeContains } from './keyspace.js';
import type { StoreListener } from './kv-store.js';
import type { HistoryBatch, HistoryQuery } from './reader.js';
import type { EventType, WatchEvent } from './responses.js';

/** Events a watcher may hold undelivered before it is cancelled as slow. */
export const MAX_PENDING_EVENTS = 10_000;
/** Events in one WatchResponse, rounded up to the end of a revision (a revision is never split). */
export const MAX_EVENTS_PER_RESPONSE = 1_000;
/** History records one catch-up step reads before yielding to the event loop. */
export const HISTORY_SCAN_PER_STEP = 10_000;

export const WatchFilter = { NoPut: 'noPut', NoDelete: 'noDelete' } as const;
export type WatchFilter = (typeof WatchFilter)[keyof typeof WatchFilter];

export interface WatchRequest {
  readonly key: Uint8Array;
  /** As in a range: empty = the key, "\0" = every key >= key, otherwise [key, rangeEnd). */
  readonly rangeEnd?: Uint8Array;
  /** The first revision to deliver; 0 = the next revision to be written. */
  readonly startRevision?: number;
  readonly prevKv?: boolean;
  readonly filters?: readonly WatchFilter[];
  /** Receive the current revision when idle through a progress interval (see notifyProgress). */
  readonly progressNotify?: boolean;
}

export type WatchResponse =
  /** Events in revision order; `revision` is the store's revision when the response was taken. */
  | {
      readonly type: 'events';
      readonly watchId: number;
      readonly revision: number;
      readonly events: readonly WatchEvent[];
    }
  /** Every event at or below `revision` in the watcher's range has been delivered. */
  | { readonly type: 'progress'; readonly watchId: number; readonly revision: number };

/** What the hub needs of the store (MvccStore implements it). */
export interface WatchSource {
  readonly currentRevision: number;
  readonly compactRevision: number;
  subscribe(listener: StoreListener): () => void;
  /** Throws CompactedError when fromRevision <= compactRevision. */
  readEvents(query: HistoryQuery): HistoryBatch;
}

export interface WatchHubOptions {
  readonly maxPendingEvents?: number;
  readonly maxEventsPerResponse?: number;
  readonly historyScanPerStep?: number;
}

const fields = new FieldReader(commandFieldError);
const WATCH_FILTERS = Object.values(WatchFilter);

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export class Watcher implements AsyncIterableIterator<WatchResponse> {
  /** The next revision this watcher has not yet considered. */
  nextRevision: number;
  /** Whether live changes are queued directly (else the history is read to catch up). */
  synced: boolean;
  private queue: WatchEvent[] = [];
  private pendingProgress: number | undefined;
  private activeSinceProgress = false;
  private progressRequested = false;
  private failure: MvccError | undefined;
  private closed = false;
  private waiters: (() => void)[] = [];

  constructor(
    private readonly hub: WatchHub,
    readonly id: number,
    private readonly range: KeyRange,
    readonly prevKv: boolean,
    private readonly filters: readonly WatchFilter[],
    readonly progressNotify: boolean,
    nextRevision: number,
    currentRevision: number,
  ) {
    this.nextRevision = nextRevision;
    this.synced = nextRevision > currentRevision;
  }

  readonly accepts = (key: Uint8Array, type: EventType): boolean => {
    if (type === 'put' && this.filters.includes('noPut')) return false;
    if (type === 'delete' && this.filters.includes('noDelete')) return false;
    return rangeContains(this.range, key);
  };

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const resolve of waiters) resolve();
  }

  /** Whether the watcher still takes changes (not cancelled, failed or closed). */
  get active(): boolean {
    return !this.closed && this.failure === undefined;
  }

  /** A live change at `revision`; `stripped` are the same events without prevKv. */
  offerLive(revision: number, events: readonly WatchEvent[], stripped: readonly WatchEvent[]): void {
    if (!this.synced || !this.active || revision < this.nextRevision) return;
    const matched: WatchEvent[] = [];
    events.forEach((event, i) => {
      if (this.accepts(event.kv.key, event.type)) matched.push(this.prevKv ? event : (stripped[i] ?? event));
    });
    this.nextRevision = revision + 1;
    if (matched.length === 0) return;
    if (this.queue.length > 0 && this.queue.length + matched.length > this.hub.maxPendingEvents) {
      this.fail(new SlowWatcherError(this.id, revision));
      return;
    }
    this.enqueue(matched);
  }

  /** Events read from history; every revision below nextRevision has now been considered. */
  offerHistory(batch: HistoryBatch, currentRevision: number): void {
    this.enqueue(batch.events);
    this.nextRevision = batch.nextRevision;
    if (this.nextRevision > currentRevision) this.synced = true;
  }

  private enqueue(events: readonly WatchEvent[]): void {
    if (events.length === 0) return;
    for (const event of events) this.queue.push(event);
    this.activeSinceProgress = true;
    this.wake();
  }

  /** The store state was replaced: catch up again from nextRevision through the new history. */
  resync(): void {
    if (!this.active) return;
    this.synced = false;
    this.wake();
  }

  progressTick(revision: number): void {
    const idle = !this.activeSinceProgress;
    this.activeSinceProgress = false;
    if (!this.progressNotify || !this.synced || !this.active || !idle || this.queue.length > 0) return;
    this.pendingProgress = revision;
    this.wake();
  }

  /**
   * etcd's WatchProgressRequest, for this one watcher: once it is synced and has delivered every
   * queued event, its next response is a progress at the revision it has considered everything up
   * to. A cache fed by this watcher learns that the revision moved on even when nothing in its
   * range changed, which the idle notifications alone tell it only every progress interval.
   */
  requestProgress(): void {
    if (!this.active) return;
    this.progressRequested = true;
    this.wake();
  }

  /** Ends the watcher with an error, delivered after the events already queued. */
  fail(error: MvccError): void {
    if (!this.active) return;
    this.failure = error;
    this.hub.remove(this);
    this.wake();
  }

  /** Ends the watcher now; pending events are dropped and the iterator finishes. */
  cancel(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue = [];
    this.pendingProgress = undefined;
    this.hub.remove(this);
    this.wake();
  }

  async next(): Promise<IteratorResult<WatchResponse>> {
    for (;;) {
      if (this.closed) return { done: true, value: undefined };
      // A progress is only queued when no event is, so it precedes any event queued after it.
      if (this.pendingProgress !== undefined) {
        const revision = this.pendingProgress;
        this.pendingProgress = undefined;
        return { done: false, value: { type: 'progress', watchId: this.id, revision } };
      }
      if (this.queue.length > 0) {
        // A response never ends inside a revision: etcd clients resume a watch from the last
        // event's modRevision + 1, which would skip the rest of a split revision. One revision
        // larger than the bound goes out whole.
        let n = Math.min(this.queue.length, this.hub.maxEventsPerResponse);
        while (n < this.queue.length && this.queue[n]!.kv.modRevision === this.queue[n - 1]!.kv.modRevision) n++;
        const events = this.queue.splice(0, n);
        return { done: false, value: { type: 'events', watchId: this.id, revision: this.hub.currentRevision, events } };
      }
      if (this.failure !== undefined) {
        const failure = this.failure;
        this.closed = true;
        throw failure;
      }
      if (!this.synced) {
        this.hub.catchUp(this);
        if (this.queue.length === 0 && !this.synced && this.active) await yieldToEventLoop();
        continue;
      }
      if (this.progressRequested) {
        this.progressRequested = false;
        // Synced: every change below nextRevision is delivered (a watch from a future start
        // revision has considered nothing past the current revision yet).
        const revision = Math.min(this.nextRevision - 1, this.hub.currentRevision);
        return { done: false, value: { type: 'progress', watchId: this.id, revision } };
      }
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  async return(): Promise<IteratorResult<WatchResponse>> {
    this.cancel();
    return { done: true, value: undefined };
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

export class WatchHub {
  readonly maxPendingEvents: number;
  readonly maxEventsPerResponse: number;
  private readonly historyScanPerStep: number;
  private readonly watchers = new Set<Watcher>();
  private nextWatchId = 1;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly source: WatchSource,
    options: WatchHubOptions = {},
  ) {
    this.maxPendingEvents = options.maxPendingEvents ?? MAX_PENDING_EVENTS;
    this.maxEventsPerResponse = options.maxEventsPerResponse ?? MAX_EVENTS_PER_RESPONSE;
    this.historyScanPerStep = options.historyScanPerStep ?? HISTORY_SCAN_PER_STEP;
    this.unsubscribe = source.subscribe((change) => {
      switch (change.type) {
        case 'applied': {
          const stripped = change.events.map((event) =>
            event.prevKv === undefined ? event : { type: event.type, kv: event.kv },
          );
          for (const watcher of this.watchers) watcher.offerLive(change.revision, change.events, stripped);
          break;
        }
        case 'restored':
          for (const watcher of this.watchers) watcher.resync();
          break;
        case 'compacted':
          // Unsynced watchers behind the compact revision find out at their next catch-up step.
          break;
      }
    });
  }

  get currentRevision(): number {
    return this.source.currentRevision;
  }

  /** Watchers still taking changes. */
  get size(): number {
    return this.watchers.size;
  }

  /**
   * Starts a watcher. Throws InvalidCommandError for a malformed request, and CompactedError when
   * startRevision <= the compact revision (that history is gone; list again and watch from there).
   */
  watch(request: WatchRequest): Watcher {
    const key = fields.bytes(request.key, 'key', { maxBytes: MAX_KEY_BYTES, nonEmpty: true });
    const rangeEnd = fields.optionalBytes(request.rangeEnd, 'rangeEnd', MAX_KEY_BYTES);
    const startRevision = fields.optionalInteger(request.startRevision, 'startRevision', 0, Number.MAX_SAFE_INTEGER);
    const filters = fields.array(request.filters ?? [], 'filters', WATCH_FILTERS.length);
    filters.forEach((filter, i) => fields.oneOf(filter, `filters[${i}]`, WATCH_FILTERS));
    const { currentRevision, compactRevision } = this.source;
    if (startRevision > 0 && startRevision <= compactRevision) throw new CompactedError(startRevision, compactRevision);
    const watcher = new Watcher(
      this,
      this.nextWatchId++,
      keyRange(key, rangeEnd),
      request.prevKv === true,
      filters as readonly WatchFilter[],
      request.progressNotify === true,
      startRevision === 0 ? currentRevision + 1 : startRevision,
      currentRevision,
    );
    this.watchers.add(watcher);
    return watcher;
  }

  /** One catch-up step of an unsynced watcher: a bounded batch of history, maybe reaching the present. */
  catchUp(watcher: Watcher): void {
    const currentRevision = this.source.currentRevision;
    if (watcher.nextRevision > currentRevision) {
      watcher.synced = true;
      return;
    }
    let batch: HistoryBatch;
    try {
      batch = this.source.readEvents({
        fromRevision: watcher.nextRevision,
        toRevision: currentRevision,
        accept: watcher.accepts,
        prevKv: watcher.prevKv,
        maxEvents: this.maxPendingEvents,
        maxScanned: this.historyScanPerStep,
      });
    } catch (error) {
      if (error instanceof CompactedError) {
        watcher.fail(error);
        return;
      }
      throw error;
    }
    watcher.offerHistory(batch, currentRevision);
  }

  /**
   * Called by the server every progress interval: each synced watcher that asked for progress and
   * received no event since the previous call gets the current revision.
   */
  notifyProgress(): void {
    const revision = this.source.currentRevision;
    for (const watcher of this.watchers) watcher.progressTick(revision);
  }

  remove(watcher: Watcher): void {
    this.watchers.delete(watcher);
  }

  /** Cancels every watcher and stops listening to the store. */
  close(): void {
    this.unsubscribe();
    for (const watcher of [...this.watchers]) watcher.cancel();
  }
}
