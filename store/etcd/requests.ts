// Decoded etcd requests (plain objects shaped by ETCD_PROTO_LOADER_OPTIONS) turned into the store's
// typed requests. Every field is checked: a value of the wrong type, out of range, or beyond one of
// our bounds throws InvalidRequestError naming the field by its path in proto names
// (`success[1].request_put.lease`); a condition etcd itself names throws EtcdRpcError with etcd's
// status, so that clients see what etcd would have said.
//
// etcd's request rules followed here (etcdserver/api/v3rpc/key.go): an empty key is "key is not
// provided"; a txn may hold at most MAX_TXN_OPS compares and ops per branch, a nested txn what its
// parent leaves over; ignore_value with a value and ignore_lease with a lease are refused; a branch
// that writes a key twice is "duplicate key given in txn request"; a negative limit means no limit;
// a revision <= 0 means the newest.

import {
  type Compare,
  type CompareResult,
  type DeleteRangeCommand,
  MAX_LEASE_ID,
  MAX_LEASE_TTL_SECONDS,
  MAX_REQUEST_BYTES,
  MAX_TXN_DEPTH,
  MAX_TXN_OPS,
  type PutCommand,
  type RangeRequest,
  type RequestOp,
  type SortOrder,
  type SortTarget,
  type TxnCommand,
} from '../mvcc/commands.js';
import { InvalidCommandError } from '../mvcc/errors.js';
import { MAX_KEY_BYTES } from '../mvcc/keyspace.js';
import { checkBranchWrites } from '../mvcc/txn-intervals.js';
import type { WatchFilter, WatchRequest } from '../mvcc/watch.js';
import { MemberBadUrlsError } from '../backend.js';
import { EtcdRpcError, EtcdStatus, InvalidRequestError } from './errors.js';

/** Peer URLs one member may be added with. etcd has no bound; a member has one or two in practice. */
export const MAX_PEER_URLS = 16;

/** The longest peer URL accepted. */
export const MAX_URL_LENGTH = 1_024;

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const UINT64_LIMIT = 2n ** 64n;
const EMPTY = new Uint8Array(0);
/** etcd's watch on an empty key: "\0" is the smallest key. */
const SMALLEST_KEY = new Uint8Array([0]);

type WireRecord = { readonly [field: string]: unknown };

function join(parent: string, name: string): string {
  return parent === '' ? name : `${parent}.${name}`;
}

function record(value: unknown, field: string): WireRecord {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) {
    throw new InvalidRequestError(field, 'must be a message');
  }
  return value as WireRecord;
}

function bytes(value: unknown, field: string, maxBytes: number): Uint8Array {
  if (value === undefined || value === null) return EMPTY;
  if (!(value instanceof Uint8Array)) throw new InvalidRequestError(field, 'must be bytes');
  if (value.length > maxBytes) throw new InvalidRequestError(field, `is ${value.length} bytes, more than ${maxBytes}`);
  // A plain Uint8Array over the same memory: the store copies what it keeps.
  return value.constructor === Uint8Array ? value : new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
}

function bool(value: unknown, field: string): boolean {
  if (value === undefined || value === null) return false;
  if (typeof value !== 'boolean') throw new InvalidRequestError(field, 'must be a boolean');
  return value;
}

const INTEGER_TEXT = /^-?[0-9]{1,20}$/;

/** An int64 or uint64 as proto-loader hands it over (a decimal string), or a safe integer. */
function integer(value: unknown, field: string): bigint {
  if (value === undefined || value === null) return 0n;
  if (typeof value === 'number' && Number.isSafeInteger(value)) return BigInt(value);
  if (typeof value === 'string' && INTEGER_TEXT.test(value)) return BigInt(value);
  throw new InvalidRequestError(field, 'must be an integer');
}

function uint64(value: unknown, field: string): bigint {
  const n = integer(value, field);
  if (n < 0n || n >= UINT64_LIMIT) throw new InvalidRequestError(field, 'must be a uint64');
  return n;
}

/** An integer within [min, max] (both safe), as a number. */
function bounded(n: bigint, field: string, min: number, max: number): number {
  if (n < BigInt(min) || n > BigInt(max)) throw new InvalidRequestError(field, `must be in [${min}, ${max}], got ${n}`);
  return Number(n);
}

