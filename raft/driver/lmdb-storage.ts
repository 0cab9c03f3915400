// The Raft log, hard state and snapshot, durable in LMDB. Implements the core's WritableStorage (so
// it passes the same suite as MemoryStorage) plus persist(), the one-transaction, one-fsync write
// the driver makes per Ready.
//
// Layout: two named sub-databases of a caller-owned environment (a master shares one LMDB file
// between its Raft log and the store's state machine):
//   raft-log   u64 big-endian index -> entry record (see lmdb-storage-codec.ts)
//   raft-meta  'format' | 'hard-state' | 'log-head' | 'snapshot-meta' | 'snapshot-data'
//              ('snapshot-data' exists exactly when snapshot-meta records an inline snapshot)
//
// Invariants, on disk and in `state` alike:
//   - raft-log holds exactly the indexes head.index+1 .. lastIndex, nothing else;
//   - terms never decrease along the log, and the first entry's term >= head.term;
//   - every record carries a CRC-32C, verified on every read from disk;
//   - the tail cache holds the newest entries, contiguous, ending at lastIndex.
//
// Durability (lmdb-js 3.5: its README and source, and checked with strace on Linux):
//   - the WritableStorage methods run transactionSync with default flags: the transaction is
//     committed and fdatasync'ed on the main thread before the method returns;
//   - persist() queues a child transaction into lmdb-js's asynchronous write batch, so the fsync
//     happens on lmdb-js's writer thread, not the event loop. With overlappingSync (the default off
//     Windows) the writer writes data pages and a meta page marked unflushed, fdatasyncs, then
//     writes a flushed meta page through an O_DSYNC descriptor; after a crash LMDB opens at the
//     last flushed meta. Without overlappingSync the commit itself syncs. With `sync`, persist()
//     also awaits `db.flushed`, documented to resolve once all previous writes are committed and
//     flushed to disk. (lmdb-js 3.5 flushes a batch before even its commit promise resolves, so
//     sync=false saves a wait at most, not an fsync.)
//   - the environment must not use noSync (nothing is ever fsynced) or useWritemap (no child
//     transactions, so a write failing mid-update could leave half of it in the batch).

import { extname, join } from 'node:path';

import type { Database, Key, RootDatabase, Transaction } from 'lmdb';

import { CompactedError, RaftInvariantError, SnapshotDataInStateMachineError, SnapshotOutOfDateError, UnavailableError } from '../core/errors.js';
import { EMPTY_CONF_STATE, SnapshotDataLocation, type InitialState, type RecordedSnapshot, type WritableStorage } from '../core/storage.js';
import {
  EMPTY_HARD_STATE,
  EntryType,
  entrySize,
  type ConfState,
  type Entry,
  type HardState,
  type Snapshot,
  type SnapshotMetadata,
} from '../core/types.js';
import { crc32c } from './crc32c.js';
import { TAIL_CACHE_MAX_BYTES, TAIL_CACHE_MAX_ENTRIES, TailCache, type TailCacheBounds } from './log-tail-cache.js';
import {
  ENTRY_HEADER_BYTES,
  MAX_ENTRY_DATA_BYTES,
  checkSnapshotData,
  decodeEntryRecord,
  decodeFormat,
  decodeHardState,
  decodeIndexKey,
  decodeLogHead,
  decodeSnapshotRecord,
  encodeEntryRecord,
  encodeFormat,
  encodeHardState,
  encodeIndexKey,
  encodeLogHead,
  encodeSnapshotRecord,
  type Decoded,
  type LogHead,
  type SnapshotRecord,
} from './lmdb-storage-codec.js';
import { CorruptLogError, CorruptMetadataError, LmdbConfigError, StorageBusyError } from './lmdb-storage-errors.js';

export { CorruptLogError, CorruptMetadataError, LmdbConfigError, LmdbStorageError, StorageBusyError } from './lmdb-storage-errors.js';
export { TAIL_CACHE_MAX_BYTES, TAIL_CACHE_MAX_ENTRIES, type TailCacheBounds } from './log-tail-cache.js';

export const LOG_DB_NAME = 'raft-log';
export const META_DB_NAME = 'raft-meta';

/** Snapshot data is described by a u32 length on disk. */
export const MAX_SNAPSHOT_DATA_BYTES = 0xffffffff;

