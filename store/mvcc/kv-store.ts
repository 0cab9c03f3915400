// The MVCC key-value state machine every master applies from the Raft log, with etcd v3 semantics,
// stored in named sub-databases of the master's LMDB environment (shared with the Raft log).
//
// It knows nothing of Raft: it receives committed entries in log order. Each entry is applied in
// one LMDB write transaction that also records its index, so a restarted master resumes after
// appliedIndex and never applies an entry twice. Determinism: the state after applying a sequence
// of entries depends on nothing but those entries (no clock, no randomness, no Map order), so every
// master reaches the same state, byte for byte as its snapshot shows.
//
// Invariants: appliedIndex only grows; compactRevision <= currentRevision; currentRevision is the
// main revision of the newest history entry (or 1, etcd's revision of an empty store).

import type { RootDatabase } from 'lmdb';
import { type BatchCommand, type Command, type RangeRequest, type RequestOp, type TxnRequest, decodeCommand, validateCommand, validateRangeRequest } from './commands.js';
import { COMPACTION_START, compactionStep } from './compaction.js';
import { CompactedError, FutureRevisionError, MvccError } from './errors.js';
import { decodeLeaseIdKey, decodeMemberIdKey, leaseIdKey, memberIdKey, plainBytes } from './keyspace.js';
import { type HistoryBatch, type HistoryQuery, MvccReader, type RangeOptions } from './reader.js';
import type { ApplyOutcome, BatchResponse, BatchTxnOutcome, CommandResponse, LeaseInfo, RangeResponse, WatchEvent } from './responses.js';
import { type SnapshotView, openSnapshotView, restoreSnapshot, snapshotBytes, snapshotChunks } from './snapshot.js';
import {
  INITIAL_META,
  META_STATE_KEY,
  type MemberAttributes,
  type MetaState,
  type MvccTables,
  decodeLease,
  decodeMember,
  decodeMeta,
  encodeMember,
  encodeMeta,
  openTables,
} from './tables.js';
import { WriteTxn } from './writer.js';

const LEASE_ID_BYTES = 8;

/** What changed, told to listeners (the watch hub) after the change is committed. */
export type StoreChange =
  /** One entry's writes, all at `revision`, in sub-revision order; each event carries its prevKv. */
  | { readonly type: 'applied'; readonly revision: number; readonly events: readonly WatchEvent[] }
  | { readonly type: 'compacted'; readonly compactRevision: number }
  /** The whole state was replaced by a snapshot. */
  | { readonly type: 'restored'; readonly revision: number; readonly compactRevision: number };

/** A committed log entry's index and command bytes (undefined: an entry with no command). */
export interface LogEntryBytes {
  readonly index: number;
  readonly bytes: Uint8Array | undefined;
}

/**
 * A Raft conf change as the member registry records it. An added member keeps the name and client
 * URLs it already published (a learner's promotion); a new one has the name its conf change
 * carried (the founding members') or none (MemberAdd's, until the member publishes).
 */
export type MembershipChange =
  | { readonly type: 'add'; readonly id: number; readonly peerAddress: string; readonly name: string }
  | { readonly type: 'remove'; readonly id: number };

/** Called synchronously after each commit. Must not throw (an exception reaches apply's caller). */
export type StoreListener = (change: StoreChange) => void;

export interface StoreStats {
  /** History entries kept (versions and tombstones since the compact revision). */
  readonly historyEntries: number;
  readonly liveKeys: number;
  readonly leases: number;
}

/** The writes of one revision. */
interface RevisionWrites {
  readonly revision: number;
  readonly events: readonly WatchEvent[];
}

interface Execution {
  readonly response: CommandResponse;
  readonly meta: MetaState;
  /** In revision order: one per command that wrote, or one per txn that wrote in a batch. */
  readonly writes: readonly RevisionWrites[];
}

