// The commands a master applies from the Raft log, and their wire form. Request shapes follow
// etcd's v3 protobuf messages, with proto3's convention that an absent field is its zero value.
// A command is validated and normalized (every field present) before it is encoded, and validated
// again when decoded, so the bytes in the log are canonical and every master reads the same command.
// The log's binary form is in command-codec.ts; format 1 (msgpack) is still read here.

import { Packr } from 'msgpackr';
import { InvalidCommandError, RequestTooLargeError } from './errors.js';
import { FieldReader, type FieldRecord, commandFieldError, join } from './fields.js';
import { MAX_KEY_BYTES } from './keyspace.js';
import { checkBranchWrites } from './txn-intervals.js';
import { WIRE_BATCH_OVERHEAD_BYTES, WIRE_MAGIC, decodeWire, encodeWire, encodeWireBatch, isWireBatch } from './command-codec.js';
export * from './command-limits.js';
import {
  MAX_REQUEST_BYTES,
  MAX_BATCH_TXNS,
  MAX_BATCH_COMMAND_BYTES,
  MAX_TXN_OPS,
  MAX_TXN_DEPTH,
  MAX_LEASE_TTL_SECONDS,
  MAX_LEASE_ID,
  NO_LEASE,
  MAX_MEMBER_NAME_LENGTH,
  MAX_MEMBER_CLIENT_URLS,
  MAX_MEMBER_URL_LENGTH,
} from './command-limits.js';

export const SortOrder = { None: 'none', Ascend: 'ascend', Descend: 'descend' } as const;
export type SortOrder = (typeof SortOrder)[keyof typeof SortOrder];

export const SortTarget = { Key: 'key', Version: 'version', Create: 'create', Mod: 'mod', Value: 'value' } as const;
export type SortTarget = (typeof SortTarget)[keyof typeof SortTarget];

export const CompareResult = { Equal: 'equal', Greater: 'greater', Less: 'less', NotEqual: 'notEqual' } as const;
export type CompareResult = (typeof CompareResult)[keyof typeof CompareResult];

export const CompareTarget = {
  Value: 'value',
  Version: 'version',
  CreateRevision: 'createRevision',
  ModRevision: 'modRevision',
  Lease: 'lease',
} as const;
export type CompareTarget = (typeof CompareTarget)[keyof typeof CompareTarget];

/** etcd RangeRequest. rangeEnd: empty = the single key, "\0" = every key >= key, else [key, rangeEnd). */
export interface RangeRequest {
  readonly key: Uint8Array;
  readonly rangeEnd?: Uint8Array;
  /** 0 = the current revision. */
  readonly revision?: number;
  /** 0 = no limit. */
  readonly limit?: number;
  readonly countOnly?: boolean;
  readonly keysOnly?: boolean;
  readonly sortOrder?: SortOrder;
  readonly sortTarget?: SortTarget;
  /** Filters applied after the count (as etcd does); 0 = no filter. */
  readonly minModRevision?: number;
  readonly maxModRevision?: number;
  readonly minCreateRevision?: number;
  readonly maxCreateRevision?: number;
}

export interface PutRequest {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
  /** 0 = no lease; otherwise the lease must exist. */
  readonly lease?: number;
  readonly prevKv?: boolean;
  /** Keep the current value; the key must exist and value must be empty. */
  readonly ignoreValue?: boolean;
  /** Keep the current lease; the key must exist and lease must be 0. */
  readonly ignoreLease?: boolean;
}

export interface DeleteRangeRequest {
  readonly key: Uint8Array;
  readonly rangeEnd?: Uint8Array;
  readonly prevKv?: boolean;
}

interface CompareBase {
  readonly key: Uint8Array;
  readonly rangeEnd?: Uint8Array;
  readonly result: CompareResult;
}