const MetaKey = {
  Format: 'format',
  HardState: 'hard-state',
  LogHead: 'log-head',
  SnapshotMeta: 'snapshot-meta',
  SnapshotData: 'snapshot-data',
} as const;
type MetaKey = (typeof MetaKey)[keyof typeof MetaKey];

export interface LmdbStorageOptions {
  /** Membership of a brand-new member (what MemoryStorage.withMembers gives); ignored once the storage holds state. */
  readonly bootstrap?: ConfState;
  /** Sub-database names; distinct names let several Raft groups share one environment. */
  readonly logDbName?: string;
  readonly metaDbName?: string;
  /** Defaults to TAIL_CACHE_MAX_ENTRIES / TAIL_CACHE_MAX_BYTES; tests shrink it to exercise disk reads. */
  readonly tailCache?: TailCacheBounds;
}

/**
 * What the driver persists for one Ready, in this order: snapshot, entries, hard state. Entries
 * are copied when persist() is called; snapshot data (possibly large) is not, so it must not change
 * until persist() settles.
 */
export interface PersistUpdate {
  readonly snapshot?: Snapshot;
  readonly entries: readonly Entry[];
  readonly hardState?: HardState;
}

export type LogVerification =
  | { readonly status: 'ok'; readonly firstIndex: number; readonly lastIndex: number; readonly entriesChecked: number }
  | { readonly status: 'corrupt-log'; readonly index: number; readonly entriesChecked: number; readonly error: CorruptLogError }
  | { readonly status: 'corrupt-metadata'; readonly key: string; readonly error: CorruptMetadataError };

/** Everything the storage knows, as of the last committed write. */
interface StableState {
  /** The dummy entry before the first stored one; firstIndex() is head.index + 1. */
  readonly head: LogHead;
  readonly lastIndex: number;
  /** Invariant: tail.end === lastIndex + 1 and tail.start >= head.index + 1. */
  readonly tail: TailCache;
  readonly hardState: HardState;
  readonly snapshot: SnapshotRecord;
}

type WriteOp =
  | { readonly kind: 'put-entry'; readonly index: number; readonly record: Uint8Array }
  /** Inclusive range; indexes without a key are skipped by LMDB. */
  | { readonly kind: 'remove-entries'; readonly from: number; readonly through: number }
  | { readonly kind: 'put-meta'; readonly key: MetaKey; readonly value: Uint8Array }
  | { readonly kind: 'remove-meta'; readonly key: MetaKey };

/**
 * A write being planned: the state it will leave and the operations that get there. Planning reads
 * and validates; only executing the ops writes, so a rejected write changes nothing.
 */
interface Draft {
  state: StableState;
  readonly ops: WriteOp[];
}

const EMPTY_BYTES = new Uint8Array(0);

export class LmdbStorage implements WritableStorage {
  private state: StableState;
  /** Set while persist() is in flight: writes are refused, reads use the pinned pre-update snapshot. */
  private persisting = false;
  private pinnedReadTxn: Transaction | undefined;

  private constructor(
    private readonly logDb: Database<Uint8Array, Uint8Array>,
    private readonly metaDb: Database<Uint8Array, MetaKey>,
    /** The LMDB data file, named in every error. */
    readonly file: string,
    private readonly bounds: TailCacheBounds,
    bootstrap: ConfState,
  ) {
    this.state = this.load(bootstrap);
  }

  /**
   * Opens (creating if absent) the Raft storage in `root`'s environment and verifies its metadata
   * and the log's tail. The root stays the caller's to close, after any persist() has settled.
   */
  static open(root: RootDatabase<unknown, Key>, options: LmdbStorageOptions = {}): LmdbStorage {
    const file = environmentFile(root);
    if (Reflect.get(root, 'noSync') === true) {
      throw new LmdbConfigError('noSync', file, 'commits are never fsynced, so persist(sync) could not make a Ready durable');
    }
    if (Reflect.get(root, 'useWritemap') === true) {
      throw new LmdbConfigError('useWritemap', file, 'child transactions, which keep persist() atomic, are unavailable');
    }
    const logDbName = options.logDbName ?? LOG_DB_NAME;
    const metaDbName = options.metaDbName ?? META_DB_NAME;
    const logDb = root.openDB<Uint8Array, Uint8Array>({ name: logDbName, encoding: 'binary', keyEncoding: 'binary' });
    const metaDb = root.openDB<Uint8Array, MetaKey>({ name: metaDbName, encoding: 'binary' });
    // lmdb-js returns undefined when a sub-database is missing and cannot be created (readOnly).
    if (logDb === undefined || metaDb === undefined) {
      throw new LmdbConfigError('readOnly', file, `sub-database ${logDb === undefined ? logDbName : metaDbName} does not exist`);
    }
    const bounds = options.tailCache ?? { maxEntries: TAIL_CACHE_MAX_ENTRIES, maxBytes: TAIL_CACHE_MAX_BYTES };
    return new LmdbStorage(logDb, metaDb, file, bounds, options.bootstrap ?? EMPTY_CONF_STATE);
  }

