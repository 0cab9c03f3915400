// One command's writes, inside the LMDB write transaction that applies it. A deterministic failure
// (unknown lease, ignoreValue on a missing key, a txn range at a compacted revision...) throws an
// MvccError, which aborts the LMDB transaction: a command takes effect entirely or not at all.
//
// Revisions (etcd): every change made by one command shares main revision beginRevision + 1, with
// sub-revisions 0, 1, 2... in the order the changes happen. A command that changes nothing (a delete
// of nothing, a read-only txn, a lease grant) leaves the revision where it was.

import type { Compare, DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, TxnRequest } from './commands.js';
import { KeyNotFoundError, LeaseExistsError, LeaseNotFoundError } from './errors.js';
import {
  compareBytes,
  concatBytes,
  indexKey,
  keyId,
  keyRange,
  leaseIdKey,
  revisionKey,
} from './keyspace.js';
import { MvccReader, tombstoneKeyValue } from './reader.js';
import type {
  DeleteRangeResponse,
  KeyValue,
  PutResponse,
  RangeResponse,
  ResponseOp,
  TxnResponse,
  WatchEvent,
} from './responses.js';
import {
  EMPTY_BYTES,
  INDEX_PUT,
  INDEX_TOMBSTONE,
  type MvccTables,
  encodeLease,
  encodeRecord,
} from './tables.js';

const LEASE_ID_BYTES = 8;

type ComparedFields = Pick<KeyValue, 'createRevision' | 'modRevision' | 'version' | 'lease' | 'value'>;

/** The zero key-value etcd compares against when a compare's key does not exist. */
const ABSENT: ComparedFields = {
  createRevision: 0,
  modRevision: 0,
  version: 0,
  lease: 0,
  value: EMPTY_BYTES,
};

export class WriteTxn {
  /** The changes made so far, in (main, sub) order: what watchers will see. */
  readonly events: WatchEvent[] = [];
  private nextSub = 0;
  /**
   * The live key-values this txn has read or written, by key: an update's compare and its put read
   * the key's record once. Bounded by the txn's keys (MAX_TXN_OPS per list); gone with the txn.
   */
  private readonly live = new Map<string, KeyValue | undefined>();

  constructor(
    private readonly tables: MvccTables,
    private readonly reader: MvccReader,
    private readonly beginRevision: number,
    private readonly compactRevision: number,
  ) {}

  /** The store's revision as seen inside the transaction: it moves on with the first change. */
  get revision(): number {
    return this.events.length > 0 ? this.beginRevision + 1 : this.beginRevision;
  }

  /** The key's live version as this txn sees it (its own writes included). */
  private latest(key: Uint8Array): KeyValue | undefined {
    const id = keyId(key);
    if (this.live.has(id)) return this.live.get(id);
    const kv = this.reader.latest(key);
    this.live.set(id, kv);
    return kv;
  }

  private leaseExists(id: number): boolean {
    return this.tables.leases.get(leaseIdKey(id)) !== undefined;
  }

  private leaseKey(lease: number, key: Uint8Array): Uint8Array {
    return concatBytes(leaseIdKey(lease), key);
  }

  put(request: PutRequest): PutResponse {
    const { key } = request;
    const prev = this.latest(key);
    const ignoreValue = request.ignoreValue ?? false;
    const ignoreLease = request.ignoreLease ?? false;
    if ((ignoreValue || ignoreLease) && prev === undefined) throw new KeyNotFoundError(key);
    const value = ignoreValue && prev !== undefined ? prev.value : request.value;
    const lease = ignoreLease && prev !== undefined ? prev.lease : (request.lease ?? 0);
    if (lease !== 0 && !this.leaseExists(lease)) throw new LeaseNotFoundError(lease);

    const main = this.beginRevision + 1;
    const sub = this.nextSub++;
    const revKey = revisionKey(main, sub);
    const createRevision = prev === undefined ? main : prev.createRevision;
    const version = prev === undefined ? 1 : prev.version + 1;
    this.tables.revisions.putSync(revKey, encodeRecord({ tombstone: false, key, value, createRevision, version, lease }));
    this.tables.keyIndex.putSync(indexKey(key, main, sub), INDEX_PUT);
    this.tables.current.putSync(key, revKey);
    if (prev !== undefined && prev.lease !== 0) this.tables.leaseKeys.removeSync(this.leaseKey(prev.lease, key));
    if (lease !== 0) this.tables.leaseKeys.putSync(this.leaseKey(lease, key), EMPTY_BYTES);

    const kv: KeyValue = { key, createRevision, modRevision: main, version, value, lease };
    this.live.set(keyId(key), kv);
    this.events.push(prev === undefined ? { type: 'put', kv } : { type: 'put', kv, prevKv: prev });
    return request.prevKv === true && prev !== undefined
      ? { type: 'put', revision: main, prevKv: prev }
      : { type: 'put', revision: main };
  }

