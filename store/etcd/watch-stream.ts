// One etcd Watch stream: many watchers multiplexed on one bidi gRPC call, as clientv3 uses it.
//
// Requests are handled in arrival order, synchronously: a create answers `created` before any
// event of its watcher can be written, and a cancel answers `canceled` after the last event the
// watcher will send. Each watcher has a pump that takes one response at a time from the backend
// watcher and writes it, then waits for room on the stream, so a slow client costs each watcher
// its own bounded queue (the hub cancels a watcher that falls too far behind) and the stream at
// most its StreamSender bound.
//
// Watch ids are the stream's own, from 0 up (etcd's AutoWatchID allocation), or the client's choice
// (watch_id in the create request), unique on the stream.
//
// A progress request (etcd 3.5 semantics) is answered with watch_id -1 once every watcher on the
// stream has delivered everything up to the current revision, so its header revision promises
// that every later event on the stream is newer.

import type { ServerDuplexStream } from '@grpc/grpc-js';
import type { Backend, BackendWatcher } from '../backend.js';
import { CompactedError } from '../mvcc/errors.js';
import type { WatchResponse } from '../mvcc/watch.js';
import { DUPLICATE_WATCH_ID_REASON, statusOf } from './errors.js';
import { type WireWatchCreate, readWatchRequest } from './requests.js';
import { INVALID_WATCH_ID, type WireWatchResponse, wireEvent, wireHeader, wireWatchResponse } from './responses.js';
import { StreamSender } from './stream-sender.js';

/** Watchers one stream may hold. etcd has no bound; clientv3 opens one stream per context and watches on it. */
export const MAX_WATCHERS_PER_STREAM = 1_000;

/** How often a pending progress request looks again whether every watcher has caught up. */
export const PROGRESS_RECHECK_MS = 10;

interface StreamWatcher {
  readonly id: number;
  readonly watcher: BackendWatcher;
  /** True while the pump waits on watcher.next() with nothing in hand: all it was given is written. */
  idle: boolean;
}

