// The replicated store: the MVCC state machine driven by the Raft log. A write is proposed as a
// log entry carrying its origin and a request number; every master applies it, and the master
// that proposed it answers its client with the result of applying it. A linearizable read waits
// for a ReadIndex barrier, then reads the local state.

import { Packr } from 'msgpackr';
import { ProposalDroppedError, ProposalDropReason } from '../raft/core/errors.js';
import { BackendStoppedError, NoLeaderError, RequestTimeoutError, TooManyRequestsError } from './backend.js';
import { RequestTooLargeError } from './mvcc/errors.js';
import { NodeStoppedError } from '../raft/driver/raft-node.js';
import { ConfChangeType, type ConfChange } from '../raft/core/confchange.js';
import type { Entry, NodeId, Snapshot } from '../raft/core/types.js';
import { decodeMemberContext } from './members.js';
import type { RaftNode, StateMachine } from '../raft/driver/raft-node.js';
import type { CommandResponse, TxnResponse } from './mvcc/responses.js';
import { MAX_BATCH_COMMAND_BYTES, encodeCommand, type Command } from './mvcc/commands.js';
import { type EntryProposal, TxnBatcher } from './txn-batcher.js';
import type { LogEntryBytes, MvccStore } from './mvcc/kv-store.js';
import type { SnapshotView } from './mvcc/snapshot.js';
import type { ApplyOutcome, RangeResponse } from './mvcc/responses.js';
import type { RangeRequest, TxnRequest } from './mvcc/commands.js';
import type { RangeOptions } from './mvcc/reader.js';

/** Bound on writes waiting for their entry to be applied at this master. */
export const MAX_PENDING_WRITES = 20_000;
/** A write not applied within this time fails; it may still commit later (its outcome is unknown). */
export const WRITE_TIMEOUT_MS = 10_000;

/** A write's leader changed before it was applied; it may or may not commit. */
export class LeaderChangedError extends RequestTimeoutError {
  constructor() {
    super(0);
    this.message = 'etcdserver: request timed out, possibly due to previous leader failure';
  }
}

/** A log entry's payload: who proposed it, its request number there, and the command. */
interface Envelope {
  readonly origin: NodeId;
  readonly request: number;
  readonly command: Uint8Array;
}

const packr = new Packr({ useRecords: false, moreTypes: false });

function encodeEnvelope(e: Envelope): Uint8Array {
  return packr.pack([e.origin, e.request, e.command]);
}

/** Entries come from our own log, but a bad one must be skipped with a log line, not crash a master. */
function decodeEnvelope(data: Uint8Array): Envelope | undefined {
  let v: unknown;
  try {
    v = packr.unpack(data);
  } catch {
    return undefined;
  }
  if (!Array.isArray(v) || v.length !== 3) return undefined;
  const [origin, request, command] = v as unknown[];
  if (typeof origin !== 'number' || typeof request !== 'number' || !(command instanceof Uint8Array)) return undefined;
  return { origin, request, command };
}

interface PendingWrite {
  readonly resolve: (outcome: ApplyOutcome) => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
}

export interface StoreLogger {
  warn(msg: string, fields?: Record<string, unknown>): void;
}

/** The StateMachine the RaftNode drives; also answers this master's pending writes. */
export class MvccStateMachine implements StateMachine {
  private readonly pending = new Map<number, PendingWrite>();
  private nextRequest = 1;
  /** Hears every applied command's response on this member (the lease keeper follows grants). */
  onApplied: ((response: CommandResponse, command: Uint8Array) => void) | undefined = undefined;

  constructor(
    readonly mvcc: MvccStore,
    private readonly self: NodeId,
    private readonly logger: StoreLogger,
  ) {}

  get appliedIndex(): number {
    return this.mvcc.appliedIndex;
  }

  applyEntries(entries: readonly Entry[]): void {
    const { batch, envelopes } = this.unpack(entries);
    if (batch.length === 0) return;
    const outcomes = this.mvcc.applyBatch(batch);
    this.answer(envelopes, outcomes);
    this.notifyApplied(batch, outcomes);
  }