/** etcd Compare: target and the operand of that target (its oneof target_union). */
export type Compare = CompareBase &
  (
    | { readonly target: 'value'; readonly value: Uint8Array }
    | { readonly target: 'version'; readonly version: number }
    | { readonly target: 'createRevision'; readonly createRevision: number }
    | { readonly target: 'modRevision'; readonly modRevision: number }
    | { readonly target: 'lease'; readonly lease: number }
  );

export interface TxnRequest {
  readonly compare: readonly Compare[];
  readonly success: readonly RequestOp[];
  readonly failure: readonly RequestOp[];
}

export interface RangeOp extends RangeRequest {
  readonly type: 'range';
}
export interface PutCommand extends PutRequest {
  readonly type: 'put';
}
export interface DeleteRangeCommand extends DeleteRangeRequest {
  readonly type: 'deleteRange';
}
export interface TxnCommand extends TxnRequest {
  readonly type: 'txn';
}
/** Removes history before revision, keeping each key's latest version at or before it. */
export interface CompactCommand {
  readonly type: 'compact';
  readonly revision: number;
}
/**
 * Independent txns in one log entry (the proposer coalesced concurrent writes). Applied in order,
 * each exactly as if it had been proposed alone: its own compares, its own revision when it writes,
 * its own outcome — a txn rejected at apply (an unknown lease...) rolls back alone.
 */
export interface BatchCommand {
  readonly type: 'batch';
  readonly txns: readonly TxnRequest[];
}
/** The id is chosen by the proposer (the leader), so every master grants the same lease. */
export interface LeaseGrantCommand {
  readonly type: 'leaseGrant';
  readonly id: number;
  readonly ttl: number;
}
/** Proposed by a client, or by the leader when its clock says the lease expired. */
export interface LeaseRevokeCommand {
  readonly type: 'leaseRevoke';
  readonly id: number;
}

/**
 * A member, once started, publishes the name and client URLs it serves (etcd's "publish" raft
 * request), so every master lists them. It takes no revision; for a member not in the registry
 * (removed meanwhile) it changes nothing.
 */
export interface MemberPublishCommand {
  readonly type: 'memberPublish';
  readonly id: number;
  readonly name: string;
  readonly clientUrls: readonly string[];
}

/** An operation inside a txn branch (etcd RequestOp). */
export type RequestOp = RangeOp | PutCommand | DeleteRangeCommand | TxnCommand;

/** A committed log entry's payload. */
export type Command =
  | PutCommand
  | DeleteRangeCommand
  | TxnCommand
  | BatchCommand
  | CompactCommand
  | LeaseGrantCommand
  | LeaseRevokeCommand
  | MemberPublishCommand;

export type CommandType = Command['type'];

// Builders with etcd's defaults, for callers that do not spell out every field.

export function putCommand(
  key: Uint8Array,
  value: Uint8Array,
  options: Omit<PutRequest, 'key' | 'value'> = {},
): PutCommand {
  return { type: 'put', key, value, ...options };
}

export function deleteRangeCommand(key: Uint8Array, options: Omit<DeleteRangeRequest, 'key'> = {}): DeleteRangeCommand {
  return { type: 'deleteRange', key, ...options };
}

export function rangeOp(key: Uint8Array, options: Omit<RangeRequest, 'key'> = {}): RangeOp {
  return { type: 'range', key, ...options };
}

/** A range request with etcd's zero values filled in (no validation). */
export function withRangeDefaults(request: RangeRequest): Required<RangeRequest> {
  return {
    key: request.key,
    rangeEnd: request.rangeEnd ?? new Uint8Array(0),
    revision: request.revision ?? 0,
    limit: request.limit ?? 0,
    countOnly: request.countOnly ?? false,
    keysOnly: request.keysOnly ?? false,
    sortOrder: request.sortOrder ?? SortOrder.None,
    sortTarget: request.sortTarget ?? SortTarget.Key,
    minModRevision: request.minModRevision ?? 0,
    maxModRevision: request.maxModRevision ?? 0,
    minCreateRevision: request.minCreateRevision ?? 0,
    maxCreateRevision: request.maxCreateRevision ?? 0,
  };
}

