// Makes a Raft snapshot with data from the state machine when a follower needs one (the core
// found it behind the log's first index), off the hot path: the state is pinned at once, at a
// point where the applied index and the membership describe the same state, and its bytes are
// read a slice at a time between the driver's turns. Until it is ready, the core hears
// SnapshotTemporarilyUnavailableError and asks again on a later heartbeat answer.
//
// Invariants: at most one snapshot is being made, and at most one made snapshot is kept (the
// latest); a made snapshot is served only while its index is >= the recorded snapshot's, so a
// newer compaction snapshot releases it.

import { RaftError } from '../core/errors.js';
import type { SnapshotSource } from '../core/state-machine-snapshots.js';
import type { ConfState, Snapshot } from '../core/types.js';

/** How long making a snapshot may hold the event loop before it yields to the driver's turns. */
export const SNAPSHOT_MAKING_SLICE_MS = 10;
/** The largest snapshot made: a follower stores it as one inline record (a u32 length on disk). */
export const MAX_MADE_SNAPSHOT_BYTES = 0xffffffff;

/** A consistent view of the state machine, pinned when opened, read in chunks. */
export interface StateSnapshotView {
  /** The applied index of the pinned state. */
  readonly appliedIndex: number;
  /** The state's bytes in order; their concatenation is what StateMachine.restore takes as data. */
  readonly chunks: Iterator<Uint8Array>;
  /** Releases the view; safe to call more than once. */
  close(): void;
}

/** Where a snapshot is made: the applied index, its entry's term, and the membership there. */
export interface SnapshotPoint {
  readonly index: number;
  readonly term: number;
  readonly confState: ConfState;
}

export interface SnapshotMakerOptions {
  readonly openView: () => StateSnapshotView;
  readonly now: () => number;
  readonly defer: (fn: () => void) => void;
  readonly logger: { info(msg: string, fields?: Record<string, unknown>): void; warn(msg: string, fields?: Record<string, unknown>): void };
}

export class SnapshotTooLargeError extends RaftError {
  override readonly name = 'SnapshotTooLargeError';
  constructor(readonly index: number, readonly bytes: number) {
    super(`the snapshot at ${index} is over ${bytes} bytes, past MAX_MADE_SNAPSHOT_BYTES (${MAX_MADE_SNAPSHOT_BYTES})`);
  }
}

interface Making {
  readonly point: SnapshotPoint;
  readonly view: StateSnapshotView;
  readonly chunks: Uint8Array[];
  bytes: number;
  readonly startedAt: number;
}

export class SnapshotMaker implements SnapshotSource {
  private requested = false;
  private making: Making | undefined = undefined;
  private made: Snapshot | undefined = undefined;
  private stopped = false;

  constructor(private readonly opts: SnapshotMakerOptions) {}

  ready(minIndex: number): Snapshot | undefined {
    if (this.made !== undefined && this.made.metadata.index < minIndex) this.made = undefined; // superseded
    return this.made;
  }

  request(): void {
    if (!this.stopped) this.requested = true;
  }

  /** Whether a snapshot is being made (for tests and status). */
  get busy(): boolean {
    return this.making !== undefined;
  }

  /**
   * Starts making a requested snapshot. Precondition (the driver's): the state machine's committed
   * state is exactly at point().index, and point().confState is the membership there. A view
   * pinned at another index (the state machine ahead after a restart replays skipped entries) is
   * dropped; the core asks again.
   */
  startIfRequested(point: () => SnapshotPoint): void {
    if (!this.requested || this.making !== undefined || this.stopped) return;
    this.requested = false;
    const at = point();
    const view = this.opts.openView();
    if (view.appliedIndex !== at.index) {
      view.close();
      this.opts.logger.warn('not making a snapshot now: the state machine is not at the applied index', { applied: at.index, stateMachine: view.appliedIndex });
      return;
    }
    this.making = { point: at, view, chunks: [], bytes: 0, startedAt: this.opts.now() };
    this.opts.defer(() => this.pump());
  }

  stop(): void {
    this.stopped = true;
    this.making?.view.close();
    this.making = undefined;
    this.made = undefined;
  }

  private pump(): void {
    const m = this.making;
    if (m === undefined || this.stopped) return;
    const deadline = this.opts.now() + SNAPSHOT_MAKING_SLICE_MS;
    try {
      for (;;) {
        const next = m.view.chunks.next();
        if (next.done === true) return this.finish(m);
        m.chunks.push(next.value);
        m.bytes += next.value.byteLength;
        if (m.bytes > MAX_MADE_SNAPSHOT_BYTES) throw new SnapshotTooLargeError(m.point.index, m.bytes);
        if (this.opts.now() >= deadline) break;
      }
    } catch (err) {
      m.view.close();
      this.making = undefined;
      this.opts.logger.warn('making a snapshot failed', { index: m.point.index, error: (err as Error).message });
      return;
    }
    this.opts.defer(() => this.pump());
  }

  private finish(m: Making): void {
    m.view.close();
    this.making = undefined;
    // One copy into the single buffer the transport streams and the follower persists.
    const data = m.chunks.length === 1 ? m.chunks[0]! : Buffer.concat(m.chunks, m.bytes);
    this.made = { metadata: { index: m.point.index, term: m.point.term, confState: m.point.confState }, data };
    this.opts.logger.info('made a snapshot for a follower', { index: m.point.index, bytes: m.bytes, ms: Math.round(this.opts.now() - m.startedAt) });
  }
}