/**
 * lmdb-js transactionSync flags for applyBatch: abortable (1) | commit synchronously (2) |
 * LMDB's MDB_NOMETASYNC (0x40000, passed through to mdb_txn_begin). The data pages are fsynced but
 * not the meta page, so a crash may undo the last applied batches while the file stays consistent
 * (ACI without D). That is safe for a state machine applied from a durable Raft log: applying is
 * idempotent by log index, and the entries are replayed after a restart.
 */
export const APPLY_BATCH_TXN_FLAGS = 0x1 | 0x2 | 0x40000;

export class MvccStore {
  private readonly reader: MvccReader;
  private readonly listeners = new Set<StoreListener>();
  /**
   * The counters as applied so far, which may be ahead of the committed state while an
   * applyBatchAsync transaction is being committed; applying reads these.
   */
  private meta: MetaState;
  /** The counters as last committed and published (readers and watchers see these). */
  private visibleMeta: MetaState;
  /** Set while an applyBatchAsync transaction is in flight: no other write may start. */
  private asyncApplyInFlight = false;

  private constructor(private readonly tables: MvccTables) {
    this.reader = new MvccReader(tables);
    const metaBytes = tables.meta.get(META_STATE_KEY);
    this.meta = metaBytes === undefined ? INITIAL_META : decodeMeta(metaBytes);
    this.visibleMeta = this.meta;
  }

  /** Opens (creating if needed) the store's sub-databases in an already-open environment. */
  static open(root: RootDatabase): MvccStore {
    return new MvccStore(openTables(root));
  }

  /** The index of the last log entry applied; the driver resumes with the next one. */
  get appliedIndex(): number {
    return this.meta.appliedIndex;
  }

  get currentRevision(): number {
    return this.visibleMeta.currentRevision;
  }

  get compactRevision(): number {
    return this.visibleMeta.compactRevision;
  }

  /** The history the last compaction made unreachable is still being removed (a step per applied entry). */
  get compactionInProgress(): boolean {
    return this.visibleMeta.compactNext !== undefined;
  }

  /**
   * Applies the committed entry at `index`. An index at or below appliedIndex was applied before
   * and is skipped. A deterministic failure is returned as `rejected` (the entry still counts as
   * applied); a thrown error is an I/O failure, and the master must stop.
   */
  apply(index: number, command: Command): ApplyOutcome {
    checkIndex(index);
    this.checkNoAsyncApply();
    if (index <= this.meta.appliedIndex) return { status: 'skipped', index };
    let normalized: Command;
    try {
      normalized = validateCommand(command);
    } catch (error) {
      if (error instanceof MvccError) return this.reject(index, error);
      throw error;
    }
    return this.applyValid(index, normalized);
  }

  /** Applies an entry's encoded command; undecodable bytes are rejected like any invalid command. */
  applyEntry(index: number, bytes: Uint8Array): ApplyOutcome {
    checkIndex(index);
    if (this.deferredChanges === undefined) this.checkNoAsyncApply();
    if (index <= this.meta.appliedIndex) return { status: 'skipped', index };
    let command: Command;
    try {
      command = decodeCommand(bytes);
    } catch (error) {
      if (error instanceof MvccError) return this.reject(index, error);
      throw error;
    }
    return this.applyValid(index, command);
  }

  /**
   * Applies several committed entries in ONE LMDB transaction — one commit and one fsync for a
   * whole Raft Ready instead of one per entry. Each entry still runs in its own nested
   * transaction, so a rejected command rolls back alone. Watchers hear of the changes only after
   * the outer transaction commits. An entry with no bytes carries no command (markApplied).
   */
  applyBatch(entries: readonly LogEntryBytes[]): ApplyOutcome[] {
    this.checkNoAsyncApply();
    const outcomes: ApplyOutcome[] = [];
    const deferred: StoreChange[] = [];
    this.deferredChanges = deferred;
    try {
      this.tables.root.transactionSync(() => this.applyInTransaction(entries, outcomes), APPLY_BATCH_TXN_FLAGS);
    } finally {
      this.deferredChanges = undefined;
    }
    this.notify(deferred);
    return outcomes;
  }

