// Coalesces concurrent single-txn writes into batch commands: one log entry for many txns, so the
// per-entry costs (envelope, Raft entry, CRC, log record, decode, apply transaction) are paid once
// per batch instead of once per write. Each caller still gets its own answer — its txn's response
// (with its own revision) or the error it alone was rejected with — exactly as if it had proposed
// alone; an error of the whole entry (no leader, leader changed, timeout) reaches every txn in it.
//
// When to close a batch: while an entry of ours waits for the Raft loop to take it into an append
// (the loop is busy persisting a Ready), txns gather; the loop calls flush() just before it takes
// proposals (RaftNode's beforeTakingProposals), so everything gathered joins that append — one
// batch per turn, the rhythm of the driver's group commit. With nothing waiting, the txns of one
// turn of the event loop go together (the flush is deferred with setImmediate), so an idle store
// answers a lone txn without delay. A batch closes early at maxBatchTxns or maxBatchBytes.
//
// A batch of one goes into the log as a plain txn command: nothing changes for light traffic.

import { TooManyRequestsError } from './backend.js';
import { BATCH_OVERHEAD_BYTES, MAX_BATCH_COMMAND_BYTES, MAX_BATCH_TXNS, type TxnRequest, encodeBatch, encodeCommand } from './mvcc/commands.js';
import type { ApplyOutcome, TxnResponse } from './mvcc/responses.js';

/** Bound on txns accepted and not yet answered (queued for a batch, or in one being replicated). */
export const MAX_PENDING_TXNS = 20_000;

/** One log entry handed to the replication layer. */
export interface EntryProposal {
  /** Settles once Raft took the entry (appended at the leader, or forwarded to it), or refused it. */
  readonly taken: Promise<void>;
  /** The outcome of applying the entry at this member; rejects when its fate is unknown or it was refused. */
  readonly outcome: Promise<ApplyOutcome>;
}

/** Proposes an encoded command. May throw (TooManyRequestsError...): every txn of the entry fails. */
export type ProposeEntry = (command: Uint8Array) => EntryProposal;

export interface TxnBatcherOptions {
  readonly proposeEntry: ProposeEntry;
  readonly maxBatchTxns?: number;
  readonly maxBatchBytes?: number;
  readonly maxPendingTxns?: number;
  /** Runs fn after the current turn of the event loop (setImmediate; tests may flush by hand). */
  readonly defer?: (fn: () => void) => void;
}

interface QueuedTxn {
  /** The txn's canonical encoding as a command of its own. */
  readonly bytes: Uint8Array;
  readonly resolve: (response: TxnResponse) => void;
  readonly reject: (error: Error) => void;
}

export interface TxnBatcherStats {
  readonly batches: number;
  readonly txns: number;
  readonly largestBatch: number;
}

export class TxnBatcher {
  private readonly proposeEntry: ProposeEntry;
  private readonly maxBatchTxns: number;
  private readonly maxBatchBytes: number;
  private readonly maxPendingTxns: number;
  private readonly defer: (fn: () => void) => void;
  private queue: QueuedTxn[] = [];
  private queuedBytes = 0;
  /** Txns accepted and not yet answered. Invariant: queue.length <= pending <= maxPendingTxns. */
  private pending = 0;
  /** Entries proposed that Raft has not taken yet. */
  private awaitingTake = 0;
  private flushDeferred = false;
  private stats_ = { batches: 0, txns: 0, largestBatch: 0 };

  constructor(options: TxnBatcherOptions) {
    this.proposeEntry = options.proposeEntry;
    this.maxBatchTxns = Math.min(options.maxBatchTxns ?? MAX_BATCH_TXNS, MAX_BATCH_TXNS);
    this.maxBatchBytes = Math.min(options.maxBatchBytes ?? MAX_BATCH_COMMAND_BYTES, MAX_BATCH_COMMAND_BYTES);
    this.maxPendingTxns = options.maxPendingTxns ?? MAX_PENDING_TXNS;
    this.defer = options.defer ?? ((fn) => setImmediate(fn));
  }

  get stats(): TxnBatcherStats {
    return { ...this.stats_ };
  }

  /** Txns accepted and not yet answered. */
  get pendingTxns(): number {
    return this.pending;
  }