export function txnCommand(
  compare: readonly Compare[],
  success: readonly RequestOp[],
  failure: readonly RequestOp[] = [],
): TxnCommand {
  return { type: 'txn', compare, success, failure };
}

// Validation. Each validator returns a normalized copy with every field present, in a fixed order,
// so that encoding is canonical.

const fields = new FieldReader(commandFieldError);
const SORT_ORDERS = Object.values(SortOrder);
const SORT_TARGETS = Object.values(SortTarget);
const COMPARE_RESULTS = Object.values(CompareResult);
const COMPARE_TARGETS = Object.values(CompareTarget);
const COMMAND_TYPES: readonly CommandType[] = ['put', 'deleteRange', 'txn', 'batch', 'compact', 'leaseGrant', 'leaseRevoke', 'memberPublish'];
const OP_TYPES: readonly RequestOp['type'][] = ['range', 'put', 'deleteRange', 'txn'];
const MAX_REVISION = Number.MAX_SAFE_INTEGER;

const RANGE_FIELDS = [
  'key', 'rangeEnd', 'revision', 'limit', 'countOnly', 'keysOnly', 'sortOrder', 'sortTarget',
  'minModRevision', 'maxModRevision', 'minCreateRevision', 'maxCreateRevision',
] as const;
const PUT_FIELDS = ['type', 'key', 'value', 'lease', 'prevKv', 'ignoreValue', 'ignoreLease'] as const;
const DELETE_FIELDS = ['type', 'key', 'rangeEnd', 'prevKv'] as const;
const TXN_FIELDS = ['type', 'compare', 'success', 'failure'] as const;
const RANGE_OP_FIELDS = ['type', ...RANGE_FIELDS] as const;
function key(m: FieldRecord, field: string): Uint8Array {
  return fields.bytes(m['key'], join(field, 'key'), { maxBytes: MAX_KEY_BYTES, nonEmpty: true });
}

function rangeEnd(m: FieldRecord, field: string): Uint8Array {
  return fields.optionalBytes(m['rangeEnd'], join(field, 'rangeEnd'), MAX_KEY_BYTES);
}

function revisionField(m: FieldRecord, field: string, name: string): number {
  return fields.optionalInteger(m[name], join(field, name), 0, MAX_REVISION);
}

function rangeFields(m: FieldRecord, field: string): Required<RangeRequest> {
  return {
    key: key(m, field),
    rangeEnd: rangeEnd(m, field),
    revision: revisionField(m, field, 'revision'),
    limit: fields.optionalInteger(m['limit'], join(field, 'limit'), 0, Number.MAX_SAFE_INTEGER),
    countOnly: fields.optionalBoolean(m['countOnly'], join(field, 'countOnly')),
    keysOnly: fields.optionalBoolean(m['keysOnly'], join(field, 'keysOnly')),
    sortOrder: fields.optionalOneOf(m['sortOrder'], join(field, 'sortOrder'), SORT_ORDERS, SortOrder.None),
    sortTarget: fields.optionalOneOf(m['sortTarget'], join(field, 'sortTarget'), SORT_TARGETS, SortTarget.Key),
    minModRevision: revisionField(m, field, 'minModRevision'),
    maxModRevision: revisionField(m, field, 'maxModRevision'),
    minCreateRevision: revisionField(m, field, 'minCreateRevision'),
    maxCreateRevision: revisionField(m, field, 'maxCreateRevision'),
  };
}

/** Validates a range request (a read served outside the log, or a range op inside a txn). */
export function validateRangeRequest(input: unknown, field = ''): Required<RangeRequest> {
  return rangeFields(fields.record(input, field, RANGE_FIELDS), field);
}

