// Errors as etcd clients expect them: etcd's gRPC status code and its exact message text. clientv3
// recognizes an error by its message (rpctypes.ErrorDesc), and etcdctl prints it, so for every
// condition etcd has a name for, the message here is etcd's to the character (api/v3rpc/rpctypes).
// Conditions etcd has no name for (a malformed field, a bound of ours) get a message that names
// the field or the bound.

import { status as GrpcStatus } from '@grpc/grpc-js';
import {
  BackendStoppedError,
  LearnerNotReadyError,
  LeaseTtlTooLargeError,
  MemberBadUrlsError,
  MemberNotEnoughStartedError,
  MemberNotFoundError,
  MemberNotLearnerError,
  NoLeaderError,
  NotLeaderError,
  PeerUrlExistsError,
  RequestTimeoutError,
  TooManyLeasesError,
  TooManyLearnersError,
  TooManyRequestsError,
} from '../backend.js';
import { CompactionWaitTimeoutError } from '../compaction-driver.js';
import {
  CompactedError,
  FutureRevisionError,
  InvalidCommandError,
  KeyNotFoundError,
  LeaseExistsError,
  LeaseNotFoundError,
  RequestTooLargeError,
  SlowWatcherError,
} from '../mvcc/errors.js';

export interface RpcStatus {
  readonly code: GrpcStatus;
  readonly details: string;
}

function rpcStatus(code: GrpcStatus, details: string): RpcStatus {
  return { code, details };
}

/** etcd's server-side errors that Flotilla can raise (rpctypes.ErrGRPC*). */
export const EtcdStatus = {
  EmptyKey: rpcStatus(GrpcStatus.INVALID_ARGUMENT, 'etcdserver: key is not provided'),
  KeyNotFound: rpcStatus(GrpcStatus.INVALID_ARGUMENT, 'etcdserver: key not found'),
  ValueProvided: rpcStatus(GrpcStatus.INVALID_ARGUMENT, 'etcdserver: value is provided'),
  LeaseProvided: rpcStatus(GrpcStatus.INVALID_ARGUMENT, 'etcdserver: lease is provided'),
  TooManyOps: rpcStatus(GrpcStatus.INVALID_ARGUMENT, 'etcdserver: too many operations in txn request'),
  DuplicateKey: rpcStatus(GrpcStatus.INVALID_ARGUMENT, 'etcdserver: duplicate key given in txn request'),
  Compacted: rpcStatus(GrpcStatus.OUT_OF_RANGE, 'etcdserver: mvcc: required revision has been compacted'),
  FutureRev: rpcStatus(GrpcStatus.OUT_OF_RANGE, 'etcdserver: mvcc: required revision is a future revision'),
  LeaseNotFound: rpcStatus(GrpcStatus.NOT_FOUND, 'etcdserver: requested lease not found'),
  LeaseExist: rpcStatus(GrpcStatus.FAILED_PRECONDITION, 'etcdserver: lease already exists'),
  LeaseTtlTooLarge: rpcStatus(GrpcStatus.OUT_OF_RANGE, 'etcdserver: too large lease TTL'),
  PeerUrlExist: rpcStatus(GrpcStatus.FAILED_PRECONDITION, 'etcdserver: Peer URLs already exists'),
  MemberNotEnoughStarted: rpcStatus(
    GrpcStatus.FAILED_PRECONDITION,
    'etcdserver: re-configuration failed due to not enough started members',
  ),
  MemberBadUrls: rpcStatus(GrpcStatus.INVALID_ARGUMENT, 'etcdserver: given member URLs are invalid'),
  MemberNotFound: rpcStatus(GrpcStatus.NOT_FOUND, 'etcdserver: member not found'),
  MemberNotLearner: rpcStatus(GrpcStatus.FAILED_PRECONDITION, 'etcdserver: can only promote a learner member'),
  LearnerNotReady: rpcStatus(
    GrpcStatus.FAILED_PRECONDITION,
    'etcdserver: can only promote a learner member which is in sync with leader',
  ),
  TooManyLearners: rpcStatus(GrpcStatus.FAILED_PRECONDITION, 'etcdserver: too many learner members in cluster'),
  RequestTooLarge: rpcStatus(GrpcStatus.INVALID_ARGUMENT, 'etcdserver: request is too large'),
  TooManyRequests: rpcStatus(GrpcStatus.RESOURCE_EXHAUSTED, 'etcdserver: too many requests'),
  NoLeader: rpcStatus(GrpcStatus.UNAVAILABLE, 'etcdserver: no leader'),
  // etcd answers FAILED_PRECONDITION; UNAVAILABLE makes clients retry, possibly at another member.
  NotLeader: rpcStatus(GrpcStatus.UNAVAILABLE, 'etcdserver: not leader'),
  Stopped: rpcStatus(GrpcStatus.UNAVAILABLE, 'etcdserver: server stopped'),
  Timeout: rpcStatus(GrpcStatus.UNAVAILABLE, 'etcdserver: request timed out'),
} as const;