function enumValue<T>(value: unknown, field: string, names: Readonly<Record<string, T>>): T {
  if (typeof value === 'string' && Object.hasOwn(names, value)) {
    const mapped = names[value];
    if (mapped !== undefined) return mapped;
  }
  throw new InvalidRequestError(field, `must be one of ${Object.keys(names).join(', ')}, got ${String(value)}`);
}

function array(value: unknown, field: string): readonly unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new InvalidRequestError(field, 'must be a list');
  return value;
}

function key(m: WireRecord, field: string): Uint8Array {
  const k = bytes(m['key'], join(field, 'key'), MAX_KEY_BYTES);
  if (k.length === 0) throw new EtcdRpcError(EtcdStatus.EmptyKey);
  return k;
}

function rangeEnd(m: WireRecord, field: string): Uint8Array {
  return bytes(m['range_end'], join(field, 'range_end'), MAX_KEY_BYTES);
}

/** A revision filter: 0 = none; must be a safe, non-negative integer. */
function revisionFilter(m: WireRecord, field: string, name: string): number {
  return bounded(integer(m[name], join(field, name)), join(field, name), 0, Number.MAX_SAFE_INTEGER);
}

const SORT_ORDERS: Readonly<Record<string, SortOrder>> = { NONE: 'none', ASCEND: 'ascend', DESCEND: 'descend' };
const SORT_TARGETS: Readonly<Record<string, SortTarget>> = {
  KEY: 'key',
  VERSION: 'version',
  CREATE: 'create',
  MOD: 'mod',
  VALUE: 'value',
};

export interface WireRangeRequest {
  readonly request: RangeRequest;
  readonly serializable: boolean;
}

export function readRangeRequest(value: unknown, field = ''): WireRangeRequest {
  const m = record(value, field);
  const limit = integer(m['limit'], join(field, 'limit'));
  const revision = integer(m['revision'], join(field, 'revision'));
  // A revision no store can reach yet; etcd says the same of any revision past its current one.
  if (revision > MAX_SAFE) throw new EtcdRpcError(EtcdStatus.FutureRev);
  return {
    request: {
      key: key(m, field),
      rangeEnd: rangeEnd(m, field),
      // etcd: a limit <= 0 is no limit; one past every possible count is as good as none.
      limit: limit <= 0n || limit > MAX_SAFE ? 0 : Number(limit),
      revision: revision <= 0n ? 0 : Number(revision),
      sortOrder: enumValue(m['sort_order'], join(field, 'sort_order'), SORT_ORDERS),
      sortTarget: enumValue(m['sort_target'], join(field, 'sort_target'), SORT_TARGETS),
      keysOnly: bool(m['keys_only'], join(field, 'keys_only')),
      countOnly: bool(m['count_only'], join(field, 'count_only')),
      minModRevision: revisionFilter(m, field, 'min_mod_revision'),
      maxModRevision: revisionFilter(m, field, 'max_mod_revision'),
      minCreateRevision: revisionFilter(m, field, 'min_create_revision'),
      maxCreateRevision: revisionFilter(m, field, 'max_create_revision'),
    },
    serializable: bool(m['serializable'], join(field, 'serializable')),
  };
}

/** A lease id naming a lease to attach or find: ids past MAX_LEASE_ID name no lease Flotilla ever grants. */
function leaseReference(value: unknown, field: string): number {
  const id = integer(value, field);
  if (id < 0n) throw new InvalidRequestError(field, 'must not be negative');
  if (id > BigInt(MAX_LEASE_ID)) throw new EtcdRpcError(EtcdStatus.LeaseNotFound);
  return Number(id);
}

export function readPutRequest(value: unknown, field = ''): PutCommand {
  const m = record(value, field);
  const putKey = key(m, field);
  const putValue = bytes(m['value'], join(field, 'value'), MAX_REQUEST_BYTES);
  const lease = leaseReference(m['lease'], join(field, 'lease'));
  const ignoreValue = bool(m['ignore_value'], join(field, 'ignore_value'));
  const ignoreLease = bool(m['ignore_lease'], join(field, 'ignore_lease'));
  if (ignoreValue && putValue.length > 0) throw new EtcdRpcError(EtcdStatus.ValueProvided);
  if (ignoreLease && lease !== 0) throw new EtcdRpcError(EtcdStatus.LeaseProvided);
  return {
    type: 'put',
    key: putKey,
    value: putValue,
    lease,
    prevKv: bool(m['prev_kv'], join(field, 'prev_kv')),
    ignoreValue,
    ignoreLease,
  };
}

