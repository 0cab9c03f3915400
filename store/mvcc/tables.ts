// The store's sub-databases in the master's shared LMDB environment, and the encoding of their
// values. Only `revisions`, `leases`, `members` and `meta` hold information; `keyIndex`, `current` and
// `leaseKeys` are indexes derived from them (snapshot/restore rebuilds them).
//
//   mvcc.meta       "state"                      -> [format, appliedIndex, currentRevision, compactRevision, compactNext | null]
//   mvcc.revisions  revision (main, sub)         -> record: [key, value, createRevision, version, lease] | [key] (tombstone)
//   mvcc.keyIndex   escape(key) 00 00 revision   -> 1 byte: 0 = put, 1 = tombstone
//   mvcc.current    key                          -> revision of the key's live version (absent once deleted)
//   mvcc.leases     lease id (u64)               -> [ttl]
//   mvcc.leaseKeys  lease id (u64) ++ key        -> empty
//   mvcc.members    member id (u64)              -> [name, peerAddress, [clientUrl, ...]]
//
// Invariants: every revisions entry has exactly one keyIndex entry; current[k] is the newest keyIndex
// entry of k when that entry is a put; leaseKeys holds (l, k) iff current[k]'s record has lease l,
// and then lease l exists.

import type { Database, RootDatabase } from 'lmdb';
import { Packr } from 'msgpackr';
import { CorruptStoreError } from './errors.js';
import { type Revision, plainBytes } from './keyspace.js';

/** Sub-databases this store opens; the environment's maxDbs must leave room for them. */
export const MVCC_DATABASE_NAMES = [
  'mvcc.meta',
  'mvcc.revisions',
  'mvcc.keyIndex',
  'mvcc.current',
  'mvcc.leases',
  'mvcc.leaseKeys',
  'mvcc.members',
] as const;

/** 2 adds compactNext; 1 (no compaction in progress) is still read. */
export const META_FORMAT_VERSION = 2;
export const META_STATE_KEY = new Uint8Array(Buffer.from('state'));
export const INDEX_PUT = new Uint8Array([0]);
export const INDEX_TOMBSTONE = new Uint8Array([1]);
export const EMPTY_BYTES = new Uint8Array(0);

export type BinaryDatabase = Database<Uint8Array, Uint8Array>;

export interface MvccTables {
  readonly root: RootDatabase;
  readonly meta: BinaryDatabase;
  readonly revisions: BinaryDatabase;
  readonly keyIndex: BinaryDatabase;
  readonly current: BinaryDatabase;
  readonly leases: BinaryDatabase;
  readonly leaseKeys: BinaryDatabase;
  readonly members: BinaryDatabase;
}

export function openTables(root: RootDatabase): MvccTables {
  const open = (name: (typeof MVCC_DATABASE_NAMES)[number]): BinaryDatabase =>
    root.openDB<Uint8Array, Uint8Array>({ name, encoding: 'binary', keyEncoding: 'binary' });
  return {
    root,
    meta: open('mvcc.meta'),
    revisions: open('mvcc.revisions'),
    keyIndex: open('mvcc.keyIndex'),
    current: open('mvcc.current'),
    leases: open('mvcc.leases'),
    leaseKeys: open('mvcc.leaseKeys'),
    members: open('mvcc.members'),
  };
}

// Plain msgpack arrays: integers encode in their shortest form, so equal records are equal bytes.
const recordPackr = new Packr({ useRecords: false, moreTypes: false });

/** Packs into a fresh Uint8Array (msgpackr hands out views of a buffer it shares between calls). */
export function pack(value: unknown): Uint8Array {
  return new Uint8Array(recordPackr.pack(value));
}

export function unpack(bytes: Uint8Array): unknown {
  return recordPackr.unpack(bytes);
}

/** Every msgpack value in bytes, in order. */
export function unpackAll(bytes: Uint8Array): unknown[] {
  return recordPackr.unpackMultiple(bytes) as unknown[];
}

/** The persistent counters. Invariant: compactRevision <= currentRevision; appliedIndex only grows. */
export interface MetaState {
  readonly appliedIndex: number;
  /** The main revision of the last write; 1 for an empty store (etcd starts at 1). */
  readonly currentRevision: number;
  /** History before this revision is gone (reads before it are refused); 0 = never compacted. */
  readonly compactRevision: number;
  /**
   * While the unreachable history before compactRevision is still being removed (compaction.ts):
   * the history index key the next step starts at. Undefined: no compaction in progress.
   */
  readonly compactNext: Uint8Array | undefined;
}

export const INITIAL_META: MetaState = { appliedIndex: 0, currentRevision: 1, compactRevision: 0, compactNext: undefined };

