// What the etcd-compatible face (store/etcd/) needs from a master, and nothing more. A master in a
// cluster implements it over Raft (writes are proposed and answered when applied; linearizable
// reads wait for a read index; lease expiry is decided by the leader); LocalBackend implements it
// over one MvccStore with no Raft, for the face's tests.
//
// Errors are typed. The MVCC store's own MvccErrors (CompactedError, FutureRevisionError,
// LeaseNotFoundError, LeaseExistsError, KeyNotFoundError, InvalidCommandError, RequestTooLargeError)
// pass through unchanged; the errors below are the ones a replicated master adds. The face maps
// each one to the gRPC status code and message etcd uses, so etcd clients react as they would to etcd.

import type { BatchCommand, Command, LeaseGrantCommand, MemberPublishCommand, RangeRequest, TxnRequest } from './mvcc/commands.js';
import type { RangeResponse, ResponseOf, LeaseGrantResponse, TxnResponse } from './mvcc/responses.js';
import type { RangeOptions } from './mvcc/reader.js';

export type { RangeOptions } from './mvcc/reader.js';
import type { WatchRequest, WatchResponse } from './mvcc/watch.js';

/**
 * The version a master reports in Status. etcd clients compare it against their own (clientv3's
 * RejectOldCluster, etcdctl's `endpoint status`); Flotilla serves the etcd 3.5 API.
 */
export const ETCD_COMPATIBLE_VERSION = '3.5.0';

/** How often watchers that asked for progress notifications get one when idle (etcd's default: 10 minutes). */
export const PROGRESS_NOTIFY_INTERVAL_MS = 10 * 60 * 1000;

/** Identity and Raft position carried by every response header (etcd's ResponseHeader). */
export interface HeaderFacts {
  /** etcd's cluster_id, a uint64. */
  readonly clusterId: bigint;
  /** etcd's member_id: the member that answered, a uint64. */
  readonly memberId: bigint;
  /** The Raft term the member is in now. */
  readonly raftTerm: number;
  /** The store's current revision, for responses that do not carry their own (leases, status). */
  readonly revision: number;
  /** This member is still removing the history its last compaction made unreachable (store/mvcc/compaction.ts). */
  readonly compacting?: boolean;
}

export const ReadConsistency = { Linearizable: 'linearizable', Serializable: 'serializable' } as const;
export type ReadConsistency = (typeof ReadConsistency)[keyof typeof ReadConsistency];

/**
 * Commands a client may propose. A lease grant goes through leaseGrant (its id is the leader's
 * choice); batches are the proposer's own doing (see proposeTxn).
 */
export type ClientCommand = Exclude<Command, LeaseGrantCommand | BatchCommand | MemberPublishCommand>;

/**
 * A watcher on the store: an iterator of responses in revision order, ended by cancel(), or by an
 * error thrown from next() (CompactedError when its history is gone, SlowWatcherError when it fell
 * too far behind). mvcc's Watcher is one.
 */
export interface BackendWatcher extends AsyncIterator<WatchResponse> {
  /** Whether the watcher has caught up and takes live changes (else it is reading history). */
  readonly synced: boolean;
  /** Ends the watcher; undelivered events are dropped and next() reports done. */
  cancel(): void;
  /**
   * Asks for one progress response (etcd's WatchProgressRequest): sent once every event up to the
   * revision it carries has been delivered. A watcher still reading history answers when caught up.
   */
  requestProgress(): void;
}

export interface LeaseGrantRequest {
  /** 0 = the backend chooses. */
  readonly id: number;
  /** Seconds; the backend raises it to its minimum TTL. Throws LeaseTtlTooLargeError above MAX_LEASE_TTL_SECONDS. */
  readonly ttl: number;
}

export interface LeaseTimeToLive {
  readonly id: number;
  /** Whole seconds left before the leader revokes the lease (rounded down, as etcd reports it). */
  readonly remainingSeconds: number;
  /** The TTL it was granted with. */
  readonly grantedTtl: number;
  /** Attached keys in key order; empty unless asked for. */
  readonly keys: readonly Uint8Array[];
}