  /**
   * applyBatch through lmdb-js's asynchronous write batch: the entries are applied (on this
   * thread) inside the batch's transaction, and committed with it on lmdb-js's writer thread, so a
   * Raft append queued just before shares the commit and its fsync, and the event loop never waits
   * for the disk. Readers and watchers see the changes only once committed; no other write may
   * start until the promise settles. Rejects only on an I/O failure (the master must stop).
   *
   * `computed`, when given, hears the outcomes as soon as they are known, inside the transaction,
   * before the commit: what an entry of the log produces is decided by the log alone, so its
   * proposer may answer then (as etcd answers before its backend commits). Readers still see the
   * changes only once committed.
   */
  async applyBatchAsync(entries: readonly LogEntryBytes[], computed?: (outcomes: readonly ApplyOutcome[]) => void): Promise<ApplyOutcome[]> {
    this.checkNoAsyncApply();
    const outcomes: ApplyOutcome[] = [];
    const deferred: StoreChange[] = [];
    this.asyncApplyInFlight = true;
    try {
      await this.tables.root.childTransaction(() => {
        this.deferredChanges = deferred;
        try {
          this.applyInTransaction(entries, outcomes);
        } finally {
          this.deferredChanges = undefined;
        }
        computed?.(outcomes);
      });
    } finally {
      this.asyncApplyInFlight = false;
    }
    this.notify(deferred);
    return outcomes;
  }

  private applyInTransaction(entries: readonly LogEntryBytes[], outcomes: ApplyOutcome[]): void {
    for (const e of entries) {
      if (e.bytes === undefined || e.bytes.byteLength === 0) {
        this.markApplied(e.index);
        outcomes.push({ status: 'skipped', index: e.index });
      } else {
        outcomes.push(this.applyEntry(e.index, e.bytes));
      }
    }
  }

  private checkNoAsyncApply(): void {
    if (this.asyncApplyInFlight) throw new Error('a write started while an asynchronous apply is being committed');
  }

  /** Records an entry that carries no command (Raft's empty entry, a configuration change). */
  markApplied(index: number): void {
    checkIndex(index);
    if (this.deferredChanges === undefined) this.checkNoAsyncApply();
    if (index <= this.meta.appliedIndex) return;
    this.commitMeta({ ...this.meta, appliedIndex: index });
  }

  /**
   * Applies a committed conf change to the member registry, in one transaction with its index, so
   * the registry is exactly as durable as the rest of the state and travels in snapshots.
   */
  applyMembership(index: number, change: MembershipChange): void {
    checkIndex(index);
    if (this.deferredChanges === undefined) this.checkNoAsyncApply();
    if (index <= this.meta.appliedIndex) return;
    const meta: MetaState = { ...this.meta, appliedIndex: index };
    this.tables.root.transactionSync(() => {
      const key = memberIdKey(change.id);
      if (change.type === 'remove') {
        this.tables.members.removeSync(key);
      } else {
        const known = this.member(change.id);
        const peerAddress = change.peerAddress.length > 0 ? change.peerAddress : (known?.peerAddress ?? '');
        const next: MemberAttributes = known === undefined
          ? { id: change.id, name: change.name, peerAddress, clientUrls: [] }
          : { ...known, peerAddress, name: known.name.length > 0 ? known.name : change.name };
        this.tables.members.putSync(key, encodeMember(next));
      }
      this.tables.meta.putSync(META_STATE_KEY, encodeMeta(meta));
    });
    this.meta = meta;
    if (this.deferredChanges === undefined) this.visibleMeta = meta;
  }

  /** The member registry in id order. */
  members(): MemberAttributes[] {
    const members: MemberAttributes[] = [];
    for (const { key, value } of this.tables.members.getRange({})) {
      const id = decodeMemberIdKey(key);
      members.push(decodeMember(value, id));
    }
    return members;
  }