  // ---- Storage (what the core reads) ----

  initialState(): InitialState {
    return { hardState: this.state.hardState, confState: this.state.snapshot.metadata.confState };
  }

  entries(lo: number, hi: number, maxBytes: number): readonly Entry[] {
    const s = this.state;
    if (lo <= s.head.index) throw new CompactedError(lo, s.head.index + 1);
    if (hi > s.lastIndex + 1) throw new UnavailableError(hi - 1, s.lastIndex);
    if (lo >= hi) return [];
    // Same rule as core/types.ts limitSize, applied while reading so a small maxBytes stops the read early.
    const out: Entry[] = [];
    let size = 0;
    const accept = (e: Entry): boolean => {
      size += entrySize(e);
      if (out.length > 0 && size > maxBytes) return false;
      out.push(e);
      return true;
    };
    const diskEnd = Math.min(hi, s.tail.start);
    if (lo < diskEnd) {
      for (const e of this.readRange(lo, diskEnd)) if (!accept(e)) return out;
    }
    for (let i = Math.max(lo, s.tail.start); i < hi; i++) if (!accept(s.tail.get(i)!)) return out;
    return out;
  }

  term(i: number): number {
    return this.termIn(this.state, i);
  }

  firstIndex(): number {
    return this.state.head.index + 1;
  }

  lastIndex(): number {
    return this.state.lastIndex;
  }

  snapshot(): Snapshot {
    const record = this.state.snapshot;
    if (record.dataLocation === SnapshotDataLocation.StateMachine) throw new SnapshotDataInStateMachineError(record.metadata.index);
    const stored = this.metaDb.get(MetaKey.SnapshotData, this.readOptions());
    if (stored === undefined) throw this.corruptMeta(MetaKey.SnapshotData, 'missing, though snapshot-meta describes it');
    const data = this.checked(MetaKey.SnapshotData, checkSnapshotData(stored, record));
    return { metadata: record.metadata, data: data.length === 0 ? EMPTY_BYTES : data };
  }

  recordedSnapshot(): RecordedSnapshot {
    const { metadata, dataLocation } = this.state.snapshot;
    return { metadata, dataLocation };
  }

  // ---- WritableStorage (each a synchronous transaction, fsynced before it returns) ----

  setHardState(hs: HardState): void {
    this.writeNow('setHardState', (d) => this.planHardState(d, hs));
  }

  append(entries: readonly Entry[]): void {
    this.writeNow('append', (d) => this.planAppend(d, entries));
  }

  applySnapshot(snap: Snapshot): void {
    this.writeNow('applySnapshot', (d) => this.planApplySnapshot(d, snap));
  }

  createSnapshot(index: number, confState: ConfState, data: Uint8Array): Snapshot {
    return this.writeNow('createSnapshot', (d) => this.planCreateSnapshot(d, index, confState, data));
  }

  /**
   * Records a snapshot without data and drops the previous snapshot's data, if any. This
   * transaction is committed and fsynced in the environment the state machine shares (see the
   * header), after the state machine's commits up to the caller's applied index: once it returns,
   * those are durable too (LMDB's meta page names a tree that holds every earlier commit).
   */
  recordSnapshot(index: number, confState: ConfState): SnapshotMetadata {
    return this.writeNow('recordSnapshot', (d) => this.planRecordSnapshot(d, index, confState));
  }

  compact(compactIndex: number): void {
    this.writeNow('compact', (d) => this.planCompact(d, compactIndex));
  }

  // ---- The driver's write ----