/** A cluster member as etcd's Member message describes it. */
export interface MemberRecord {
  /** A uint64. */
  readonly id: bigint;
  /** Empty until the member has started. */
  readonly name: string;
  readonly peerUrls: readonly string[];
  readonly clientUrls: readonly string[];
  readonly isLearner: boolean;
}

export interface MemberAddition {
  readonly member: MemberRecord;
  /** Every member after the change. */
  readonly members: readonly MemberRecord[];
}

/** What etcd's Maintenance.Status reports about the answering member. */
export interface MemberStatus {
  readonly version: string;
  readonly dbSizeBytes: number;
  readonly dbSizeInUseBytes: number;
  /** 0n = no leader known. */
  readonly leaderId: bigint;
  /** The committed index. Invariant: raftAppliedIndex <= raftIndex. */
  readonly raftIndex: number;
  readonly raftTerm: number;
  readonly raftAppliedIndex: number;
  readonly isLearner: boolean;
  /** Alarms and health problems, as text; empty when healthy. */
  readonly errors: readonly string[];
}

export interface Backend {
  /** The header facts as of now. Never throws. */
  header(): HeaderFacts;

  /**
   * Proposes a write and resolves with the response of applying it, or rejects with the MvccError
   * it was rejected with, or with NoLeaderError, NotLeaderError, RequestTimeoutError (the outcome is
   * unknown: it may still commit), TooManyRequestsError, BackendStoppedError, or mvcc's
   * RequestTooLargeError when the encoded command is over MAX_REQUEST_BYTES.
   */
  propose<C extends ClientCommand>(command: C): Promise<ResponseOf<C['type']>>;

  /**
   * Proposes one txn, coalesced with concurrent ones into batch entries (TxnBatcher): the caller
   * gets its own response, with its own revision, or its own error, exactly as if it had proposed
   * the txn alone with propose. Rejects like propose, and with TooManyRequestsError when
   * MAX_PENDING_TXNS txns wait at this member.
   */
  proposeTxn(txn: TxnRequest): Promise<TxnResponse>;

  /**
   * etcd's Range. Linearizable waits until this member has applied a read index; serializable reads
   * at once. `options.skipCount` (for pages that only need `more`) stops reading after the limit.
   */
  range(request: RangeRequest, consistency: ReadConsistency, options?: RangeOptions): Promise<RangeResponse>;

  /**
   * Starts a watcher on this member's applied state. Throws synchronously: CompactedError when
   * startRevision is compacted, InvalidCommandError for a malformed request.
   */
  watch(request: WatchRequest): BackendWatcher;

  /**
   * Grants a lease: the leader chooses the id when request.id is 0, applies its TTL policy, and
   * starts the lease's deadline once the grant is applied. Rejects with LeaseTtlTooLargeError,
   * TooManyLeasesError, LeaseExistsError, or any error of propose.
   */
  leaseGrant(request: LeaseGrantRequest): Promise<LeaseGrantResponse>;

  /**
   * Resets the lease's deadline to a full TTL and resolves with that TTL (seconds). Rejects with
   * LeaseNotFoundError when the lease does not exist or has expired, or with NoLeaderError.
   */
  leaseKeepAlive(id: number): Promise<number>;

  /** The lease's remaining time, or undefined when it does not exist or has expired. */
  leaseTimeToLive(id: number, withKeys: boolean): Promise<LeaseTimeToLive | undefined>;

  /** The ids of every lease, ascending. */
  leases(): Promise<readonly number[]>;

  members(): Promise<readonly MemberRecord[]>;
  /** Rejects with PeerUrlExistsError, TooManyLearnersError, MemberNotEnoughStartedError. */
  addMember(peerUrls: readonly string[], isLearner: boolean): Promise<MemberAddition>;
  /** Resolves with the members left; rejects with MemberNotFoundError, MemberNotEnoughStartedError. */
  removeMember(id: bigint): Promise<readonly MemberRecord[]>;
  /** Rejects with MemberNotFoundError, MemberNotLearnerError, LearnerNotReadyError. */
  promoteMember(id: bigint): Promise<readonly MemberRecord[]>;

  status(): Promise<MemberStatus>;
}

// Errors a replicated master adds to the MVCC store's own. Each names etcd's error it stands for.