  member(id: number): MemberAttributes | undefined {
    if (!Number.isSafeInteger(id) || id < 1) return undefined;
    const value = this.tables.members.get(memberIdKey(id));
    return value === undefined ? undefined : decodeMember(value, id);
  }

  private commitMeta(meta: MetaState): void {
    this.tables.root.transactionSync(() => this.tables.meta.putSync(META_STATE_KEY, encodeMeta(meta)));
    this.meta = meta;
    // Inside an outer transaction, readers see it once that commits (notify publishes it).
    if (this.deferredChanges === undefined) this.visibleMeta = meta;
  }

  /**
   * The command's transaction was aborted, so its writes are gone; the index is recorded in a
   * transaction of its own. A crash in between replays the entry, which fails the same way again.
   */
  private reject(index: number, error: MvccError): ApplyOutcome {
    this.commitMeta({ ...this.meta, appliedIndex: index });
    return { status: 'rejected', index, error };
  }

  private applyValid(index: number, command: Command): ApplyOutcome {
    let execution: Execution;
    try {
      // Inside an outer transaction (applyBatch), a command that can only be rejected before it
      // writes needs no nested transaction of its own to roll back alone: there is nothing to undo.
      execution = this.deferredChanges !== undefined && rejectsOnlyBeforeWriting(command)
        ? this.execute(index, command)
        : this.tables.root.transactionSync(() => this.execute(index, command));
    } catch (error) {
      if (error instanceof MvccError) return this.reject(index, error);
      throw error;
    }
    const before = this.meta;
    this.meta = execution.meta;
    const changes: StoreChange[] = execution.writes.map((w) => ({ type: 'applied', revision: w.revision, events: w.events }));
    if (execution.meta.compactRevision !== before.compactRevision) {
      changes.push({ type: 'compacted', compactRevision: execution.meta.compactRevision });
    }
    this.notify(changes);
    return { status: 'applied', index, response: execution.response };
  }

  /** Runs inside the write transaction; an MvccError thrown here aborts it. */
  private execute(index: number, command: Command): Execution {
    const begin = this.meta;
    const txn = new WriteTxn(this.tables, this.reader, begin.currentRevision, begin.compactRevision);
    let compactRevision = begin.compactRevision;
    let compactNext = begin.compactNext;
    let response: CommandResponse;
    if (command.type === 'batch') {
      const batch = this.executeBatch(command);
      const meta: MetaState = { appliedIndex: index, currentRevision: batch.response.revision, compactRevision, compactNext: this.compactionStep(compactRevision, compactNext) };
      this.tables.meta.putSync(META_STATE_KEY, encodeMeta(meta));
      return { response: batch.response, meta, writes: batch.writes };
    }
    switch (command.type) {
      case 'put':
        response = txn.put(command);
        break;
      case 'deleteRange':
        response = txn.deleteRange(command);
        break;
      case 'txn':
        response = txn.txn(command);
        break;
      case 'compact':
        if (command.revision > begin.currentRevision) {
          throw new FutureRevisionError(command.revision, begin.currentRevision);
        }
        if (command.revision <= begin.compactRevision) throw new CompactedError(command.revision, begin.compactRevision);
        // Reads before it are refused from now on; the history goes a step per applied entry. A
        // compaction still in progress starts over at the new revision (what it removed stays removed).
        compactRevision = command.revision;
        compactNext = COMPACTION_START;
        response = { type: 'compact', revision: begin.currentRevision };
        break;
      case 'leaseGrant':
        txn.grantLease(command.id, command.ttl);
        response = { type: 'leaseGrant', revision: txn.revision, id: command.id, ttl: command.ttl };
        break;
      case 'leaseRevoke':
        txn.revokeLease(command.id);
        response = { type: 'leaseRevoke', revision: txn.revision };
        break;
      case 'memberPublish': {
        const known = this.member(command.id);
        if (known !== undefined) {
          this.tables.members.putSync(memberIdKey(command.id), encodeMember({ ...known, name: command.name, clientUrls: command.clientUrls }));
        }
        response = { type: 'memberPublish', revision: txn.revision };
        break;
      }
    }
    const meta: MetaState = { appliedIndex: index, currentRevision: txn.revision, compactRevision, compactNext: this.compactionStep(compactRevision, compactNext) };
    this.tables.meta.putSync(META_STATE_KEY, encodeMeta(meta));
    return { response, meta, writes: txn.events.length > 0 ? [{ revision: txn.revision, events: txn.events }] : [] };
  }