  /**
   * Writes a Ready's snapshot, entries and hard state in ONE LMDB transaction (all or nothing),
   * and resolves once it is committed and, when `sync`, fsynced. Many proposals batched into one
   * Ready become one append and one fsync. Validation failures reject before anything is written.
   *
   * One persist at a time: until it settles, other writes throw StorageBusyError, and reads see
   * the state before the update (a pinned LMDB read transaction plus the old cache), switching to
   * the new state atomically at commit.
   */
  async persist(update: PersistUpdate, sync: boolean): Promise<void> {
    if (this.persisting) throw new StorageBusyError('persist', this.file);
    const draft: Draft = { state: this.state, ops: [] };
    if (update.snapshot !== undefined) this.planApplySnapshot(draft, update.snapshot);
    this.planAppend(draft, update.entries);
    if (update.hardState !== undefined) this.planHardState(draft, update.hardState);
    if (draft.ops.length === 0) return;

    this.persisting = true;
    try {
      this.pinnedReadTxn = this.logDb.useReadTransaction();
      await this.logDb.childTransaction(() => {
        this.execute(draft.ops);
      });
      this.state = draft.state;
      this.unpinReadTxn();
      if (sync) await this.logDb.flushed;
    } finally {
      this.unpinReadTxn();
      this.persisting = false;
    }
  }

  // ---- Verification ----

  /**
   * Scans every entry (checksums, index sequence, terms) and re-reads every metadata record,
   * including snapshot data. Reports the first problem found; the log is checked first.
   */
  verify(): LogVerification {
    const s = this.state;
    let checked = 0;
    try {
      let expected = s.head.index + 1;
      let prevTerm = s.head.term;
      for (const { key, value } of this.logDb.getRange(this.readOptions())) {
        const index = decodeIndexKey(key);
        if (index === undefined) throw this.corrupt(expected, `key ${hexBytes(key)} is not an 8-byte index`);
        if (index < expected) throw this.corrupt(index, `stored at or below the log head ${s.head.index}`);
        if (index > s.lastIndex) throw this.corrupt(index, `stored past the last index ${s.lastIndex}`);
        if (index > expected) throw this.corrupt(expected, `missing; the next stored entry is ${index}`);
        const e = this.decodeEntry(value, index);
        if (e.term < prevTerm) throw this.corrupt(index, `term ${e.term} is lower than the previous term ${prevTerm}`);
        prevTerm = e.term;
        expected++;
        checked++;
      }
      if (expected <= s.lastIndex) throw this.corrupt(expected, `missing; the log should end at ${s.lastIndex}`);
    } catch (err) {
      if (err instanceof CorruptLogError) return { status: 'corrupt-log', index: err.index, entriesChecked: checked, error: err };
      throw err;
    }
    try {
      this.readMetadata();
      if (s.snapshot.dataLocation === SnapshotDataLocation.Inline) this.snapshot();
    } catch (err) {
      if (err instanceof CorruptMetadataError) return { status: 'corrupt-metadata', key: err.key, error: err };
      throw err;
    }
    return { status: 'ok', firstIndex: s.head.index + 1, lastIndex: s.lastIndex, entriesChecked: checked };
  }

  // ---- Planning: validate and compute the next state and its ops; nothing is written ----

  private planHardState(d: Draft, hs: HardState): void {
    requireNonNegativeInteger(hs.term, 'hard state term');
    requireNonNegativeInteger(hs.vote, 'hard state vote');
    requireNonNegativeInteger(hs.commit, 'hard state commit');
    const copy: HardState = { term: hs.term, vote: hs.vote, commit: hs.commit };
    d.ops.push({ kind: 'put-meta', key: MetaKey.HardState, value: encodeHardState(copy) });
    d.state = { ...d.state, hardState: copy };
  }

  /** Same semantics as MemoryStorage.append: the compacted prefix is dropped, a conflicting suffix replaced, a gap refused. */
  private planAppend(d: Draft, entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    validateEntries(entries);
    const s = d.state;
    const first = s.head.index + 1;
    const last = entries[0]!.index + entries.length - 1;
    if (last < first) return; // all compacted already
    const from = first > entries[0]!.index ? entries.slice(first - entries[0]!.index) : entries;
    const start = from[0]!.index;
    if (start > s.lastIndex + 1) {
      throw new RaftInvariantError(`append leaves a gap: log ends at ${s.lastIndex}, entries start at ${start}`);
    }
    const prevTerm = this.termIn(s, start - 1);
    if (from[0]!.term < prevTerm) {
      throw new RaftInvariantError(`append of entry ${start} at term ${from[0]!.term} follows term ${prevTerm}: terms never decrease along the log`);
    }
    if (last < s.lastIndex) d.ops.push({ kind: 'remove-entries', from: last + 1, through: s.lastIndex });
    const cached: Entry[] = [];
    for (const e of from) {
      const record = encodeEntryRecord(e);
      d.ops.push({ kind: 'put-entry', index: e.index, record });
      // The cache keeps a view into our own record: immune to the caller reusing its buffer.
      cached.push({ term: e.term, index: e.index, type: e.type, data: record.subarray(ENTRY_HEADER_BYTES, ENTRY_HEADER_BYTES + e.data.length) });
    }
    d.state = { ...s, lastIndex: last, tail: s.tail.truncateFrom(start).append(cached) };
  }