export class BackendError extends Error {
  override readonly name: string = 'BackendError';
}

/** No leader is known (an election is under way, or this member is cut off). etcd: ErrNoLeader. */
export class NoLeaderError extends BackendError {
  override readonly name = 'NoLeaderError';
  constructor() {
    super('no leader is known');
  }
}

/** The request needs the leader and this member is not it. etcd: ErrNotLeader. */
export class NotLeaderError extends BackendError {
  override readonly name = 'NotLeaderError';
  /** 0n when the caller does not know who leads. */
  constructor(readonly leaderId: bigint = 0n) {
    super(leaderId === 0n ? 'this member is not the leader' : `this member is not the leader (${leaderId.toString(16)} is)`);
  }
}

/** A write was not applied in time; it may still commit. etcd: ErrTimeout. */
export class RequestTimeoutError extends BackendError {
  override readonly name = 'RequestTimeoutError';
  constructor(readonly timeoutMs: number) {
    super(`request not applied within ${timeoutMs} ms; it may still commit`);
  }
}

/** Too many requests are waiting at this member. etcd: ErrTooManyRequests. */
export class TooManyRequestsError extends BackendError {
  override readonly name = 'TooManyRequestsError';
  constructor(readonly limit: number) {
    super(`more than ${limit} requests pending at this member`);
  }
}

/** The member is shutting down. etcd: ErrStopped. */
export class BackendStoppedError extends BackendError {
  override readonly name = 'BackendStoppedError';
  constructor() {
    super('the member is stopped');
  }
}

/** etcd: ErrLeaseTTLTooLarge. */
export class LeaseTtlTooLargeError extends BackendError {
  override readonly name = 'LeaseTtlTooLargeError';
  constructor(
    readonly ttl: number,
    readonly maxTtl: number,
  ) {
    super(`lease TTL ${ttl} s is more than the maximum of ${maxTtl} s`);
  }
}

/** The leader tracks its bound of leases already. etcd has no such bound; reported like ErrTooManyRequests. */
export class TooManyLeasesError extends BackendError {
  override readonly name = 'TooManyLeasesError';
  constructor(readonly limit: number) {
    super(`the leader already tracks ${limit} leases`);
  }
}

/** etcd: ErrMemberNotFound. */
export class MemberNotFoundError extends BackendError {
  override readonly name = 'MemberNotFoundError';
  constructor(readonly memberId: bigint) {
    super(`member ${memberId.toString(16)} not found`);
  }
}

/** etcd: ErrPeerURLExist. */
export class PeerUrlExistsError extends BackendError {
  override readonly name = 'PeerUrlExistsError';
  constructor(readonly peerUrl: string) {
    super(`peer URL ${peerUrl} is already a member's`);
  }
}

/** etcd: ErrMemberBadURLs. */
export class MemberBadUrlsError extends BackendError {
  override readonly name = 'MemberBadUrlsError';
  constructor(
    readonly url: string,
    readonly reason: string,
  ) {
    super(`member URL ${JSON.stringify(url)} is invalid: ${reason}`);
  }
}

/** etcd: ErrMemberNotLearner. */
export class MemberNotLearnerError extends BackendError {
  override readonly name = 'MemberNotLearnerError';
  constructor(readonly memberId: bigint) {
    super(`member ${memberId.toString(16)} is not a learner`);
  }
}

/** etcd: ErrLearnerNotReady. */
export class LearnerNotReadyError extends BackendError {
  override readonly name = 'LearnerNotReadyError';
  constructor(readonly memberId: bigint) {
    super(`learner ${memberId.toString(16)} is not in sync with the leader`);
  }
}

/** etcd: ErrTooManyLearners. */
export class TooManyLearnersError extends BackendError {
  override readonly name = 'TooManyLearnersError';
  constructor(readonly limit: number) {
    super(`the cluster has ${limit} learners already`);
  }
}

/** The change would leave too few started voters for a quorum. etcd: ErrMemberNotEnoughStarted. */
export class MemberNotEnoughStartedError extends BackendError {
  override readonly name = 'MemberNotEnoughStartedError';
  constructor(readonly reason: string) {
    super(`re-configuration refused: ${reason}`);
  }
}