export function readDeleteRangeRequest(value: unknown, field = ''): DeleteRangeCommand {
  const m = record(value, field);
  return {
    type: 'deleteRange',
    key: key(m, field),
    rangeEnd: rangeEnd(m, field),
    prevKv: bool(m['prev_kv'], join(field, 'prev_kv')),
  };
}

const COMPARE_RESULTS: Readonly<Record<string, CompareResult>> = {
  EQUAL: 'equal',
  GREATER: 'greater',
  LESS: 'less',
  NOT_EQUAL: 'notEqual',
};
const COMPARE_TARGETS = {
  VERSION: 'version',
  CREATE: 'createRevision',
  MOD: 'modRevision',
  VALUE: 'value',
  LEASE: 'lease',
} as const;

/** A compare operand: any int64 a store value can equal or be ordered against, as a safe integer. */
function operand(m: WireRecord, field: string, name: string): number {
  return bounded(integer(m[name], join(field, name)), join(field, name), -Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
}

function readCompare(value: unknown, field: string): Compare {
  const m = record(value, field);
  const base = {
    key: key(m, field),
    rangeEnd: rangeEnd(m, field),
    result: enumValue(m['result'], join(field, 'result'), COMPARE_RESULTS),
  };
  // As etcd (applyCompare): the operand is the target_union member for the target; when another
  // member, or none, is set, the target's zero value.
  const target = enumValue(m['target'], join(field, 'target'), COMPARE_TARGETS);
  switch (target) {
    case 'value':
      return { ...base, target, value: bytes(m['value'], join(field, 'value'), MAX_REQUEST_BYTES) };
    case 'version':
      return { ...base, target, version: operand(m, field, 'version') };
    case 'createRevision':
      return { ...base, target, createRevision: operand(m, field, 'create_revision') };
    case 'modRevision':
      return { ...base, target, modRevision: operand(m, field, 'mod_revision') };
    case 'lease':
      return { ...base, target, lease: operand(m, field, 'lease') };
  }
}

function readOp(value: unknown, field: string, maxOps: number, depth: number): RequestOp {
  const m = record(value, field);
  const which = m['request'];
  switch (which) {
    case 'request_range':
      return { type: 'range', ...readRangeRequest(m[which], join(field, which)).request };
    case 'request_put':
      return readPutRequest(m[which], join(field, which));
    case 'request_delete_range':
      return readDeleteRangeRequest(m[which], join(field, which));
    case 'request_txn':
      return readTxn(m[which], join(field, which), maxOps, depth + 1);
    default:
      throw new InvalidRequestError(field, 'sets none of request_range, request_put, request_delete_range, request_txn');
  }
}

/** etcd's checkTxnRequest: the longest of the three lists counts against maxOps; a nested txn gets the rest. */
function readTxn(value: unknown, field: string, maxOps: number, depth: number): TxnCommand {
  if (depth > MAX_TXN_DEPTH) throw new InvalidRequestError(field, `txns nest more than ${MAX_TXN_DEPTH} deep`);
  const m = record(value, field);
  const compare = array(m['compare'], join(field, 'compare'));
  const success = array(m['success'], join(field, 'success'));
  const failure = array(m['failure'], join(field, 'failure'));
  const opCount = Math.max(compare.length, success.length, failure.length);
  if (opCount > maxOps) throw new EtcdRpcError(EtcdStatus.TooManyOps);
  const nestedMaxOps = maxOps - opCount;
  return {
    type: 'txn',
    compare: compare.map((c, i) => readCompare(c, `${join(field, 'compare')}[${i}]`)),
    success: success.map((op, i) => readOp(op, `${join(field, 'success')}[${i}]`, nestedMaxOps, depth)),
    failure: failure.map((op, i) => readOp(op, `${join(field, 'failure')}[${i}]`, nestedMaxOps, depth)),
  };
}

export function readTxnRequest(value: unknown): TxnCommand {
  const txn = readTxn(value, '', MAX_TXN_OPS, 0);
  try {
    checkBranchWrites(txn.success, 'success');
    checkBranchWrites(txn.failure, 'failure');
  } catch (error) {
    // checkBranchWrites throws nothing else: it is etcd's checkIntervals.
    if (error instanceof InvalidCommandError) throw new EtcdRpcError(EtcdStatus.DuplicateKey);
    throw error;
  }
  return txn;
}

/**
 * CompactionRequest. Without `physical` the answer comes once the compact revision is applied
 * (reads before it are refused from then on); the unreachable history is removed after it, a
 * bounded step with each applied entry (store/mvcc/compaction.ts). With it, as in etcd, the answer
 * waits until this member has removed that history.
 */
export function readCompactionRequest(value: unknown): { readonly revision: number; readonly physical: boolean } {
  const m = record(value, '');
  const revision = integer(m['revision'], 'revision');
  const physical = bool(m['physical'], 'physical');
  // etcd: compacting at or below the compact revision (0 included) is "compacted".
  if (revision <= 0n) throw new EtcdRpcError(EtcdStatus.Compacted);
  if (revision > MAX_SAFE) throw new EtcdRpcError(EtcdStatus.FutureRev);
  return { revision: Number(revision), physical };
}

export interface WireLeaseGrant {
  /** 0 = the leader chooses. */
  readonly id: number;
  /** The requested TTL; below the minimum (0 and negatives included) the leader raises it, as etcd does. */
  readonly ttl: number;
}

export function readLeaseGrantRequest(value: unknown): WireLeaseGrant {
  const m = record(value, '');
  const ttl = integer(m['TTL'], 'TTL');
  if (ttl > BigInt(MAX_LEASE_TTL_SECONDS)) throw new EtcdRpcError(EtcdStatus.LeaseTtlTooLarge);
  const id = integer(m['ID'], 'ID');
  if (id < 0n) throw new InvalidRequestError('ID', 'must not be negative');
  if (id > BigInt(MAX_LEASE_ID)) {
    throw new InvalidRequestError('ID', `must be at most ${MAX_LEASE_ID} (Flotilla lease ids are safe integers)`);
  }
  return { id: Number(id), ttl: ttl < 0n ? 0 : Number(ttl) };
}

export interface WireLeaseId {
  /**
   * The lease named, or undefined when the id can name no lease (0, negative, or past
   * MAX_LEASE_ID): etcd answers those as a lease not found.
   */
  readonly id: number | undefined;
  /** The id as sent, for responses that echo it (an int64 as a decimal string). */
  readonly echo: string;
}

/** The ID of a LeaseRevoke, LeaseKeepAlive or LeaseTimeToLive request. */
export function readLeaseId(value: unknown): WireLeaseId {
  const id = integer(record(value, '')['ID'], 'ID');
  return { id: id < 1n || id > BigInt(MAX_LEASE_ID) ? undefined : Number(id), echo: id.toString() };
}

export function readLeaseTimeToLiveRequest(value: unknown): WireLeaseId & { readonly keys: boolean } {
  return { ...readLeaseId(value), keys: bool(record(value, '')['keys'], 'keys') };
}

const URL_SHAPE = /^(https?|unixs?):\/\/[^/?#\s]+$/;

/** etcd's types.NewURLs: http, https, unix or unixs; host:port; no path, query or fragment. */
function checkPeerUrl(url: string): void {
  if (url.length > MAX_URL_LENGTH) throw new MemberBadUrlsError(url.slice(0, 64), `longer than ${MAX_URL_LENGTH} characters`);
  if (!URL_SHAPE.test(url)) throw new MemberBadUrlsError(url, 'must be scheme://host:port, scheme one of http, https, unix, unixs');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new MemberBadUrlsError(url, 'does not parse as a URL');
  }
  if ((parsed.protocol === 'http:' || parsed.protocol === 'https:') && parsed.port === '' && !/:\d+$/.test(url)) {
    throw new MemberBadUrlsError(url, 'has no port');
  }
}

export function readMemberAddRequest(value: unknown): { peerUrls: string[]; isLearner: boolean } {
  const m = record(value, '');
  const urls = array(m['peerURLs'], 'peerURLs');
  if (urls.length > MAX_PEER_URLS) throw new InvalidRequestError('peerURLs', `has ${urls.length} URLs, more than ${MAX_PEER_URLS}`);
  if (urls.length === 0) throw new MemberBadUrlsError('', 'no peer URL given');
  const peerUrls = urls.map((url, i) => {
    if (typeof url !== 'string') throw new InvalidRequestError(`peerURLs[${i}]`, 'must be a string');
    checkPeerUrl(url);
    return url;
  });
  return { peerUrls, isLearner: bool(m['isLearner'], 'isLearner') };
}

/** The member id of MemberRemove and MemberPromote. */
export function readMemberId(value: unknown): bigint {
  return uint64(record(value, '')['ID'], 'ID');
}

const ALARM_ACTIONS: Readonly<Record<string, 'GET' | 'ACTIVATE' | 'DEACTIVATE'>> = {
  GET: 'GET',
  ACTIVATE: 'ACTIVATE',
  DEACTIVATE: 'DEACTIVATE',
};

/** An AlarmRequest's action; memberID and alarm are checked for type only (only GET is served). */
export function readAlarmAction(value: unknown): 'GET' | 'ACTIVATE' | 'DEACTIVATE' {
  const m = record(value, '');
  uint64(m['memberID'], 'memberID');
  return enumValue(m['action'], 'action', ALARM_ACTIONS);
}

const WATCH_FILTERS: Readonly<Record<string, WatchFilter>> = { NOPUT: 'noPut', NODELETE: 'noDelete' };

export interface WireWatchCreate {
  readonly request: WatchRequest;
  /** 0 = the stream chooses (etcd's AutoWatchID). */
  readonly watchId: number;
}

export function readWatchCreateRequest(value: unknown, field = 'create_request'): WireWatchCreate {
  const m = record(value, field);
  // etcd (v3rpc/watch.go): an empty key watches from "\0", the smallest key.
  const watchKey = bytes(m['key'], join(field, 'key'), MAX_KEY_BYTES);
  const filters = new Set(
    array(m['filters'], join(field, 'filters')).map((f, i) => enumValue(f, `${join(field, 'filters')}[${i}]`, WATCH_FILTERS)),
  );
  const startRevision = integer(m['start_revision'], join(field, 'start_revision'));
  const watchId = integer(m['watch_id'], join(field, 'watch_id'));
  bool(m['fragment'], join(field, 'fragment'));
  return {
    request: {
      key: watchKey.length === 0 ? SMALLEST_KEY : watchKey,
      rangeEnd: rangeEnd(m, field),
      startRevision: bounded(startRevision, join(field, 'start_revision'), 0, Number.MAX_SAFE_INTEGER),
      prevKv: bool(m['prev_kv'], join(field, 'prev_kv')),
      filters: [...filters],
      progressNotify: bool(m['progress_notify'], join(field, 'progress_notify')),
    },
    watchId: bounded(watchId, join(field, 'watch_id'), 0, Number.MAX_SAFE_INTEGER),
  };
}

export type WireWatchRequest =
  | { readonly type: 'create'; readonly create: WireWatchCreate }
  | { readonly type: 'cancel'; readonly watchId: bigint }
  | { readonly type: 'progress' }
  /** No member of request_union set: etcd ignores such a request rather than end the stream. */
  | { readonly type: 'none' };

/** A WatchRequest's union; a malformed create request throws (the stream answers it, it does not end). */
export function readWatchRequest(value: unknown): WireWatchRequest {
  const m = record(value, '');
  switch (m['request_union']) {
    case 'create_request':
      return { type: 'create', create: readWatchCreateRequest(m['create_request']) };
    case 'cancel_request':
      return {
        type: 'cancel',
        watchId: integer(record(m['cancel_request'], 'cancel_request')['watch_id'], 'cancel_request.watch_id'),
      };
    case 'progress_request':
      return { type: 'progress' };
    default:
      return { type: 'none' };
  }
}