  /**
   * One bounded step of the compaction in progress, if any, inside the entry's transaction (after
   * its writes, which are all newer than the compact revision). Returns where the next one starts.
   */
  private compactionStep(compactRevision: number, next: Uint8Array | undefined): Uint8Array | undefined {
    return next === undefined ? undefined : compactionStep(this.tables, compactRevision, next).next;
  }

  /**
   * A batch's txns in order, each in a nested transaction of its own: one rejected (an MvccError)
   * rolls back alone and takes no revision; the next starts from the revision the last write left.
   */
  private executeBatch(command: BatchCommand): { response: BatchResponse; writes: RevisionWrites[] } {
    const { compactRevision } = this.meta;
    let revision = this.meta.currentRevision;
    const outcomes: BatchTxnOutcome[] = [];
    const writes: RevisionWrites[] = [];
    for (const request of command.txns) {
      const txn = new WriteTxn(this.tables, this.reader, revision, compactRevision);
      try {
        // A txn that cannot be rejected needs no nested transaction to roll back alone.
        const response = cannotBeRejected(request) ? txn.txn(request) : this.tables.root.transactionSync(() => txn.txn(request));
        outcomes.push({ status: 'applied', response });
      } catch (error) {
        if (!(error instanceof MvccError)) throw error;
        outcomes.push({ status: 'rejected', error });
        continue;
      }
      if (txn.events.length > 0) {
        writes.push({ revision: txn.revision, events: txn.events });
        revision = txn.revision;
      }
    }
    return { response: { type: 'batch', revision, outcomes }, writes };
  }

  /** Set while applyBatch runs: changes wait here until its transaction commits. */
  private deferredChanges: StoreChange[] | undefined = undefined;

  /** Publishes the applied state to readers and tells listeners, once it is committed. */
  private notify(changes: readonly StoreChange[]): void {
    if (this.deferredChanges !== undefined) {
      this.deferredChanges.push(...changes);
      return;
    }
    this.visibleMeta = this.meta;
    let failure: { error: unknown } | undefined;
    for (const change of changes) {
      for (const listener of [...this.listeners]) {
        try {
          listener(change);
        } catch (error) {
          failure ??= { error };
        }
      }
    }
    // Every listener heard every change; only then does a listener's failure surface.
    if (failure !== undefined) throw failure.error;
  }

  subscribe(listener: StoreListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * etcd's Range against local state (a serializable read; for a linearizable one the caller first
   * waits until appliedIndex reaches the read index). Throws InvalidCommandError, CompactedError or
   * FutureRevisionError.
   */
  range(request: RangeRequest, options?: RangeOptions): RangeResponse {
    return this.reader.range(validateRangeRequest(request), this.visibleMeta, options);
  }

  /**
   * History events from query.fromRevision to query.toRevision, for watchers catching up.
   * Throws CompactedError when fromRevision <= compactRevision: compaction removed part of that
   * history (including tombstones at the compact revision itself).
   */
  readEvents(query: HistoryQuery): HistoryBatch {
    const visible = this.visibleMeta;
    if (query.fromRevision <= visible.compactRevision) throw new CompactedError(query.fromRevision, visible.compactRevision);
    return this.reader.readEvents({ ...query, toRevision: Math.min(query.toRevision, visible.currentRevision) });
  }

  /** Every lease in id order, with its granted TTL and attached keys. */
  leases(): LeaseInfo[] {
    const leases: LeaseInfo[] = [];
    for (const { key, value } of this.tables.leases.getRange({})) {
      const id = decodeLeaseIdKey(key);
      leases.push({ id, ttl: decodeLease(value, id), keys: this.leaseKeys(id) });
    }
    return leases;
  }

