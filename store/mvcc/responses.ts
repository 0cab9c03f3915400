// What the store answers, mirroring etcd's v3 responses. `revision` is the response header's
// revision: the store's revision after the request (for a read, the current revision).

import type { CommandType } from './commands.js';
import type { MvccError } from './errors.js';

/** etcd mvccpb.KeyValue. */
export interface KeyValue {
  readonly key: Uint8Array;
  /** The revision of the put that created this generation of the key. */
  readonly createRevision: number;
  /** The revision of the last change; equals the event's revision in a watch. */
  readonly modRevision: number;
  /** 1 on create, +1 per put; a delete ends the generation and the next put starts at 1 again. */
  readonly version: number;
  readonly value: Uint8Array;
  /** 0 = no lease. */
  readonly lease: number;
}

export const EventType = { Put: 'put', Delete: 'delete' } as const;
export type EventType = (typeof EventType)[keyof typeof EventType];

/**
 * etcd mvccpb.Event. For a delete, kv holds only the key and modRevision (the tombstone's revision);
 * prevKv is the key-value before the change, when it existed and was asked for.
 */
export interface WatchEvent {
  readonly type: EventType;
  readonly kv: KeyValue;
  readonly prevKv?: KeyValue;
}

export interface RangeResponse {
  readonly type: 'range';
  readonly revision: number;
  readonly kvs: readonly KeyValue[];
  /** Keys in the range at the revision read, before limit and the min/max filters (as etcd counts). */
  readonly count: number;
  /** More keys matched than `limit` let through. */
  readonly more: boolean;
}

export interface PutResponse {
  readonly type: 'put';
  readonly revision: number;
  readonly prevKv?: KeyValue;
}

export interface DeleteRangeResponse {
  readonly type: 'deleteRange';
  readonly revision: number;
  readonly deleted: number;
  /** Empty unless prevKv was asked for. */
  readonly prevKvs: readonly KeyValue[];
}

export interface TxnResponse {
  readonly type: 'txn';
  readonly revision: number;
  readonly succeeded: boolean;
  /** One response per op of the branch that ran, in order. */
  readonly responses: readonly ResponseOp[];
}

export type ResponseOp = RangeResponse | PutResponse | DeleteRangeResponse | TxnResponse;

/** One txn of a batch: applied with its response, or rejected alone with the error it failed with. */
export type BatchTxnOutcome =
  | { readonly status: 'applied'; readonly response: TxnResponse }
  | { readonly status: 'rejected'; readonly error: MvccError };

export interface BatchResponse {
  readonly type: 'batch';
  /** The store's revision after the whole batch. */
  readonly revision: number;
  /** One outcome per txn, in the batch's order. */
  readonly outcomes: readonly BatchTxnOutcome[];
}

export interface CompactResponse {
  readonly type: 'compact';
  readonly revision: number;
}

export interface LeaseGrantResponse {
  readonly type: 'leaseGrant';
  readonly revision: number;
  readonly id: number;
  readonly ttl: number;
}

export interface LeaseRevokeResponse {
  readonly type: 'leaseRevoke';
  readonly revision: number;
}

/** A publish changes no key: revision is the store's current one. */
export interface MemberPublishResponse {
  readonly type: 'memberPublish';
  readonly revision: number;
}

export type CommandResponse =
  | PutResponse
  | DeleteRangeResponse
  | TxnResponse
  | BatchResponse
  | CompactResponse
  | LeaseGrantResponse
  | LeaseRevokeResponse
  | MemberPublishResponse;

/** The response type of each command type. */
export type ResponseOf<T extends CommandType> = Extract<CommandResponse, { type: T }>;

/**
 * The outcome of applying one log entry:
 * - applied: the command took effect (or was a no-op such as a delete of nothing);
 * - rejected: a deterministic failure (the same on every master); state is unchanged, but the entry
 *   counts as applied;
 * - skipped: the entry's index was already applied (a replay after restart); nothing happened.
 */
export type ApplyOutcome =
  | { readonly status: 'applied'; readonly index: number; readonly response: CommandResponse }
  | { readonly status: 'rejected'; readonly index: number; readonly error: MvccError }
  | { readonly status: 'skipped'; readonly index: number };

/** A lease as the state machine knows it; expiry timing belongs to the leader, not here. */
export interface LeaseInfo {
  readonly id: number;
  /** The TTL granted, in seconds. */
  readonly ttl: number;
  /** Attached keys in key order. */
  readonly keys: readonly Uint8Array[];
}

/** The response of a txn's only op, which must be of `type`. */
export function singleOpResponse<T extends ResponseOp['type']>(txn: TxnResponse, type: T): Extract<ResponseOp, { type: T }> {
  const response = txn.responses[0];
  if (txn.responses.length !== 1 || response === undefined || response.type !== type) {
    throw new Error(`a txn of one ${type} was answered with ${txn.responses.map((r) => r.type).join(', ') || 'nothing'}`);
  }
  return response as Extract<ResponseOp, { type: T }>;
}
