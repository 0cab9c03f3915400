// The core's read-only view of stable storage (the shape of etcd-io/raft's Storage), and an
// in-memory implementation used by tests and the simulator. The durable LMDB implementation lives
// in raft/driver and passes the same shared test suite (storage.suite.ts).

import {
  CompactedError,
  RaftInvariantError,
  SnapshotDataInStateMachineError,
  SnapshotOutOfDateError,
  UnavailableError,
} from './errors.js';
import {
  EMPTY_HARD_STATE,
  type ConfState,
  type Entry,
  type HardState,
  type Snapshot,
  type SnapshotMetadata,
  limitSize,
} from './types.js';

export interface InitialState {
  readonly hardState: HardState;
  readonly confState: ConfState;
}

/**
 * What the core reads from stable storage. Indexes are of the persisted log.
 * Invariants: snapshot().metadata.index >= firstIndex() - 1 (compaction may run ahead of the
 * snapshot only up to what the snapshot covers) and lastIndex() >= firstIndex() - 1.
 */
export interface Storage {
  initialState(): InitialState;
  /**
   * Entries in [lo, hi), their total size limited by maxBytes (at least one entry is returned
   * when the range is not empty). Throws CompactedError if lo < firstIndex(), UnavailableError if
   * hi > lastIndex() + 1.
   */
  entries(lo: number, hi: number, maxBytes: number): readonly Entry[];
  /** The term of entry i, for firstIndex()-1 <= i <= lastIndex(). Throws CompactedError / UnavailableError otherwise. */
  term(i: number): number;
  firstIndex(): number;
  lastIndex(): number;
  /**
   * The latest snapshot, with its data. May throw SnapshotTemporarilyUnavailableError (the leader
   * retries later). A WritableStorage whose latest snapshot was recorded without data throws
   * SnapshotDataInStateMachineError; StateMachineSnapshotStorage serves those to the core.
   */
  snapshot(): Snapshot;
}

/** Where a recorded snapshot's data is. */
export const SnapshotDataLocation = {
  /** Stored with the record: a snapshot received from a leader, or one created with its data. */
  Inline: 'inline',
  /**
   * Not copied (a log-compaction snapshot): the state machine holds the state at or past the
   * snapshot's index durably, and data is made from it when a follower needs a snapshot.
   */
  StateMachine: 'state-machine',
} as const;
export type SnapshotDataLocation = (typeof SnapshotDataLocation)[keyof typeof SnapshotDataLocation];

/** The latest snapshot's metadata, and where its data is; reading it never reads the data. */
export interface RecordedSnapshot {
  readonly metadata: SnapshotMetadata;
  readonly dataLocation: SnapshotDataLocation;
}

/**
 * What the driver does to storage while handling a Ready, beyond what the core reads. Implemented
 * by MemoryStorage and the LMDB storage alike, so both run one test suite.
 */
export interface WritableStorage extends Storage {
  setHardState(hs: HardState): void;
  /** Appends entries, truncating any stored suffix from entries[0].index on. */
  append(entries: readonly Entry[]): void;
  /** Replaces the whole log with a snapshot received from the leader. */
  applySnapshot(snap: Snapshot): void;
  /** Records the application's snapshot at index (<= the applied index) so it can be sent to followers. */
  createSnapshot(index: number, confState: ConfState, data: Uint8Array): Snapshot;
  /**
   * Records a log-compaction snapshot at index WITHOUT its data (etcd's raft snapshots do not copy
   * its backend either). Precondition, the caller's to keep: the state machine's state at an index
   * >= `index` is durable, because the log before the snapshot may be compacted away next and a
   * restart can then neither replay it nor restore from this record.
   */
  recordSnapshot(index: number, confState: ConfState): SnapshotMetadata;
  /** The latest snapshot's metadata and where its data is. */
  recordedSnapshot(): RecordedSnapshot;
  /** Discards entries before compactIndex; the entry at compactIndex remains as the log's dummy head. */
  compact(compactIndex: number): void;
}

export const EMPTY_CONF_STATE: ConfState = { voters: [], learners: [] };

export class MemoryStorage implements WritableStorage {
  private hardState: HardState = EMPTY_HARD_STATE;
  private snap: Snapshot = {
    metadata: { index: 0, term: 0, confState: EMPTY_CONF_STATE },
    data: new Uint8Array(0),
  };
  /** Where snap's data is; with StateMachine, snap.data is empty and unused. */
  private dataLocation: SnapshotDataLocation = SnapshotDataLocation.Inline;
  /** ents[0] is a dummy entry at snap.metadata.index holding its term. */
  private ents: Entry[] = [{ index: 0, term: 0, type: 0, data: new Uint8Array(0) }];