  /**
   * applyEntries through the store's asynchronous write batch, sharing the Raft append's commit.
   * This master's writes are answered as soon as their outcomes are computed, before the state's
   * commit: the entries are committed in the Raft log (durable on a quorum), and a restart replays
   * them to the same outcome. Linearizable reads still wait for the state's commit (the driver
   * counts the entries applied only then), so a read after the answer sees the write.
   */
  async applyEntriesAsync(entries: readonly Entry[]): Promise<void> {
    const { batch, envelopes } = this.unpack(entries);
    if (batch.length === 0) return;
    const outcomes = await this.mvcc.applyBatchAsync(batch, (computed) => this.answer(envelopes, computed));
    this.notifyApplied(batch, outcomes);
  }

  private unpack(entries: readonly Entry[]): { batch: LogEntryBytes[]; envelopes: (Envelope | undefined)[] } {
    const batch: LogEntryBytes[] = [];
    const envelopes: (Envelope | undefined)[] = [];
    for (const e of entries) {
      if (e.index <= this.mvcc.appliedIndex) continue;
      const env = e.data.byteLength === 0 ? undefined : decodeEnvelope(e.data);
      if (e.data.byteLength > 0 && env === undefined) {
        this.logger.warn('skipping a log entry that is not a store command', { index: e.index });
      }
      batch.push({ index: e.index, bytes: env?.command });
      envelopes.push(env);
    }
    return { batch, envelopes };
  }

  /** Tells the lease keeper of every applied command, once the state is committed. */
  private notifyApplied(batch: readonly LogEntryBytes[], outcomes: readonly ApplyOutcome[]): void {
    if (this.onApplied === undefined) return;
    for (let i = 0; i < outcomes.length; i++) {
      const outcome = outcomes[i]!;
      if (outcome.status === 'applied') this.onApplied(outcome.response, batch[i]!.bytes!);
    }
  }

  /** Answers this master's own writes with their outcomes. */
  private answer(envelopes: readonly (Envelope | undefined)[], outcomes: readonly ApplyOutcome[]): void {
    for (let i = 0; i < outcomes.length; i++) {
      const outcome = outcomes[i]!;
      const env = envelopes[i];
      if (env === undefined || env.origin !== this.self) continue;
      const p = this.pending.get(env.request);
      if (p === undefined) continue;
      this.pending.delete(env.request);
      clearTimeout(p.timer);
      p.resolve(outcome);
    }
  }

  /** A conf change enters the member registry with the peer address (and name) its context carries. */
  applyConfChange(entry: Entry, cc: ConfChange): void {
    if (cc.type === ConfChangeType.RemoveNode) {
      this.mvcc.applyMembership(entry.index, { type: 'remove', id: cc.nodeId });
      return;
    }
    const ctx = decodeMemberContext(cc.context);
    this.mvcc.applyMembership(entry.index, { type: 'add', id: cc.nodeId, peerAddress: ctx?.address ?? '', name: ctx?.name ?? '' });
  }

  restore(snapshot: Snapshot): void {
    this.mvcc.restore(snapshot.data);
  }

  openSnapshot(): SnapshotView {
    return this.mvcc.openSnapshot();
  }

  /** Registers a write; returns its entry payload and the promise of its outcome. */
  track(command: Command): { payload: Uint8Array; outcome: Promise<ApplyOutcome>; cancel: (err: Error) => void } {
    if (this.pending.size >= MAX_PENDING_WRITES) throw new TooManyRequestsError(MAX_PENDING_WRITES);
    return this.trackEncoded(encodeCommand(command));
  }

