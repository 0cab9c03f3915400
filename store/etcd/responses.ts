// The store's responses in etcd's wire shape (field names from proto/etcd/rpc.proto). int64 fields
// the store keeps as safe integers go out as numbers; uint64 ids (member, cluster) as decimal strings,
// which proto-loader encodes exactly.

import type { HeaderFacts, MemberRecord, MemberStatus } from '../backend.js';
import type {
  DeleteRangeResponse,
  KeyValue,
  PutResponse,
  RangeResponse,
  ResponseOp,
  TxnResponse,
  WatchEvent,
} from '../mvcc/responses.js';

export interface WireHeader {
  readonly cluster_id: string;
  readonly member_id: string;
  readonly revision: number;
  readonly raft_term: number;
}

/** The header of a top-level response; `revision` defaults to the store's current revision. */
export function wireHeader(facts: HeaderFacts, revision: number = facts.revision): WireHeader {
  return {
    cluster_id: facts.clusterId.toString(),
    member_id: facts.memberId.toString(),
    revision,
    raft_term: facts.raftTerm,
  };
}

/** etcd's Cluster service leaves the revision out of its headers. */
export function wireClusterHeader(facts: HeaderFacts): WireHeader {
  return wireHeader(facts, 0);
}

/** Responses inside a txn carry only their revision, as etcd's do. */
function innerHeader(revision: number): WireHeader {
  return { cluster_id: '0', member_id: '0', revision, raft_term: 0 };
}

export interface WireKeyValue {
  readonly key: Uint8Array;
  readonly create_revision: number;
  readonly mod_revision: number;
  readonly version: number;
  readonly value: Uint8Array;
  readonly lease: number;
}

export function wireKeyValue(kv: KeyValue): WireKeyValue {
  return {
    key: kv.key,
    create_revision: kv.createRevision,
    mod_revision: kv.modRevision,
    version: kv.version,
    value: kv.value,
    lease: kv.lease,
  };
}

export interface WireRangeResponse {
  readonly header: WireHeader;
  readonly kvs: readonly WireKeyValue[];
  readonly more: boolean;
  readonly count: number;
}

export function wireRangeResponse(response: RangeResponse, header: WireHeader): WireRangeResponse {
  return { header, kvs: response.kvs.map(wireKeyValue), more: response.more, count: response.count };
}

export interface WirePutResponse {
  readonly header: WireHeader;
  readonly prev_kv: WireKeyValue | null;
}

export function wirePutResponse(response: PutResponse, header: WireHeader): WirePutResponse {
  return { header, prev_kv: response.prevKv === undefined ? null : wireKeyValue(response.prevKv) };
}

export interface WireDeleteRangeResponse {
  readonly header: WireHeader;
  readonly deleted: number;
  readonly prev_kvs: readonly WireKeyValue[];
}

export function wireDeleteRangeResponse(response: DeleteRangeResponse, header: WireHeader): WireDeleteRangeResponse {
  return { header, deleted: response.deleted, prev_kvs: response.prevKvs.map(wireKeyValue) };
}

export type WireResponseOp =
  | { readonly response_range: WireRangeResponse }
  | { readonly response_put: WirePutResponse }
  | { readonly response_delete_range: WireDeleteRangeResponse }
  | { readonly response_txn: WireTxnResponse };

export interface WireTxnResponse {
  readonly header: WireHeader;
  readonly succeeded: boolean;
  readonly responses: readonly WireResponseOp[];
}

function wireResponseOp(op: ResponseOp): WireResponseOp {
  const header = innerHeader(op.revision);
  switch (op.type) {
    case 'range':
      return { response_range: wireRangeResponse(op, header) };
    case 'put':
      return { response_put: wirePutResponse(op, header) };
    case 'deleteRange':
      return { response_delete_range: wireDeleteRangeResponse(op, header) };
    case 'txn':
      return { response_txn: wireTxnResponse(op, header) };
  }
}

export function wireTxnResponse(response: TxnResponse, header: WireHeader): WireTxnResponse {
  return { header, succeeded: response.succeeded, responses: response.responses.map(wireResponseOp) };
}

export interface WireEvent {
  readonly type: 'PUT' | 'DELETE';
  readonly kv: WireKeyValue;
  readonly prev_kv: WireKeyValue | null;
}

export function wireEvent(event: WatchEvent): WireEvent {
  return {
    type: event.type === 'put' ? 'PUT' : 'DELETE',
    kv: wireKeyValue(event.kv),
    prev_kv: event.prevKv === undefined ? null : wireKeyValue(event.prevKv),
  };
}

export interface WireWatchResponse {
  readonly header: WireHeader;
  /** -1 (clientv3.InvalidWatchID) for a response that belongs to no watcher: a stream-wide progress, a refused create. */
  readonly watch_id: number;
  readonly created: boolean;
  readonly canceled: boolean;
  readonly compact_revision: number;
  readonly cancel_reason: string;
  readonly fragment: boolean;
  readonly events: readonly WireEvent[];
}

export const INVALID_WATCH_ID = -1;

export function wireWatchResponse(
  header: WireHeader,
  watchId: number,
  fields: Partial<Omit<WireWatchResponse, 'header' | 'watch_id'>> = {},
): WireWatchResponse {
  return {
    header,
    watch_id: watchId,
    created: fields.created ?? false,
    canceled: fields.canceled ?? false,
    compact_revision: fields.compact_revision ?? 0,
    cancel_reason: fields.cancel_reason ?? '',
    fragment: false,
    events: fields.events ?? [],
  };
}

export interface WireMember {
  readonly ID: string;
  readonly name: string;
  readonly peerURLs: readonly string[];
  readonly clientURLs: readonly string[];
  readonly isLearner: boolean;
}

export function wireMember(member: MemberRecord): WireMember {
  return {
    ID: member.id.toString(),
    name: member.name,
    peerURLs: member.peerUrls,
    clientURLs: member.clientUrls,
    isLearner: member.isLearner,
  };
}

export interface WireStatusResponse {
  readonly header: WireHeader;
  readonly version: string;
  readonly dbSize: number;
  readonly leader: string;
  readonly raftIndex: number;
  readonly raftTerm: number;
  readonly raftAppliedIndex: number;
  readonly errors: readonly string[];
  readonly dbSizeInUse: number;
  readonly isLearner: boolean;
}

export function wireStatusResponse(status: MemberStatus, header: WireHeader): WireStatusResponse {
  return {
    header,
    version: status.version,
    dbSize: status.dbSizeBytes,
    leader: status.leaderId.toString(),
    raftIndex: status.raftIndex,
    raftTerm: status.raftTerm,
    raftAppliedIndex: status.raftAppliedIndex,
    errors: status.errors,
    dbSizeInUse: status.dbSizeInUseBytes,
    isLearner: status.isLearner,
  };
}