  /** A storage that starts with a given membership, as a brand-new cluster's members do. */
  static withMembers(voters: readonly number[], learners: readonly number[] = []): MemoryStorage {
    const s = new MemoryStorage();
    s.snap = { ...s.snap, metadata: { ...s.snap.metadata, confState: { voters: [...voters], learners: [...learners] } } };
    return s;
  }

  initialState(): InitialState {
    return { hardState: this.hardState, confState: this.snap.metadata.confState };
  }

  setHardState(hs: HardState): void {
    this.hardState = hs;
  }

  private get offset(): number {
    return this.ents[0]!.index;
  }

  entries(lo: number, hi: number, maxBytes: number): readonly Entry[] {
    const offset = this.offset;
    if (lo <= offset) throw new CompactedError(lo, offset + 1);
    if (hi > this.lastIndex() + 1) throw new UnavailableError(hi - 1, this.lastIndex());
    if (lo >= hi) return [];
    return limitSize(this.ents.slice(lo - offset, hi - offset), maxBytes);
  }

  term(i: number): number {
    const offset = this.offset;
    if (i < offset) throw new CompactedError(i, offset + 1);
    if (i - offset >= this.ents.length) throw new UnavailableError(i, this.lastIndex());
    return this.ents[i - offset]!.term;
  }

  firstIndex(): number {
    return this.offset + 1;
  }

  lastIndex(): number {
    return this.offset + this.ents.length - 1;
  }

  snapshot(): Snapshot {
    if (this.dataLocation === SnapshotDataLocation.StateMachine) throw new SnapshotDataInStateMachineError(this.snap.metadata.index);
    return this.snap;
  }

  recordedSnapshot(): RecordedSnapshot {
    return { metadata: this.snap.metadata, dataLocation: this.dataLocation };
  }

  applySnapshot(snap: Snapshot): void {
    if (snap.metadata.index <= this.snap.metadata.index) {
      throw new SnapshotOutOfDateError(snap.metadata.index, this.snap.metadata.index);
    }
    this.snap = snap;
    this.dataLocation = SnapshotDataLocation.Inline;
    this.ents = [{ index: snap.metadata.index, term: snap.metadata.term, type: 0, data: new Uint8Array(0) }];
  }

  createSnapshot(index: number, confState: ConfState, data: Uint8Array): Snapshot {
    if (index <= this.snap.metadata.index) throw new SnapshotOutOfDateError(index, this.snap.metadata.index);
    if (index > this.lastIndex()) throw new UnavailableError(index, this.lastIndex());
    this.snap = { metadata: { index, term: this.term(index), confState }, data };
    this.dataLocation = SnapshotDataLocation.Inline;
    return this.snap;
  }

  recordSnapshot(index: number, confState: ConfState): SnapshotMetadata {
    if (index <= this.snap.metadata.index) throw new SnapshotOutOfDateError(index, this.snap.metadata.index);
    if (index > this.lastIndex()) throw new UnavailableError(index, this.lastIndex());
    this.snap = { metadata: { index, term: this.term(index), confState }, data: new Uint8Array(0) };
    this.dataLocation = SnapshotDataLocation.StateMachine;
    return this.snap.metadata;
  }

  compact(compactIndex: number): void {
    const offset = this.offset;
    if (compactIndex <= offset) throw new CompactedError(compactIndex, offset + 1);
    if (compactIndex > this.lastIndex()) throw new UnavailableError(compactIndex, this.lastIndex());
    const i = compactIndex - offset;
    const head = this.ents[i]!;
    this.ents = [{ index: head.index, term: head.term, type: 0, data: new Uint8Array(0) }, ...this.ents.slice(i + 1)];
  }

  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const last = entries[0]!.index + entries.length - 1;
    if (last < first) return; // all compacted already
    // Drop the part that is already compacted.
    const from = first > entries[0]!.index ? entries.slice(first - entries[0]!.index) : entries;
    const start = from[0]!.index - this.offset;
    if (start > this.ents.length) {
      throw new RaftInvariantError(`append leaves a gap: log ends at ${this.lastIndex()}, entries start at ${from[0]!.index}`);
    }
    // Truncate a conflicting suffix (if any), then append in place: appends at the tail are the
    // common case and must not copy the whole log.
    if (start < this.ents.length) this.ents.length = start;
    for (const e of from) this.ents.push(e);
  }
}