  /** track() for a command encoded by encodeCommand or encodeBatch (so canonical and within its bound). */
  trackEncoded(cmd: Uint8Array): { payload: Uint8Array; outcome: Promise<ApplyOutcome>; cancel: (err: Error) => void } {
    if (this.pending.size >= MAX_PENDING_WRITES) throw new TooManyRequestsError(MAX_PENDING_WRITES);
    if (cmd.byteLength > MAX_BATCH_COMMAND_BYTES) throw new RequestTooLargeError(cmd.byteLength, MAX_BATCH_COMMAND_BYTES);
    const request = this.nextRequest++;
    let cancel: (err: Error) => void = () => {};
    const outcome = new Promise<ApplyOutcome>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(request);
        reject(new RequestTimeoutError(WRITE_TIMEOUT_MS));
      }, WRITE_TIMEOUT_MS);
      this.pending.set(request, { resolve, reject, timer });
      cancel = (err) => {
        this.pending.delete(request);
        clearTimeout(timer);
        reject(err);
      };
    });
    // The outcome may be rejected (timeout, leader change) while the caller is still awaiting the
    // proposal; mark it handled now so that is never an unhandled rejection, which would crash
    // the master. The caller still receives the rejection when it awaits the outcome.
    outcome.catch(() => {});
    return { payload: encodeEnvelope({ origin: this.self, request, command: cmd }), outcome, cancel };
  }

  /**
   * The leader changed: writes still waiting may have been lost with the old leader, or may yet
   * commit. Tell their clients now (outcome unknown) instead of after WRITE_TIMEOUT_MS, as etcd's
   * "request timed out, possibly due to previous leader failure" does.
   */
  failWaiting(): void {
    this.failAll(new LeaderChangedError());
  }

  failAll(err: Error): void {
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
  }
}

export class ReplicatedStore {
  /** Coalesces this master's concurrent txns into batch entries. */
  readonly batcher: TxnBatcher;

  constructor(
    readonly raft: RaftNode,
    readonly machine: MvccStateMachine,
  ) {
    this.batcher = new TxnBatcher({ proposeEntry: (command) => this.proposeEntry(command) });
  }

  /** Proposes one txn through the batcher; resolves with its own response once applied here. */
  proposeTxn(txn: TxnRequest): Promise<TxnResponse> {
    return this.batcher.propose(txn);
  }

  /** The Raft node's beforeTakingProposals hook: the txns gathered so far join this turn's append. */
  gatherProposals(): void {
    this.batcher.flush();
  }

  get mvcc(): MvccStore {
    return this.machine.mvcc;
  }

  /** Proposes a command through Raft and resolves with the result of applying it. */
  async write(command: Command): Promise<ApplyOutcome> {
    const { taken, outcome } = this.proposeEntry(encodeCommand(command));
    await taken.catch(() => {});
    return outcome;
  }

  /**
   * Proposes an encoded command (a TxnBatcher's entry). Throws TooManyRequestsError at once when
   * MAX_PENDING_WRITES entries wait; a refusal by Raft rejects both promises.
   */
  proposeEntry(command: Uint8Array): EntryProposal {
    const { payload, outcome, cancel } = this.machine.trackEncoded(command);
    const taken = this.raft.propose(payload).catch((err: unknown) => {
      const translated = translateProposalError(err as Error);
      cancel(translated);
      throw translated;
    });
    // The caller may attend to the outcome only; a refusal reaches it there too.
    taken.catch(() => {});
    return { taken, outcome };
  }

  /** A range read: linearizable by default (ReadIndex), or serializable (local, possibly stale). */
  async range(request: RangeRequest, opts: { serializable?: boolean } & RangeOptions = {}): Promise<RangeResponse> {
    if (opts.serializable !== true) await this.raft.readBarrier();
    return this.mvcc.range(request, opts);
  }
}

/** The core's refusals, in the words an etcd client understands. */
function translateProposalError(err: Error): Error {
  if (err instanceof NodeStoppedError) return new BackendStoppedError();
  if (err instanceof ProposalDroppedError) {
    if (err.reason === ProposalDropReason.NoLeader) return new NoLeaderError();
    if (err.reason === ProposalDropReason.UncommittedLimit) return new TooManyRequestsError(MAX_PENDING_WRITES);
  }
  return err;
}
