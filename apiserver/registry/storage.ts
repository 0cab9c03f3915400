// API objects in the replicated store: one key per object, and the few compare-and-swap shapes the
// registry needs, each one store transaction (so one Raft entry). The key's mod revision is the
// object's resourceVersion; stored bytes never contain it (it is known only once the write commits).
//
// Key layout (as Kubernetes lays out etcd):
//   /registry/<plural>/<namespace>/<name>   namespaced kinds
//   /registry/<plural>/<name>               cluster-scoped kinds
//
// Errors from the store become ApiErrors here, so callers above see Kubernetes reasons only.

import { ProposalDroppedError } from '../../raft/core/errors.js';
import type { Backend } from '../../store/backend.js';
import { BackendStoppedError, NoLeaderError, NotLeaderError, RequestTimeoutError, TooManyRequestsError } from '../../store/backend.js';
import type { Compare, RequestOp } from '../../store/mvcc/commands.js';
import { MAX_REQUEST_BYTES } from '../../store/mvcc/commands.js';
import { CompactedError, FutureRevisionError, InvalidCommandError, RequestTooLargeError } from '../../store/mvcc/errors.js';
import type { KeyValue, RangeResponse, TxnResponse } from '../../store/mvcc/responses.js';
import { ApiError, StatusReason } from './errors.js';

export const REGISTRY_PREFIX = '/registry/';

/** Room a transaction needs beside the object's bytes (keys, compares, framing). */
export const TXN_OVERHEAD_BYTES = 4 * 1024;

/** The largest stored object: what fits one store request (etcd's 1.5 MiB) with its transaction. */
export const MAX_OBJECT_BYTES = MAX_REQUEST_BYTES - TXN_OVERHEAD_BYTES;

function checkSize(key: string, raw: Uint8Array): void {
  if (raw.length > MAX_OBJECT_BYTES) {
    throw new ApiError(StatusReason.RequestEntityTooLarge, `${key}: the object is ${raw.length} bytes encoded; the store takes at most ${MAX_OBJECT_BYTES}`);
  }
}

/** Keys read per store range while listing; bounds one response's memory, not the list's. */
export const LIST_PAGE_KEYS = 1_000;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function utf8(s: string): Uint8Array {
  return encoder.encode(s);
}
export function fromUtf8(b: Uint8Array): string {
  return decoder.decode(b);
}

/** Every object of a kind (namespace undefined), or of one namespace, lives under this prefix. */
export function kindPrefix(plural: string, namespace?: string): string {
  return namespace === undefined || namespace === '' ? `${REGISTRY_PREFIX}${plural}/` : `${REGISTRY_PREFIX}${plural}/${namespace}/`;
}

export function objectKey(plural: string, namespace: string | undefined, name: string): string {
  return `${kindPrefix(plural, namespace)}${name}`;
}

/** The end of a prefix's interval: the prefix with its last byte incremented (etcd's GetPrefixRangeEnd). */
export function prefixEnd(prefix: Uint8Array): Uint8Array {
  const end = Uint8Array.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i] = end[i]! + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Uint8Array.of(0);
}

export interface StoredValue {
  readonly raw: Uint8Array;
  readonly modRevision: number;
  readonly createRevision: number;
}

export interface ListPage {
  readonly items: readonly (StoredValue & { readonly key: string })[];
  /** The revision the page was read at; every page of one list reads at the first page's revision. */
  readonly revision: number;
  readonly more: boolean;
}

/** Outcome of a compare-and-swap: the new revision, or why the compare failed. */
export type SwapOutcome =
  | { readonly ok: true; readonly revision: number }
  | { readonly ok: false; readonly current: StoredValue | undefined };

/**
 * What ObjectStorage needs of the store. Writes go through proposeTxn (the Backend's txn batcher,
 * one log entry for many concurrent writes).
 */
export type StorageBackend = Pick<Backend, 'range' | 'proposeTxn'>;

export class ObjectStorage {
  constructor(private readonly backend: StorageBackend) {}

  /** A linearizable read unless told otherwise. */
  async get(key: string, serializable = false): Promise<StoredValue | undefined> {
    const r = await this.read(() => this.backend.range({ key: utf8(key) }, serializable ? 'serializable' : 'linearizable'));
    const kv = r.kvs[0];
    return kv === undefined ? undefined : stored(kv);
  }

  /**
   * One page of a prefix, keys ascending, starting after `afterKey` (exclusive), at `revision`
   * (0 = now, linearizable). Throws Expired when that revision has been compacted.
   */
  async listPage(prefix: string, options: { afterKey?: string; revision?: number; limit?: number }): Promise<ListPage> {
    const p = utf8(prefix);
    const start = options.afterKey === undefined ? p : utf8(`${options.afterKey}\0`);
    const limit = Math.min(options.limit ?? LIST_PAGE_KEYS, LIST_PAGE_KEYS);
    const r = await this.read(() =>
      this.backend.range({ key: start, rangeEnd: prefixEnd(p), revision: options.revision ?? 0, limit }, 'linearizable', { skipCount: true }),
    );
    return {
      items: r.kvs.map((kv) => ({ key: fromUtf8(kv.key), ...stored(kv) })),
      revision: r.revision,
      more: r.more,
    };
  }