  lease(id: number): LeaseInfo | undefined {
    if (!Number.isSafeInteger(id) || id < 1) return undefined;
    const value = this.tables.leases.get(leaseIdKey(id));
    return value === undefined ? undefined : { id, ttl: decodeLease(value, id), keys: this.leaseKeys(id) };
  }

  private leaseKeys(id: number): Uint8Array[] {
    const keys: Uint8Array[] = [];
    for (const leaseKey of this.tables.leaseKeys.getKeys({ start: leaseIdKey(id), end: leaseIdKey(id + 1) })) {
      keys.push(plainBytes(leaseKey.subarray(LEASE_ID_BYTES)));
    }
    return keys;
  }

  stats(): StoreStats {
    return {
      historyEntries: this.tables.revisions.getCount(),
      liveKeys: this.tables.current.getCount(),
      leases: this.tables.leases.getCount(),
    };
  }

  /** The full state (history since compactRevision, leases, members, counters, applied index), deterministically encoded. */
  snapshot(): Uint8Array {
    return snapshotBytes(this.tables);
  }

  /** The same bytes as snapshot(), in chunks of about SNAPSHOT_CHUNK_BYTES, from one consistent view. */
  snapshotChunks(): Generator<Uint8Array> {
    return snapshotChunks(this.tables);
  }

  /** The committed state, pinned now and read in chunks later (see SnapshotView). */
  openSnapshot(): SnapshotView {
    return openSnapshotView(this.tables);
  }

  /**
   * Replaces the whole state with a snapshot (one or more chunks), atomically: on a
   * SnapshotFormatError nothing changes. Watchers then catch up from the restored history.
   */
  restore(source: Uint8Array | Iterable<Uint8Array>): void {
    this.checkNoAsyncApply();
    this.meta = restoreSnapshot(this.tables, source);
    this.notify([{ type: 'restored', revision: this.meta.currentRevision, compactRevision: this.meta.compactRevision }]);
  }
}

/**
 * Whether every way the command can be rejected (an MvccError) comes before its first write, so a
 * rejection leaves nothing to roll back. A single put checks its key and lease before writing;
 * compact and the lease commands check before writing; a batch rolls back each of its txns alone
 * and is never rejected as a whole. A txn qualifies only if none of its ops can be rejected, since
 * an op may fail after an earlier one wrote.
 */
export function rejectsOnlyBeforeWriting(command: Command): boolean {
  switch (command.type) {
    case 'txn':
      return cannotBeRejected(command);
    case 'put':
    case 'deleteRange':
    case 'batch':
    case 'compact':
    case 'leaseGrant':
    case 'leaseRevoke':
    case 'memberPublish':
      return true;
    default: {
      // A new command type must say which it is.
      const unknown: never = command;
      throw new Error(`unknown command ${JSON.stringify(unknown)}`);
    }
  }
}

/**
 * Whether applying the txn can never throw an MvccError, whatever the state: only a put with a
 * lease (which may not exist) or with ignoreValue/ignoreLease (the key may not), and a range at a
 * given revision (compacted, or in the future), can be rejected. The registry's compare-and-put
 * and compare-and-delete txns cannot.
 */
export function cannotBeRejected(txn: TxnRequest): boolean {
  return txn.success.every(opCannotBeRejected) && txn.failure.every(opCannotBeRejected);
}

function opCannotBeRejected(op: RequestOp): boolean {
  switch (op.type) {
    case 'range':
      return (op.revision ?? 0) === 0;
    case 'put':
      return (op.lease ?? 0) === 0 && op.ignoreValue !== true && op.ignoreLease !== true;
    case 'deleteRange':
      return true;
    case 'txn':
      return cannotBeRejected(op);
  }
}

function checkIndex(index: number): void {
  if (!Number.isSafeInteger(index) || index < 1) throw new RangeError(`log index must be a positive integer, got ${index}`);
}