/** mvcc's ErrWatcherDuplicateID: a create request asked for a watch id in use on its stream. */
export const DUPLICATE_WATCH_ID_REASON = 'mvcc: duplicate watch ID provided on the WatchStream';

/** An error the face raises with a status of etcd's own. */
export class EtcdRpcError extends Error {
  override readonly name = 'EtcdRpcError';
  constructor(readonly status: RpcStatus) {
    super(status.details);
  }
}

/** A request field the face refuses; `field` is its path in proto names, e.g. `success[2].request_put.lease`. */
export class InvalidRequestError extends Error {
  override readonly name = 'InvalidRequestError';
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(`etcdserver: invalid argument: ${field === '' ? '(request)' : field}: ${reason}`);
  }
}

/** The gRPC status for an error thrown by the face or a backend. */
export function statusOf(error: unknown): RpcStatus {
  if (error instanceof EtcdRpcError) return error.status;
  if (error instanceof InvalidRequestError) return rpcStatus(GrpcStatus.INVALID_ARGUMENT, error.message);
  // The MVCC store's deterministic rejections.
  if (error instanceof CompactedError) return EtcdStatus.Compacted;
  if (error instanceof FutureRevisionError) return EtcdStatus.FutureRev;
  if (error instanceof LeaseNotFoundError) return EtcdStatus.LeaseNotFound;
  if (error instanceof LeaseExistsError) return EtcdStatus.LeaseExist;
  if (error instanceof KeyNotFoundError) return EtcdStatus.KeyNotFound;
  if (error instanceof RequestTooLargeError) return EtcdStatus.RequestTooLarge;
  if (error instanceof InvalidCommandError) {
    return rpcStatus(GrpcStatus.INVALID_ARGUMENT, `etcdserver: invalid argument: ${error.field}: ${error.reason}`);
  }
  if (error instanceof SlowWatcherError) {
    return rpcStatus(
      GrpcStatus.RESOURCE_EXHAUSTED,
      `etcdserver: watcher fell too far behind and was canceled; watch again from revision ${error.resumeRevision}`,
    );
  }
  // A replicated master's conditions.
  if (error instanceof NoLeaderError) return EtcdStatus.NoLeader;
  if (error instanceof NotLeaderError) return EtcdStatus.NotLeader;
  if (error instanceof RequestTimeoutError) return EtcdStatus.Timeout;
  if (error instanceof CompactionWaitTimeoutError) return rpcStatus(GrpcStatus.DEADLINE_EXCEEDED, `etcdserver: ${error.message}`);
  if (error instanceof TooManyRequestsError) return EtcdStatus.TooManyRequests;
  if (error instanceof BackendStoppedError) return EtcdStatus.Stopped;
  if (error instanceof LeaseTtlTooLargeError) return EtcdStatus.LeaseTtlTooLarge;
  if (error instanceof TooManyLeasesError) {
    return rpcStatus(GrpcStatus.RESOURCE_EXHAUSTED, `etcdserver: too many leases (the leader tracks at most ${error.limit})`);
  }
  if (error instanceof MemberNotFoundError) return EtcdStatus.MemberNotFound;
  if (error instanceof PeerUrlExistsError) return EtcdStatus.PeerUrlExist;
  if (error instanceof MemberBadUrlsError) return EtcdStatus.MemberBadUrls;
  if (error instanceof MemberNotLearnerError) return EtcdStatus.MemberNotLearner;
  if (error instanceof LearnerNotReadyError) return EtcdStatus.LearnerNotReady;
  if (error instanceof TooManyLearnersError) return EtcdStatus.TooManyLearners;
  if (error instanceof MemberNotEnoughStartedError) return EtcdStatus.MemberNotEnoughStarted;
  const message = error instanceof Error ? error.message : String(error);
  return rpcStatus(GrpcStatus.INTERNAL, `etcdserver: internal error: ${message}`);
}

/** What a grpc-js handler passes to its callback, or emits on a stream, to end a call with this status. */
export function serviceError(status: RpcStatus): Error & RpcStatus {
  return Object.assign(new Error(status.details), status);
}