  /**
   * Creates key unless it exists. `requires` names keys that must exist for the create to happen
   * (the namespace of a namespaced object), checked in the same transaction so a racing namespace
   * delete cannot leave an orphan.
   */
  async create(key: string, raw: Uint8Array, requires: readonly string[] = []): Promise<SwapOutcome & { missing?: string }> {
    checkSize(key, raw);
    const k = utf8(key);
    const compare: Compare[] = [
      { key: k, target: 'createRevision', result: 'equal', createRevision: 0 },
      ...requires.map((r): Compare => ({ key: utf8(r), target: 'createRevision', result: 'greater', createRevision: 0 })),
    ];
    const failure: RequestOp[] = [{ type: 'range', key: k }, ...requires.map((r): RequestOp => ({ type: 'range', key: utf8(r), countOnly: true }))];
    const r = await this.txn(compare, [{ type: 'put', key: k, value: raw }], failure);
    if (r.succeeded) return { ok: true, revision: r.revision };
    const current = firstKv(r.responses[0]);
    if (current !== undefined) return { ok: false, current };
    const missingIndex = r.responses.slice(1).findIndex((op) => op.type === 'range' && op.count === 0);
    return { ok: false, current: undefined, ...(missingIndex >= 0 ? { missing: requires[missingIndex]! } : {}) };
  }

  /** Replaces key if its mod revision is still `modRevision`. */
  async compareAndPut(key: string, raw: Uint8Array, modRevision: number): Promise<SwapOutcome> {
    checkSize(key, raw);
    const k = utf8(key);
    const r = await this.txn([{ key: k, target: 'modRevision', result: 'equal', modRevision }], [{ type: 'put', key: k, value: raw }], [{ type: 'range', key: k }]);
    return r.succeeded ? { ok: true, revision: r.revision } : { ok: false, current: firstKv(r.responses[0]) };
  }

  /** Deletes key if its mod revision is still `modRevision`. */
  async compareAndDelete(key: string, modRevision: number): Promise<SwapOutcome> {
    const k = utf8(key);
    const r = await this.txn([{ key: k, target: 'modRevision', result: 'equal', modRevision }], [{ type: 'deleteRange', key: k }], [{ type: 'range', key: k }]);
    return r.succeeded ? { ok: true, revision: r.revision } : { ok: false, current: firstKv(r.responses[0]) };
  }

  private async txn(compare: Compare[], success: RequestOp[], failure: RequestOp[]): Promise<TxnResponse> {
    try {
      const txn = { compare, success, failure };
      return await this.backend.proposeTxn(txn);
    } catch (err) {
      throw storeError(err);
    }
  }

  private async read(range: () => Promise<RangeResponse>): Promise<RangeResponse> {
    try {
      return await range();
    } catch (err) {
      throw storeError(err);
    }
  }
}

function stored(kv: KeyValue): StoredValue {
  return { raw: kv.value, modRevision: kv.modRevision, createRevision: kv.createRevision };
}

function firstKv(op: TxnResponse['responses'][number] | undefined): StoredValue | undefined {
  if (op === undefined || op.type !== 'range') return undefined;
  const kv = op.kvs[0];
  return kv === undefined ? undefined : stored(kv);
}

/** Maps the store's typed errors to API reasons; anything unknown is an internal error. */
export function storeError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof CompactedError) {
    return new ApiError(StatusReason.Expired, `resourceVersion ${err.requested} is too old (compacted up to ${err.compactRevision}); list again`, [], String(err.compactRevision), { cause: err });
  }
  if (err instanceof FutureRevisionError) {
    return new ApiError(StatusReason.TooLargeResourceVersion, `resourceVersion ${err.requested} is ahead of this master (at ${err.currentRevision})`, [], String(err.currentRevision), { cause: err });
  }
  if (err instanceof NoLeaderError || err instanceof NotLeaderError || err instanceof BackendStoppedError || err instanceof ProposalDroppedError) {
    return new ApiError(StatusReason.ServiceUnavailable, `the store cannot serve this now: ${err.message}`, [], undefined, { cause: err });
  }
  if (err instanceof RequestTimeoutError) return new ApiError(StatusReason.Timeout, err.message, [], undefined, { cause: err });
  if (err instanceof TooManyRequestsError) return new ApiError(StatusReason.TooManyRequests, err.message, [], undefined, { cause: err });
  if (err instanceof InvalidCommandError) return new ApiError(StatusReason.BadRequest, `the store refused the request: ${err.message}`, [], undefined, { cause: err });
  if (err instanceof RequestTooLargeError) return new ApiError(StatusReason.RequestEntityTooLarge, `object too large: ${err.message}`, [], undefined, { cause: err });
  return new ApiError(StatusReason.InternalError, `store error: ${(err as Error).message ?? String(err)}`, [], undefined, { cause: err });
}