  private planApplySnapshot(d: Draft, snap: Snapshot): void {
    const s = d.state;
    const current = s.snapshot.metadata.index;
    if (snap.metadata.index <= current) throw new SnapshotOutOfDateError(snap.metadata.index, current);
    const record = this.snapshotRecord(snap.metadata, snap.data);
    if (s.lastIndex > s.head.index) d.ops.push({ kind: 'remove-entries', from: s.head.index + 1, through: s.lastIndex });
    const head: LogHead = { index: record.metadata.index, term: record.metadata.term };
    d.ops.push(
      { kind: 'put-meta', key: MetaKey.LogHead, value: encodeLogHead(head) },
      { kind: 'put-meta', key: MetaKey.SnapshotMeta, value: encodeSnapshotRecord(record) },
      { kind: 'put-meta', key: MetaKey.SnapshotData, value: snap.data },
    );
    d.state = { ...s, head, lastIndex: head.index, tail: TailCache.empty(head.index + 1, this.bounds), snapshot: record };
  }

  private planCreateSnapshot(d: Draft, index: number, confState: ConfState, data: Uint8Array): Snapshot {
    const s = d.state;
    const current = s.snapshot.metadata.index;
    if (index <= current) throw new SnapshotOutOfDateError(index, current);
    if (index > s.lastIndex) throw new UnavailableError(index, s.lastIndex);
    const record = this.snapshotRecord({ index, term: this.termIn(s, index), confState }, data);
    d.ops.push(
      { kind: 'put-meta', key: MetaKey.SnapshotMeta, value: encodeSnapshotRecord(record) },
      { kind: 'put-meta', key: MetaKey.SnapshotData, value: data },
    );
    d.state = { ...s, snapshot: record };
    return { metadata: record.metadata, data };
  }

  private planRecordSnapshot(d: Draft, index: number, confState: ConfState): SnapshotMetadata {
    const s = d.state;
    const current = s.snapshot.metadata.index;
    if (index <= current) throw new SnapshotOutOfDateError(index, current);
    if (index > s.lastIndex) throw new UnavailableError(index, s.lastIndex);
    const record: SnapshotRecord = {
      metadata: validatedSnapshotMetadata({ index, term: this.termIn(s, index), confState }),
      dataLocation: SnapshotDataLocation.StateMachine,
    };
    d.ops.push({ kind: 'put-meta', key: MetaKey.SnapshotMeta, value: encodeSnapshotRecord(record) });
    if (s.snapshot.dataLocation === SnapshotDataLocation.Inline) d.ops.push({ kind: 'remove-meta', key: MetaKey.SnapshotData });
    d.state = { ...s, snapshot: record };
    return record.metadata;
  }

  private planCompact(d: Draft, compactIndex: number): void {
    const s = d.state;
    if (compactIndex <= s.head.index) throw new CompactedError(compactIndex, s.head.index + 1);
    if (compactIndex > s.lastIndex) throw new UnavailableError(compactIndex, s.lastIndex);
    const head: LogHead = { index: compactIndex, term: this.termIn(s, compactIndex) };
    d.ops.push(
      { kind: 'remove-entries', from: s.head.index + 1, through: compactIndex },
      { kind: 'put-meta', key: MetaKey.LogHead, value: encodeLogHead(head) },
    );
    d.state = { ...s, head, tail: s.tail.dropThrough(compactIndex) };
  }

  /** Validates snapshot metadata and computes what snapshot-meta records about an inline snapshot. */
  private snapshotRecord(metadata: SnapshotMetadata, data: Uint8Array): SnapshotRecord {
    const checked = validatedSnapshotMetadata(metadata);
    if (data.length > MAX_SNAPSHOT_DATA_BYTES) {
      throw new RaftInvariantError(`snapshot at ${metadata.index}: ${data.length} bytes of data exceed MAX_SNAPSHOT_DATA_BYTES (${MAX_SNAPSHOT_DATA_BYTES})`);
    }
    return { metadata: checked, dataLocation: SnapshotDataLocation.Inline, dataLength: data.length, dataCrc: crc32c(data) };
  }