function validatePut(m: FieldRecord, field: string): PutCommand {
  const value = fields.optionalBytes(m['value'], join(field, 'value'), MAX_REQUEST_BYTES);
  const lease = fields.optionalInteger(m['lease'], join(field, 'lease'), 0, MAX_LEASE_ID);
  const ignoreValue = fields.optionalBoolean(m['ignoreValue'], join(field, 'ignoreValue'));
  const ignoreLease = fields.optionalBoolean(m['ignoreLease'], join(field, 'ignoreLease'));
  // etcd: ErrGRPCValueProvided / ErrGRPCLeaseProvided.
  if (ignoreValue && value.length > 0) {
    throw commandFieldError(join(field, 'value'), 'must be empty when ignoreValue is set');
  }
  if (ignoreLease && lease !== NO_LEASE) {
    throw commandFieldError(join(field, 'lease'), 'must be 0 when ignoreLease is set');
  }
  return {
    type: 'put',
    key: key(m, field),
    value,
    lease,
    prevKv: fields.optionalBoolean(m['prevKv'], join(field, 'prevKv')),
    ignoreValue,
    ignoreLease,
  };
}

function validateDeleteRange(m: FieldRecord, field: string): DeleteRangeCommand {
  return {
    type: 'deleteRange',
    key: key(m, field),
    rangeEnd: rangeEnd(m, field),
    prevKv: fields.optionalBoolean(m['prevKv'], join(field, 'prevKv')),
  };
}

/** The fields a compare of each target may have: its operand and no other target's. */
const compareFields = (target: CompareTarget): readonly string[] => ['key', 'rangeEnd', 'result', 'target', target];
const COMPARE_FIELDS: Record<CompareTarget, readonly string[]> = {
  value: compareFields('value'),
  version: compareFields('version'),
  createRevision: compareFields('createRevision'),
  modRevision: compareFields('modRevision'),
  lease: compareFields('lease'),
};

