// Typed errors of the Raft core. Each carries what a caller needs to act on it.

export class RaftError extends Error {
  override readonly name: string = 'RaftError';
}

/** The requested index is older than the first entry storage still holds (compacted into a snapshot). */
export class CompactedError extends RaftError {
  override readonly name = 'CompactedError';
  constructor(readonly index: number, readonly firstIndex: number) {
    super(`index ${index} is compacted; the log starts at ${firstIndex}`);
  }
}

/** The requested index is past the last entry storage holds. */
export class UnavailableError extends RaftError {
  override readonly name = 'UnavailableError';
  constructor(readonly index: number, readonly lastIndex: number) {
    super(`index ${index} is unavailable; the log ends at ${lastIndex}`);
  }
}

/** Storage has no snapshot ready yet; the leader retries later. */
export class SnapshotTemporarilyUnavailableError extends RaftError {
  override readonly name = 'SnapshotTemporarilyUnavailableError';
  constructor() {
    super('snapshot is temporarily unavailable');
  }
}

/**
 * The latest snapshot was recorded without its data (a log-compaction snapshot: the state machine
 * holds that state). Only a storage that can make the data from the state machine
 * (StateMachineSnapshotStorage) can serve it.
 */
export class SnapshotDataInStateMachineError extends RaftError {
  override readonly name = 'SnapshotDataInStateMachineError';
  constructor(readonly index: number) {
    super(`the snapshot at ${index} was recorded without data: its state is in the state machine`);
  }
}

/** A snapshot older than the one storage already has. */
export class SnapshotOutOfDateError extends RaftError {
  override readonly name = 'SnapshotOutOfDateError';
  constructor(readonly index: number, readonly currentIndex: number) {
    super(`snapshot at ${index} is older than the current snapshot at ${currentIndex}`);
  }
}

export const ProposalDropReason = {
  NoLeader: 'no leader',
  Transferring: 'leadership transfer in progress',
  UncommittedLimit: 'too many uncommitted entries',
  ConfChangePending: 'a configuration change is already pending',
  NotMember: 'this node is not a voting member',
  LearnerNotReady: 'the learner has not caught up with the leader',
  InvalidConfChange: 'the configuration change is invalid',
} as const;
export type ProposalDropReason = (typeof ProposalDropReason)[keyof typeof ProposalDropReason];

/** A proposal the core refused; nothing was appended. Retry, possibly at another node. */
export class ProposalDroppedError extends RaftError {
  override readonly name = 'ProposalDroppedError';
  constructor(readonly reason: ProposalDropReason, detail?: string) {
    super(`proposal dropped: ${reason}${detail === undefined ? '' : ` (${detail})`}`);
  }
}

/** The core's invariants were violated by its input (e.g. a corrupt storage); the node must stop. */
export class RaftInvariantError extends RaftError {
  override readonly name = 'RaftInvariantError';
}