  /**
   * The term of entry i in state s. Reads LMDB only for indexes below s.tail.start, which no
   * planned-but-unwritten op has changed: an append that truncates below the tail restarts the
   * tail at its first entry, and a snapshot empties the log.
   */
  private termIn(s: StableState, i: number): number {
    if (i < s.head.index) throw new CompactedError(i, s.head.index + 1);
    if (i > s.lastIndex) throw new UnavailableError(i, s.lastIndex);
    if (i === s.head.index) return s.head.term;
    return (s.tail.get(i) ?? this.readEntry(i)).term;
  }

  // ---- Executing ----

  private writeNow<T>(operation: string, plan: (d: Draft) => T): T {
    if (this.persisting) throw new StorageBusyError(operation, this.file);
    const draft: Draft = { state: this.state, ops: [] };
    const result = plan(draft);
    if (draft.ops.length > 0) {
      // Default flags: abortable, committed and fsynced before returning.
      this.logDb.transactionSync(() => {
        this.execute(draft.ops);
      });
      this.state = draft.state;
    }
    return result;
  }

  /** Runs inside a write transaction; only puts and removes, so it fails only if LMDB does. */
  private execute(ops: readonly WriteOp[]): void {
    for (const op of ops) {
      switch (op.kind) {
        case 'put-entry':
          this.logDb.putSync(encodeIndexKey(op.index), op.record);
          break;
        case 'remove-entries':
          for (let i = op.from; i <= op.through; i++) this.logDb.removeSync(encodeIndexKey(i));
          break;
        case 'put-meta':
          this.metaDb.putSync(op.key, op.value);
          break;
        case 'remove-meta':
          this.metaDb.removeSync(op.key);
          break;
      }
    }
  }

  // ---- Reading from disk, verified ----

  private readOptions(): { transaction?: Transaction } {
    return this.pinnedReadTxn === undefined ? {} : { transaction: this.pinnedReadTxn };
  }

  private unpinReadTxn(): void {
    this.pinnedReadTxn?.done();
    this.pinnedReadTxn = undefined;
  }

  private readEntry(i: number): Entry {
    const record = this.logDb.get(encodeIndexKey(i), this.readOptions());
    if (record === undefined) throw this.corrupt(i, `missing, though the log spans ${this.state.head.index + 1}..${this.state.lastIndex}`);
    return this.decodeEntry(record, i);
  }

  /** Entries [lo, hi) from LMDB, each verified, in order; a hole is corruption. Stops reading when the consumer stops. */
  private *readRange(lo: number, hi: number): Generator<Entry> {
    let expected = lo;
    const range = this.logDb.getRange({ start: encodeIndexKey(lo), end: encodeIndexKey(hi), ...this.readOptions() });
    for (const { key, value } of range) {
      const index = decodeIndexKey(key);
      if (index === undefined) throw this.corrupt(expected, `key ${hexBytes(key)} is not an 8-byte index`);
      if (index !== expected) throw this.corrupt(expected, `missing; the next stored entry is ${index}`);
      yield this.decodeEntry(value, index);
      expected++;
    }
    if (expected < hi) throw this.corrupt(expected, `missing, though the log spans ${this.state.head.index + 1}..${this.state.lastIndex}`);
  }

  private decodeEntry(record: Uint8Array, index: number): Entry {
    const decoded = decodeEntryRecord(record, index);
    if (!decoded.ok) throw this.corrupt(index, decoded.reason);
    return decoded.value;
  }

  private corrupt(index: number, reason: string): CorruptLogError {
    return new CorruptLogError(index, this.file, reason);
  }

  private corruptMeta(key: MetaKey, reason: string): CorruptMetadataError {
    return new CorruptMetadataError(key, this.file, reason);
  }

  private checked<T>(key: MetaKey, decoded: Decoded<T>): T {
    if (!decoded.ok) throw this.corruptMeta(key, decoded.reason);
    return decoded.value;
  }

  // ---- Opening ----

