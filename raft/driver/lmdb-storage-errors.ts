// Typed errors of the LMDB-backed Raft storage. Each names the file and the index or key involved,
// because the person reading it has to decide whether to restore that file from a peer.

import { RaftError } from '../core/errors.js';

export class LmdbStorageError extends RaftError {
  override readonly name: string = 'LmdbStorageError';
}

/**
 * A log entry on disk failed verification: bad checksum, a torn (short) record, a hole in the
 * index sequence, or fields out of range. Never recovered by truncation: the entry may already have
 * been acknowledged to a leader, so dropping it could lose a committed write. The node must stop
 * and be repaired (for example by wiping the member and letting the leader send a snapshot).
 */
export class CorruptLogError extends LmdbStorageError {
  override readonly name = 'CorruptLogError';
  constructor(
    readonly index: number,
    readonly file: string,
    readonly reason: string,
  ) {
    super(`raft log entry ${index} in ${file} is corrupt: ${reason}`);
  }
}

/** A metadata record (hard state, log head, snapshot, format marker) failed verification. */
export class CorruptMetadataError extends LmdbStorageError {
  override readonly name = 'CorruptMetadataError';
  constructor(
    readonly key: string,
    readonly file: string,
    readonly reason: string,
  ) {
    super(`raft metadata record '${key}' in ${file} is corrupt: ${reason}`);
  }
}

/**
 * A write was started while persist() was still in flight. The driver handles one Ready at a
 * time; overlapping writes would be planned against a state that is about to change.
 */
export class StorageBusyError extends LmdbStorageError {
  override readonly name = 'StorageBusyError';
  constructor(
    readonly operation: string,
    readonly file: string,
  ) {
    super(`${operation} on ${file} while a persist() is still in flight`);
  }
}

/** The LMDB environment was opened with an option that defeats this storage's guarantees. */
export class LmdbConfigError extends LmdbStorageError {
  override readonly name = 'LmdbConfigError';
  constructor(
    readonly option: string,
    readonly file: string,
    reason: string,
  ) {
    super(`LMDB environment ${file} cannot hold a raft log with ${option}: ${reason}`);
  }
}
