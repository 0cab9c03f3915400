// The core's view of a storage whose log-compaction snapshots carry no data (etcd's shape: its raft
// snapshots do not copy the backend; a follower that needs one gets the backend as it is then).
//
// A snapshot is sent only to a follower behind the log's first index, which is rare. Then the
// data is made from the state machine, at its applied index, by a SnapshotSource the driver (or
// the simulator) runs outside the core: snapshot() throws SnapshotTemporarilyUnavailableError until
// it is ready, and the leader asks again on a later heartbeat answer (Raft.maybeSendSnapshot), as
// etcd-io/raft does with ErrSnapshotTemporarilyUnavailable.

import { SnapshotTemporarilyUnavailableError } from './errors.js';
import { SnapshotDataLocation, type InitialState, type Storage, type WritableStorage } from './storage.js';
import type { Entry, Snapshot } from './types.js';

/** Makes snapshots with data from the state machine, outside the core's step. */
export interface SnapshotSource {
  /**
   * A snapshot made from the state machine whose index is >= minIndex, if one is ready. Its
   * metadata is {the applied index it was made at, that entry's term, the membership then}.
   */
  ready(minIndex: number): Snapshot | undefined;
  /**
   * Asks for one. Never makes it inside this call: the core calls snapshot() in the middle of a
   * step or of a conf change's application, when the applied index and the membership may not
   * describe the same point. The source makes it where they do, and later.
   */
  request(): void;
}

export class StateMachineSnapshotStorage implements Storage {
  constructor(
    private readonly inner: WritableStorage,
    private readonly source: SnapshotSource,
  ) {}

  initialState(): InitialState {
    return this.inner.initialState();
  }

  entries(lo: number, hi: number, maxBytes: number): readonly Entry[] {
    return this.inner.entries(lo, hi, maxBytes);
  }

  term(i: number): number {
    return this.inner.term(i);
  }

  firstIndex(): number {
    return this.inner.firstIndex();
  }

  lastIndex(): number {
    return this.inner.lastIndex();
  }

  /**
   * The recorded snapshot when it holds its data; otherwise one made from the state machine, at an
   * index >= the recorded one (so >= firstIndex() - 1, as Storage requires), or
   * SnapshotTemporarilyUnavailableError until the source has made it.
   */
  snapshot(): Snapshot {
    const recorded = this.inner.recordedSnapshot();
    if (recorded.dataLocation === SnapshotDataLocation.Inline) return this.inner.snapshot();
    const made = this.source.ready(recorded.metadata.index);
    if (made !== undefined) return made;
    this.source.request();
    throw new SnapshotTemporarilyUnavailableError();
  }
}