  /** Reads and verifies the metadata records; undefined when the storage is brand new (none exists). */
  private readMetadata(): { head: LogHead; hardState: HardState; snapshot: SnapshotRecord } | undefined {
    const options = this.readOptions();
    const format = this.metaDb.get(MetaKey.Format, options);
    const head = this.metaDb.get(MetaKey.LogHead, options);
    const hardState = this.metaDb.get(MetaKey.HardState, options);
    const snapshot = this.metaDb.get(MetaKey.SnapshotMeta, options);
    // Existence only: the snapshot data may be large and is verified when snapshot() reads it.
    const hasSnapshotData = this.metaDb.doesExist(MetaKey.SnapshotData);
    const found: [MetaKey, boolean][] = [
      [MetaKey.Format, format !== undefined],
      [MetaKey.LogHead, head !== undefined],
      [MetaKey.HardState, hardState !== undefined],
      [MetaKey.SnapshotMeta, snapshot !== undefined],
    ];
    if (found.every(([, exists]) => !exists) && !hasSnapshotData) return undefined;
    const present = [...found.filter(([, exists]) => exists).map(([key]) => key), ...(hasSnapshotData ? [MetaKey.SnapshotData] : [])];
    const missing = found.find(([, exists]) => !exists);
    if (missing !== undefined) throw this.corruptMeta(missing[0], `missing, while ${present.join(', ')} exist`);
    this.checked(MetaKey.Format, decodeFormat(format!));
    const record = this.checked(MetaKey.SnapshotMeta, decodeSnapshotRecord(snapshot!));
    // Whether snapshot-data must exist depends on the record, so it is checked only now.
    if (record.dataLocation === SnapshotDataLocation.Inline && !hasSnapshotData) {
      throw this.corruptMeta(MetaKey.SnapshotData, `missing, while ${present.join(', ')} exist`);
    }
    if (record.dataLocation === SnapshotDataLocation.StateMachine && hasSnapshotData) {
      throw this.corruptMeta(MetaKey.SnapshotData, `exists, though snapshot-meta records the snapshot at ${record.metadata.index} without data`);
    }
    return {
      head: this.checked(MetaKey.LogHead, decodeLogHead(head!)),
      hardState: this.checked(MetaKey.HardState, decodeHardState(hardState!)),
      snapshot: record,
    };
  }

  private load(bootstrap: ConfState): StableState {
    const meta = this.readMetadata();
    if (meta === undefined) {
      if (this.firstKey() !== undefined) throw this.corruptMeta(MetaKey.Format, 'missing, while the log holds entries');
      return this.initialize(bootstrap);
    }
    const { head, hardState, snapshot } = meta;
    const firstKey = this.firstKey();
    if (firstKey === undefined) {
      return this.checkCommit({ head, lastIndex: head.index, tail: TailCache.empty(head.index + 1, this.bounds), hardState, snapshot });
    }
    const first = decodeIndexKey(firstKey);
    if (first !== head.index + 1) {
      throw this.corrupt(head.index + 1, `the first stored key is ${hexBytes(firstKey)}, expected the entry after the log head ${head.index}`);
    }
    const lastKey = this.lastKey()!;
    const last = decodeIndexKey(lastKey);
    if (last === undefined) throw this.corrupt(first, `the last stored key ${hexBytes(lastKey)} is not an 8-byte index`);
    const tail = this.loadTail(head, last);
    return this.checkCommit({ head, lastIndex: last, tail, hardState, snapshot });
  }

  /**
   * Reads and verifies the newest entries, newest first, until the cache bounds are reached; the
   * last entry is always verified, cached or not. A torn or corrupt tail fails the open: it is
   * never truncated away, because it may hold entries this node acknowledged.
   * Precondition: the log holds head.index+1 .. last (its first and last keys say so).
   */
  private loadTail(head: LogHead, last: number): TailCache {
    const newestFirst: Entry[] = [];
    let bytes = 0;
    let expected = last;
    let newerTerm = Number.POSITIVE_INFINITY;
    const range = this.logDb.getRange({ start: encodeIndexKey(last), end: encodeIndexKey(head.index), reverse: true });
    for (const { key, value } of range) {
      const index = decodeIndexKey(key);
      if (index === undefined) throw this.corrupt(expected, `key ${hexBytes(key)} is not an 8-byte index`);
      if (index !== expected) throw this.corrupt(expected, `missing; the next older stored entry is ${index}`);
      const e = this.decodeEntry(value, index);
      if (e.term > newerTerm) throw this.corrupt(index + 1, `term ${newerTerm} is lower than the previous term ${e.term}`);
      if (index === head.index + 1 && e.term < head.term) {
        throw this.corrupt(index, `term ${e.term} is lower than the log head's term ${head.term}`);
      }
      bytes += entrySize(e);
      if (newestFirst.length >= this.bounds.maxEntries || bytes > this.bounds.maxBytes) break;
      newestFirst.push(e);
      newerTerm = e.term;
      expected--;
    }
    newestFirst.reverse();
    return TailCache.of(last + 1 - newestFirst.length, newestFirst, this.bounds);
  }