export class WatchStream {
  private readonly watchers = new Map<number, StreamWatcher>();
  private readonly sender: StreamSender<WireWatchResponse>;
  private nextWatchId = 0;
  private progressRequested = false;
  private progressTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly call: ServerDuplexStream<unknown, WireWatchResponse>,
    private readonly backend: Backend,
  ) {
    this.sender = new StreamSender(call);
    call.on('data', (message: unknown) => this.onRequest(message));
    // A half-close does not end an etcd watch stream: its watchers keep sending until the call ends.
    call.on('end', () => {});
    call.on('cancelled', () => this.close());
    call.on('close', () => this.close());
    call.on('error', () => this.close());
  }

  private header(revision?: number): WireWatchResponse['header'] {
    return wireHeader(this.backend.header(), revision);
  }

  private onRequest(message: unknown): void {
    if (this.closed) return;
    let request: ReturnType<typeof readWatchRequest>;
    try {
      request = readWatchRequest(message);
    } catch (error) {
      // Only a create can be malformed past decoding; answer it as etcd answers a refused create.
      this.refuseCreate(statusOf(error).details);
      return;
    }
    switch (request.type) {
      case 'create':
        this.create(request.create);
        break;
      case 'cancel':
        this.cancel(request.watchId);
        break;
      case 'progress':
        this.progressRequested = true;
        this.scheduleProgressCheck(0);
        break;
      case 'none':
        break;
    }
  }

  private refuseCreate(reason: string): void {
    this.sender.send(
      wireWatchResponse(this.header(), INVALID_WATCH_ID, { created: true, canceled: true, cancel_reason: reason }),
    );
  }

  private allocateId(requested: number): number | undefined {
    if (requested !== 0) return this.watchers.has(requested) ? undefined : requested;
    while (this.watchers.has(this.nextWatchId)) this.nextWatchId++;
    return this.nextWatchId++;
  }

  private create(create: WireWatchCreate): void {
    if (this.watchers.size >= MAX_WATCHERS_PER_STREAM) {
      this.refuseCreate(`etcdserver: too many watchers on one stream (at most ${MAX_WATCHERS_PER_STREAM})`);
      return;
    }
    const id = this.allocateId(create.watchId);
    if (id === undefined) {
      this.refuseCreate(DUPLICATE_WATCH_ID_REASON);
      return;
    }
    let watcher: BackendWatcher;
    try {
      watcher = this.backend.watch(create.request);
    } catch (error) {
      if (error instanceof CompactedError) {
        // etcd creates the watcher, then cancels it with the compact revision (clientv3 reports ErrCompacted).
        this.sender.send(wireWatchResponse(this.header(), id, { created: true }));
        this.sendCompacted(id, error);
        return;
      }
      this.refuseCreate(statusOf(error).details);
      return;
    }
    this.sender.send(wireWatchResponse(this.header(), id, { created: true }));
    const entry: StreamWatcher = { id, watcher, idle: false };
    this.watchers.set(id, entry);
    void this.pump(entry);
  }

  private sendCompacted(id: number, error: CompactedError): void {
    this.sender.send(
      wireWatchResponse(this.header(), id, {
        canceled: true,
        compact_revision: error.compactRevision,
        cancel_reason: statusOf(error).details,
      }),
    );
  }

  private cancel(watchId: bigint): void {
    // etcd answers a cancel of an unknown id with nothing.
    if (watchId < 0n || watchId > BigInt(Number.MAX_SAFE_INTEGER)) return;
    const entry = this.watchers.get(Number(watchId));
    if (entry === undefined) return;
    this.watchers.delete(entry.id);
    entry.watcher.cancel();
    this.sender.send(wireWatchResponse(this.header(), entry.id, { canceled: true }));
    this.scheduleProgressCheck(0);
  }

  private toWire(id: number, response: WatchResponse): WireWatchResponse {
    const header = this.header(response.revision);
    return response.type === 'events'
      ? wireWatchResponse(header, id, { events: response.events.map(wireEvent) })
      : wireWatchResponse(header, id);
  }

  private async pump(entry: StreamWatcher): Promise<void> {
    try {
      for (;;) {
        entry.idle = true;
        const result = await entry.watcher.next();
        entry.idle = false;
        // Canceled by the client, or the stream closed: nothing more goes out for this watcher.
        if (result.done === true || this.watchers.get(entry.id) !== entry) return;
        this.sender.send(this.toWire(entry.id, result.value));
        await this.sender.room();
        if (this.closed) return;
      }
    } catch (error) {
      entry.idle = false;
      if (this.watchers.get(entry.id) !== entry) return;
      this.watchers.delete(entry.id);
      if (error instanceof CompactedError) {
        this.sendCompacted(entry.id, error);
      } else {
        // SlowWatcherError (the watcher fell behind), or the backend failed: the reason tells the client.
        const reason = statusOf(error).details;
        this.sender.send(wireWatchResponse(this.header(), entry.id, { canceled: true, cancel_reason: reason }));
      }
      this.scheduleProgressCheck(0);
    }
  }

  private scheduleProgressCheck(delayMs: number): void {
    if (!this.progressRequested || this.closed || this.progressTimer !== undefined) return;
    // Checked in a later macrotask: by then every pump woken by a change has written its response.
    this.progressTimer = setTimeout(() => {
      this.progressTimer = undefined;
      this.checkProgress();
    }, delayMs);
  }

  private checkProgress(): void {
    if (!this.progressRequested || this.closed) return;
    for (const entry of this.watchers.values()) {
      if (!entry.idle || !entry.watcher.synced) {
        this.scheduleProgressCheck(PROGRESS_RECHECK_MS);
        return;
      }
    }
    this.progressRequested = false;
    this.sender.send(wireWatchResponse(this.header(), INVALID_WATCH_ID));
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.progressTimer !== undefined) clearTimeout(this.progressTimer);
    this.sender.close();
    const entries = [...this.watchers.values()];
    this.watchers.clear();
    for (const entry of entries) entry.watcher.cancel();
  }
}