  /**
   * Proposes one txn; resolves with its response once applied at this member. Rejects with
   * InvalidCommandError or RequestTooLargeError (the txn alone), TooManyRequestsError past
   * maxPendingTxns, the MvccError it was rejected with at apply, or the error of its whole entry.
   */
  propose(txn: TxnRequest): Promise<TxnResponse> {
    if (this.pending >= this.maxPendingTxns) return Promise.reject(new TooManyRequestsError(this.maxPendingTxns));
    let bytes: Uint8Array;
    try {
      bytes = encodeCommand({ type: 'txn', compare: txn.compare, success: txn.success, failure: txn.failure });
    } catch (error) {
      return Promise.reject(error as Error);
    }
    return new Promise<TxnResponse>((resolve, reject) => {
      // A txn that would push the queue past the byte bound starts the next batch.
      if (this.queue.length > 0 && this.queuedBytes + bytes.length + BATCH_OVERHEAD_BYTES > this.maxBatchBytes) this.flushOne();
      this.pending++;
      this.queue.push({ bytes, resolve, reject });
      this.queuedBytes += bytes.length;
      if (this.queue.length >= this.maxBatchTxns) this.flushOne();
      else this.deferFlush();
    });
  }

  /** Proposes every queued txn now (the Raft loop calls this just before taking proposals). */
  flush(): void {
    while (this.queue.length > 0) this.flushOne();
  }

  private deferFlush(): void {
    if (this.flushDeferred || this.queue.length === 0) return;
    this.flushDeferred = true;
    this.defer(() => {
      this.flushDeferred = false;
      // Else the Raft loop flushes us when it takes that entry (or deferFlush runs again once it is taken).
      if (this.awaitingTake === 0) this.flush();
    });
  }

  /** Proposes the oldest queued txns as one entry. */
  private flushOne(): void {
    if (this.queue.length === 0) return;
    let n = 0;
    let bytes = BATCH_OVERHEAD_BYTES;
    while (n < this.queue.length && n < this.maxBatchTxns && (n === 0 || bytes + this.queue[n]!.bytes.length <= this.maxBatchBytes)) {
      bytes += this.queue[n]!.bytes.length;
      n++;
    }
    const batch = this.queue.slice(0, n);
    this.queue = this.queue.slice(n);
    this.queuedBytes -= bytes - BATCH_OVERHEAD_BYTES;
    this.stats_.batches++;
    this.stats_.txns += n;
    this.stats_.largestBatch = Math.max(this.stats_.largestBatch, n);
    let proposal: EntryProposal;
    try {
      proposal = this.proposeEntry(batch.length === 1 ? batch[0]!.bytes : encodeBatch(batch.map((t) => t.bytes)));
    } catch (error) {
      this.fail(batch, error as Error);
      this.deferFlush();
      return;
    }
    this.awaitingTake++;
    const taken = (): void => {
      this.awaitingTake--;
      if (this.awaitingTake === 0) this.deferFlush();
    };
    proposal.taken.then(taken, taken);
    proposal.outcome.then(
      (outcome) => this.deliver(batch, outcome),
      (error: unknown) => this.fail(batch, error as Error),
    );
  }

  private deliver(batch: readonly QueuedTxn[], outcome: ApplyOutcome): void {
    this.pending -= batch.length;
    if (outcome.status === 'skipped') {
      const error = new Error(`log index ${outcome.index} was applied twice`);
      for (const t of batch) t.reject(error);
      return;
    }
    if (outcome.status === 'rejected') {
      for (const t of batch) t.reject(outcome.error);
      return;
    }
    const { response } = outcome;
    if (batch.length === 1 && response.type === 'txn') {
      batch[0]!.resolve(response);
      return;
    }
    if (response.type !== 'batch' || response.outcomes.length !== batch.length) {
      const error = new Error(`a batch of ${batch.length} txns was answered with ${response.type}`);
      for (const t of batch) t.reject(error);
      return;
    }
    response.outcomes.forEach((o, i) => {
      if (o.status === 'applied') batch[i]!.resolve(o.response);
      else batch[i]!.reject(o.error);
    });
  }

  private fail(batch: readonly QueuedTxn[], error: Error): void {
    this.pending -= batch.length;
    for (const t of batch) t.reject(error);
  }
}