  /** A durable commit index past the durable log means log entries were lost. */
  private checkCommit(s: StableState): StableState {
    if (s.hardState.commit > s.lastIndex) {
      throw this.corruptMeta(MetaKey.HardState, `commit ${s.hardState.commit} is past the last log index ${s.lastIndex}: log entries are missing`);
    }
    return s;
  }

  /** Writes the records of a brand-new storage; `confState` is its first membership. */
  private initialize(confState: ConfState): StableState {
    const head: LogHead = { index: 0, term: 0 };
    const snapshot = this.snapshotRecord({ index: 0, term: 0, confState }, EMPTY_BYTES);
    this.logDb.transactionSync(() => {
      this.metaDb.putSync(MetaKey.Format, encodeFormat());
      this.metaDb.putSync(MetaKey.LogHead, encodeLogHead(head));
      this.metaDb.putSync(MetaKey.HardState, encodeHardState(EMPTY_HARD_STATE));
      this.metaDb.putSync(MetaKey.SnapshotMeta, encodeSnapshotRecord(snapshot));
      this.metaDb.putSync(MetaKey.SnapshotData, EMPTY_BYTES);
    });
    return { head, lastIndex: 0, tail: TailCache.empty(1, this.bounds), hardState: EMPTY_HARD_STATE, snapshot };
  }

  private firstKey(): Uint8Array | undefined {
    for (const key of this.logDb.getKeys({ limit: 1 })) return key;
    return undefined;
  }

  private lastKey(): Uint8Array | undefined {
    for (const key of this.logDb.getKeys({ reverse: true, limit: 1 })) return key;
    return undefined;
  }
}

/** A copy of snapshot metadata whose fields fit the snapshot-meta record. */
function validatedSnapshotMetadata(metadata: SnapshotMetadata): SnapshotMetadata {
  requireNonNegativeInteger(metadata.index, 'snapshot index');
  requireNonNegativeInteger(metadata.term, 'snapshot term');
  const confState: ConfState = { voters: [...metadata.confState.voters], learners: [...metadata.confState.learners] };
  for (const id of [...confState.voters, ...confState.learners]) {
    if (!Number.isSafeInteger(id) || id <= 0) throw new RaftInvariantError(`snapshot at ${metadata.index}: member id ${id} is not a positive integer`);
  }
  return { index: metadata.index, term: metadata.term, confState };
}

/** Terms, indexes and ids are safe non-negative integers; anything else would not round-trip through u64 fields. */
function requireNonNegativeInteger(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new RaftInvariantError(`${what} ${n} is not a non-negative safe integer`);
}

function validateEntries(entries: readonly Entry[]): void {
  let prev: Entry | undefined;
  for (const e of entries) {
    requireNonNegativeInteger(e.index, 'entry index');
    requireNonNegativeInteger(e.term, `entry ${e.index} term`);
    if (e.type !== EntryType.Normal && e.type !== EntryType.ConfChange) throw new RaftInvariantError(`entry ${e.index} has unknown type ${String(e.type)}`);
    if (e.data.length > MAX_ENTRY_DATA_BYTES) {
      throw new RaftInvariantError(`entry ${e.index}: ${e.data.length} bytes of data exceed MAX_ENTRY_DATA_BYTES (${MAX_ENTRY_DATA_BYTES})`);
    }
    if (prev !== undefined) {
      if (e.index !== prev.index + 1) throw new RaftInvariantError(`entries are not contiguous: ${e.index} follows ${prev.index}`);
      if (e.term < prev.term) throw new RaftInvariantError(`entry ${e.index} at term ${e.term} follows term ${prev.term}: terms never decrease along the log`);
    }
    prev = e;
  }
}

/** The data file of root's environment, for error messages. */
function environmentFile(root: RootDatabase<unknown, Key>): string {
  const path: unknown = Reflect.get(root, 'path');
  if (typeof path !== 'string') return '(unknown LMDB environment)';
  const noSubdir: unknown = Reflect.get(root, 'noSubdir');
  const isFile = noSubdir === true || (noSubdir === undefined && extname(path) !== '');
  return isFile ? path : join(path, 'data.mdb');
}

function hexBytes(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}