  /** Deletes one live key-value, leaving a tombstone in the history. */
  private deleteKey(prev: KeyValue): void {
    const { key } = prev;
    const main = this.beginRevision + 1;
    const sub = this.nextSub++;
    this.tables.revisions.putSync(revisionKey(main, sub), encodeRecord({ tombstone: true, key }));
    this.tables.keyIndex.putSync(indexKey(key, main, sub), INDEX_TOMBSTONE);
    this.tables.current.removeSync(key);
    if (prev.lease !== 0) this.tables.leaseKeys.removeSync(this.leaseKey(prev.lease, key));
    this.live.set(keyId(key), undefined);
    this.events.push({ type: 'delete', kv: tombstoneKeyValue(key, main), prevKv: prev });
  }

  deleteRange(request: DeleteRangeRequest): DeleteRangeResponse {
    // Collected before the first delete: the cursor must not walk a table being changed.
    const victims = this.reader.liveKeyValues(keyRange(request.key, request.rangeEnd));
    for (const kv of victims) this.deleteKey(kv);
    return {
      type: 'deleteRange',
      revision: this.revision,
      deleted: victims.length,
      prevKvs: request.prevKv === true ? victims : [],
    };
  }

  /** A range inside a txn sees the txn's earlier writes, at the txn's revision. */
  range(request: RangeRequest): RangeResponse {
    return this.reader.range(request, { currentRevision: this.revision, compactRevision: this.compactRevision });
  }

  /**
   * etcd's Txn. As in etcd (compareToPath), the compares of the txn and of every nested txn on the
   * chosen path are evaluated first, against the state before any of its writes.
   */
  txn(request: TxnRequest): TxnResponse {
    const path: boolean[] = [];
    this.choosePath(request, path);
    return this.runTxn(request, path, { next: 0 });
  }

  private choosePath(request: TxnRequest, path: boolean[]): void {
    const succeeded = request.compare.every((compare) => this.compareHolds(compare));
    path.push(succeeded);
    for (const op of succeeded ? request.success : request.failure) {
      if (op.type === 'txn') this.choosePath(op, path);
    }
  }

  private runTxn(request: TxnRequest, path: readonly boolean[], cursor: { next: number }): TxnResponse {
    const succeeded = path[cursor.next++] === true;
    const responses = (succeeded ? request.success : request.failure).map((op) => this.runOp(op, path, cursor));
    return { type: 'txn', revision: this.revision, succeeded, responses };
  }

  private runOp(op: RequestOp, path: readonly boolean[], cursor: { next: number }): ResponseOp {
    switch (op.type) {
      case 'range':
        return this.range(op);
      case 'put':
        return this.put(op);
      case 'deleteRange':
        return this.deleteRange(op);
      case 'txn':
        return this.runTxn(op, path, cursor);
    }
  }

  /**
   * etcd's applyCompare: true when every key in the range satisfies the compare. With no key, a
   * value compare fails and the others compare against zero (createRevision 0 = "does not exist").
   */
  private compareHolds(compare: Compare): boolean {
    const range = keyRange(compare.key, compare.rangeEnd);
    let kvs: readonly KeyValue[];
    if (range.kind === 'single') {
      const kv = this.latest(compare.key);
      kvs = kv === undefined ? [] : [kv];
    } else {
      kvs = this.reader.liveKeyValues(range);
    }
    if (kvs.length === 0) return compare.target !== 'value' && compareKeyValue(compare, ABSENT);
    return kvs.every((kv) => compareKeyValue(compare, kv));
  }

  grantLease(id: number, ttl: number): void {
    if (this.leaseExists(id)) throw new LeaseExistsError(id);
    this.tables.leases.putSync(leaseIdKey(id), encodeLease(ttl));
  }

  /** Deletes the lease and, at one revision, every key attached to it, in key order (as etcd's lessor). */
  revokeLease(id: number): void {
    const idKey = leaseIdKey(id);
    if (!this.leaseExists(id)) throw new LeaseNotFoundError(id);
    const attached: Uint8Array[] = [];
    for (const leaseKey of this.tables.leaseKeys.getKeys({ start: idKey, end: leaseIdKey(id + 1) })) {
      attached.push(leaseKey.subarray(LEASE_ID_BYTES));
    }
    for (const key of attached) {
      const kv = this.latest(key);
      if (kv !== undefined) this.deleteKey(kv);
    }
    this.tables.leases.removeSync(idKey);
  }
}

function compareKeyValue(compare: Compare, kv: ComparedFields): boolean {
  let order: number;
  switch (compare.target) {
    case 'value':
      order = compareBytes(kv.value, compare.value);
      break;
    case 'version':
      order = kv.version - compare.version;
      break;
    case 'createRevision':
      order = kv.createRevision - compare.createRevision;
      break;
    case 'modRevision':
      order = kv.modRevision - compare.modRevision;
      break;
    case 'lease':
      order = kv.lease - compare.lease;
      break;
  }
  switch (compare.result) {
    case 'equal':
      return order === 0;
    case 'greater':
      return order > 0;
    case 'less':
      return order < 0;
    case 'notEqual':
      return order !== 0;
  }
}