export function encodeMeta(meta: MetaState): Uint8Array {
  return pack([META_FORMAT_VERSION, meta.appliedIndex, meta.currentRevision, meta.compactRevision, meta.compactNext ?? null]);
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

export function decodeMeta(bytes: Uint8Array): MetaState {
  const value = unpack(bytes);
  const known = Array.isArray(value) && ((value[0] === 1 && value.length === 4) || (value[0] === META_FORMAT_VERSION && value.length === 5));
  if (!known) throw new CorruptStoreError('mvcc.meta: unknown format');
  const [, appliedIndex, currentRevision, compactRevision, compactNext] = value as unknown[];
  if (!isCount(appliedIndex) || !isCount(currentRevision) || !isCount(compactRevision)) {
    throw new CorruptStoreError('mvcc.meta: counters are not integers');
  }
  if (compactNext === undefined || compactNext === null) return { appliedIndex, currentRevision, compactRevision, compactNext: undefined };
  if (!(compactNext instanceof Uint8Array) || compactRevision === 0) throw new CorruptStoreError('mvcc.meta: compactNext is not a history key');
  // A copy: lmdb-js may reuse the buffer it read the meta into.
  return { appliedIndex, currentRevision, compactRevision, compactNext: new Uint8Array(compactNext) };
}

/** One entry of the history: a put of key (a version) or its deletion (a tombstone). */
export type RevisionRecord =
  | {
      readonly tombstone: false;
      readonly key: Uint8Array;
      readonly value: Uint8Array;
      readonly createRevision: number;
      readonly version: number;
      readonly lease: number;
    }
  | { readonly tombstone: true; readonly key: Uint8Array };

export function encodeRecord(record: RevisionRecord): Uint8Array {
  if (record.tombstone) return pack([record.key]);
  return pack([record.key, record.value, record.createRevision, record.version, record.lease]);
}

/** Decodes a record; returns undefined when the bytes are not one (the caller names the place). */
export function tryDecodeRecord(bytes: Uint8Array): RevisionRecord | undefined {
  let value: unknown;
  try {
    value = unpack(bytes);
  } catch {
    return undefined;
  }
  if (!Array.isArray(value)) return undefined;
  const fields = value as unknown[];
  const [key, recordValue, createRevision, version, lease] = fields;
  if (!(key instanceof Uint8Array) || key.length === 0) return undefined;
  if (fields.length === 1) return { tombstone: true, key: plainBytes(key) };
  if (fields.length !== 5 || !(recordValue instanceof Uint8Array)) return undefined;
  if (!isCount(createRevision) || createRevision === 0 || !isCount(version) || version === 0 || !isCount(lease)) {
    return undefined;
  }
  return { tombstone: false, key: plainBytes(key), value: plainBytes(recordValue), createRevision, version, lease };
}

export function decodeRecord(bytes: Uint8Array, revision: Revision): RevisionRecord {
  const record = tryDecodeRecord(bytes);
  if (record === undefined) throw new CorruptStoreError(`mvcc.revisions: bad record at ${revision.main}.${revision.sub}`);
  return record;
}

export function encodeLease(ttl: number): Uint8Array {
  return pack([ttl]);
}

export function decodeLease(bytes: Uint8Array, id: number): number {
  const value = unpack(bytes);
  const ttl: unknown = Array.isArray(value) ? (value as unknown[])[0] : undefined;
  if (!isCount(ttl)) throw new CorruptStoreError(`mvcc.leases: bad record for lease ${id}`);
  return ttl;
}

/**
 * A cluster member as the log records it: its peer address from the conf change that added it,
 * and the name and client URLs it published when it started (empty until then, as in etcd).
 */
export interface MemberAttributes {
  readonly id: number;
  readonly name: string;
  /** host:port of the member's --listen address. */
  readonly peerAddress: string;
  readonly clientUrls: readonly string[];
}

export function encodeMember(m: MemberAttributes): Uint8Array {
  return pack([m.name, m.peerAddress, [...m.clientUrls]]);
}

export function tryDecodeMember(bytes: Uint8Array, id: number): MemberAttributes | undefined {
  let value: unknown;
  try {
    value = unpack(bytes);
  } catch {
    return undefined;
  }
  if (!Array.isArray(value) || value.length !== 3) return undefined;
  const [name, peerAddress, clientUrls] = value as unknown[];
  if (typeof name !== 'string' || typeof peerAddress !== 'string' || !Array.isArray(clientUrls)) return undefined;
  if (!clientUrls.every((u): u is string => typeof u === 'string')) return undefined;
  return { id, name, peerAddress, clientUrls };
}

export function decodeMember(bytes: Uint8Array, id: number): MemberAttributes {
  const member = tryDecodeMember(bytes, id);
  if (member === undefined) throw new CorruptStoreError(`mvcc.members: bad record for member ${id.toString(16)}`);
  return member;
}