function validateCompare(input: unknown, field: string): Compare {
  const head = fields.map(input, field);
  const target = fields.oneOf(head['target'], join(field, 'target'), COMPARE_TARGETS);
  const m = fields.record(input, field, COMPARE_FIELDS[target]);
  const compareKey = key(m, field);
  const end = rangeEnd(m, field);
  const result = fields.oneOf(m['result'], join(field, 'result'), COMPARE_RESULTS);
  const operand = (name: string): number =>
    fields.optionalInteger(m[name], join(field, name), -Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
  // Written out per target (not spread from a base) so that every compare has one shape.
  switch (target) {
    case 'value':
      return { key: compareKey, rangeEnd: end, result, target, value: fields.optionalBytes(m['value'], join(field, 'value'), MAX_REQUEST_BYTES) };
    case 'version':
      return { key: compareKey, rangeEnd: end, result, target, version: operand('version') };
    case 'createRevision':
      return { key: compareKey, rangeEnd: end, result, target, createRevision: operand('createRevision') };
    case 'modRevision':
      return { key: compareKey, rangeEnd: end, result, target, modRevision: operand('modRevision') };
    case 'lease':
      return { key: compareKey, rangeEnd: end, result, target, lease: operand('lease') };
  }
}

function validateOp(input: unknown, field: string, depth: number, maxOps: number): RequestOp {
  // The type's own field list is checked next; an unknown field is refused there.
  const head = fields.map(input, field);
  const type = fields.oneOf(head['type'], join(field, 'type'), OP_TYPES);
  switch (type) {
    case 'range':
      return { type, ...rangeFields(fields.record(input, field, RANGE_OP_FIELDS), field) };
    case 'put':
      return validatePut(fields.record(input, field, PUT_FIELDS), field);
    case 'deleteRange':
      return validateDeleteRange(fields.record(input, field, DELETE_FIELDS), field);
    case 'txn':
      return validateTxn(fields.record(input, field, TXN_FIELDS), field, depth + 1, maxOps);
  }
}

/** etcd's checkTxnRequest: no list longer than maxOps; a nested txn gets what its parent left over. */
function validateTxn(m: FieldRecord, field: string, depth: number, maxOps: number): TxnCommand {
  if (depth > MAX_TXN_DEPTH) throw commandFieldError(field, `txns nest more than ${MAX_TXN_DEPTH} deep`);
  const compare = fields.array(m['compare'] ?? [], join(field, 'compare'), maxOps);
  const success = fields.array(m['success'] ?? [], join(field, 'success'), maxOps);
  const failure = fields.array(m['failure'] ?? [], join(field, 'failure'), maxOps);
  const nestedMaxOps = maxOps - Math.max(compare.length, success.length, failure.length);
  return {
    type: 'txn',
    compare: compare.map((c, i) => validateCompare(c, `${join(field, 'compare')}[${i}]`)),
    success: success.map((op, i) => validateOp(op, `${join(field, 'success')}[${i}]`, depth, nestedMaxOps)),
    failure: failure.map((op, i) => validateOp(op, `${join(field, 'failure')}[${i}]`, depth, nestedMaxOps)),
  };
}

/** A txn that is a command of its own (or one of a batch's): every limit of one txn applies. */
function validateTopTxn(input: unknown, field: string): TxnCommand {
  const txn = validateTxn(fields.record(input, field, TXN_FIELDS), field, 0, MAX_TXN_OPS);
  checkBranchWrites(txn.success, join(field, 'success'));
  checkBranchWrites(txn.failure, join(field, 'failure'));
  return txn;
}

/**
 * Validates an untrusted value as a command and returns its normalized form. Throws
 * InvalidCommandError naming the first bad field.
 */
export function validateCommand(input: unknown): Command {
  const head = fields.map(input, '');
  const type = fields.oneOf(head['type'], 'type', COMMAND_TYPES);
  switch (type) {
    case 'put':
      return validatePut(fields.record(input, '', PUT_FIELDS), '');
    case 'deleteRange':
      return validateDeleteRange(fields.record(input, '', DELETE_FIELDS), '');
    case 'txn':
      return validateTopTxn(input, '');
    case 'batch': {
      const m = fields.record(input, '', ['type', 'txns']);
      const txns = fields.array(m['txns'], 'txns', MAX_BATCH_TXNS);
      if (txns.length === 0) throw commandFieldError('txns', 'a batch holds at least one txn');
      return { type, txns: txns.map((txn, i) => validateTopTxn(txn, `txns[${i}]`)) };
    }
    case 'compact': {
      const m = fields.record(input, '', ['type', 'revision']);
      return { type, revision: fields.integer(m['revision'], 'revision', 1, MAX_REVISION) };
    }
    case 'leaseGrant': {
      const m = fields.record(input, '', ['type', 'id', 'ttl']);
      return {
        type,
        id: fields.integer(m['id'], 'id', 1, MAX_LEASE_ID),
        ttl: fields.integer(m['ttl'], 'ttl', 1, MAX_LEASE_TTL_SECONDS),
      };
    }
    case 'leaseRevoke': {
      const m = fields.record(input, '', ['type', 'id']);
      return { type, id: fields.integer(m['id'], 'id', 1, MAX_LEASE_ID) };
    }
    case 'memberPublish': {
      const m = fields.record(input, '', ['type', 'id', 'name', 'clientUrls']);
      const name = m['name'];
      if (typeof name !== 'string' || name.length === 0 || name.length > MAX_MEMBER_NAME_LENGTH) {
        throw commandFieldError('name', `must be a string of 1 to ${MAX_MEMBER_NAME_LENGTH} characters`);
      }
      const clientUrls = fields.array(m['clientUrls'], 'clientUrls', MAX_MEMBER_CLIENT_URLS).map((u, i) => {
        if (typeof u !== 'string' || u.length > MAX_MEMBER_URL_LENGTH) {
          throw commandFieldError(`clientUrls[${i}]`, `must be a string of at most ${MAX_MEMBER_URL_LENGTH} characters`);
        }
        return u;
      });
      return { type, id: fields.integer(m['id'], 'id', 1, 0xffff_ffff), name, clientUrls };
    }
  }
}

// Format 1, msgpack without records or extensions (plain maps, arrays, binaries and numbers), is
// what masters before wire format 2 wrote. It is still read, so a log written then replays.
const commandPackr = new Packr({ useRecords: false, moreTypes: false });

/** The bound on a command's encoded bytes: a batch may be larger than one request. */
export function maxCommandBytes(type: CommandType): number {
  return type === 'batch' ? MAX_BATCH_COMMAND_BYTES : MAX_REQUEST_BYTES;
}

/** Validates, normalizes and encodes a command for proposal, in wire format 2 (command-codec.ts). */
export function encodeCommand(command: Command): Uint8Array {
  const normalized = validateCommand(command);
  const bytes = encodeWire(normalized);
  const limit = maxCommandBytes(normalized.type);
  if (bytes.length > limit) throw new RequestTooLargeError(bytes.length, limit);
  return bytes;
}

/**
 * The canonical bytes of a batch of txns, each already encoded by encodeCommand as a txn command
 * (so already validated and within one request's bound); nothing is validated or encoded again.
 * Throws RangeError when the count is not 1..MAX_BATCH_TXNS or a piece is not a txn command,
 * RequestTooLargeError past MAX_BATCH_COMMAND_BYTES.
 */
export function encodeBatch(encodedTxns: readonly Uint8Array[]): Uint8Array {
  if (encodedTxns.length < 1 || encodedTxns.length > MAX_BATCH_TXNS) {
    throw new RangeError(`a batch holds 1..${MAX_BATCH_TXNS} txns, not ${encodedTxns.length}`);
  }
  const bytes = encodeWireBatch(encodedTxns);
  if (bytes.length > MAX_BATCH_COMMAND_BYTES) throw new RequestTooLargeError(bytes.length, MAX_BATCH_COMMAND_BYTES);
  return bytes;
}

/** Bytes a batch adds around its txns' own encodings, at most. */
export const BATCH_OVERHEAD_BYTES = WIRE_BATCH_OVERHEAD_BYTES;

// A format-1 batch starts as commandPackr writes `{ type: 'batch', txns: [...] }`: a map16 of two
// entries (msgpackr writes every plain object as a map16). Only its larger size bound needs it.
const LEGACY_BATCH_HEAD = Uint8Array.from([0xde, 0x00, 0x02, 0xa4, ...Buffer.from('type'), 0xa5, ...Buffer.from('batch')]);

function startsWith(bytes: Uint8Array, prefix: Uint8Array): boolean {
  if (bytes.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[i] !== prefix[i]) return false;
  return true;
}

/**
 * Decodes and validates a command read from the log, in either wire format. Throws
 * RequestTooLargeError or InvalidCommandError (naming the field) on bad input; never anything else.
 */
export function decodeCommand(bytes: Uint8Array): Command {
  const batch = bytes[0] === WIRE_MAGIC ? isWireBatch(bytes) : startsWith(bytes, LEGACY_BATCH_HEAD);
  const limit = batch ? MAX_BATCH_COMMAND_BYTES : MAX_REQUEST_BYTES;
  if (bytes.length > limit) throw new RequestTooLargeError(bytes.length, limit);
  if (bytes[0] === WIRE_MAGIC) return decodeWire(bytes);
  let decoded: unknown;
  try {
    decoded = commandPackr.unpack(bytes);
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new InvalidCommandError('(bytes)', `not a msgpack value: ${reason}`, { cause });
  }
  const command = validateCommand(decoded);
  const commandLimit = maxCommandBytes(command.type);
  if (bytes.length > commandLimit) throw new RequestTooLargeError(bytes.length, commandLimit);
  return command;
}
