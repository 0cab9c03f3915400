// The driver around the pure Raft core: timers, durable storage, the network and the state
// machine. One loop handles everything that arrived since its last turn — ticks, peer messages,
// proposals, reads — then every Ready in the order the core demands:
//   persist (one LMDB transaction, one fsync) → send → apply → advance.
// Proposals that arrive while a Ready is being persisted queue up and go into the next append
// together: group commit.

import { randomInt } from 'node:crypto';
import { decodeConfChange, type ConfChange } from '../core/confchange.js';
import { ProposalDroppedError, ProposalDropReason, RaftError } from '../core/errors.js';
import type { RandomSource } from '../core/raft.js';
import { RawNode, type NodeStatus } from '../core/rawnode.js';
import { ReadOnlyOption } from '../core/readonly.js';
import { StateMachineSnapshotStorage } from '../core/state-machine-snapshots.js';
import { SnapshotDataLocation } from '../core/storage.js';
import { EntryType, sendableBeforePersist, type ConfState, type Entry, type Message, type NodeId, type Ready, type Snapshot } from '../core/types.js';
import type { LmdbStorage } from './lmdb-storage.js';
import { SnapshotMaker, type StateSnapshotView } from './snapshot-maker.js';

export { SNAPSHOT_MAKING_SLICE_MS, type StateSnapshotView } from './snapshot-maker.js';

/** Bound on proposals waiting for the loop; past it, propose() fails at once (back-pressure). */
export const MAX_PENDING_PROPOSALS = 10_000;
/** Bound on the bytes of proposals taken into one append. */
export const MAX_PROPOSAL_BATCH_BYTES = 4 * 1024 * 1024;
/** Bound on peer messages waiting for the loop; past it they are dropped (Raft retransmits). */
export const MAX_PENDING_PEER_MESSAGES = 50_000;
/** Bound on reads waiting for a ReadIndex answer. */
export const MAX_PENDING_READS = 10_000;
/** How long a read waits for its ReadIndex answer before failing (a leader change may lose it). */
export const READ_INDEX_TIMEOUT_MS = 5_000;
/** An unanswered ReadIndex request is asked again this often (its answer may have been lost with a leader). */
export const READ_INDEX_RETRY_MS = 500;
/**
 * A resumed (SIGSTOP'ed, or starved) process catches up at most this many missed ticks at once,
 * in lease-read mode; with ReadIndex it runs at most electionTicks - 1 (see turn()).
 */
export const MAX_CATCH_UP_TICKS = 1_000;

export interface Clock {
  /** Monotonic milliseconds. */
  now(): number;
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  setInterval: (fn, ms) => setInterval(fn, ms),
  clearInterval: (h) => clearInterval(h as NodeJS.Timeout),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** Randomness for election timeouts in a real master. */
export const cryptoRandom: RandomSource = { int: (n) => randomInt(n) };

export interface PeerSender {
  send(messages: readonly Message[]): void;
}

/**
 * The application the log drives (the MVCC store, in a master). It lives in the same LMDB
 * environment as the log, and every apply is committed (maybe not yet fsynced) when it returns or
 * resolves: the driver's next fsynced write to the log's environment then makes it durable too,
 * which is what snapshots recorded without data rely on (see maybeSnapshot).
 */
export interface StateMachine {
  /** The highest index already applied and committed: the state machine records it with the state. */
  readonly appliedIndex: number;
  /** Applies committed entries in order, committing them before it returns; indexes <= appliedIndex must be no-ops. */
  applyEntries(entries: readonly Entry[]): void;
  /**
   * Optional: applyEntries through the storage's asynchronous write batch (a state machine in the
   * same LMDB environment as the log). The driver queues it right after a Ready's persist, so both
   * share one commit and one fsync, off the event loop. Entries without a conf change only; it
   * resolves once they are committed, and no other write of the state machine runs meanwhile.
   */
  applyEntriesAsync?(entries: readonly Entry[]): Promise<void>;
  /**
   * Optional: records a committed conf change (the entry's index and the decoded change), so the
   * application can keep what the change's context says (a member's address) with its state.
   * Without it, the driver applies an empty entry at that index. Indexes <= appliedIndex must be
   * no-ops, as for applyEntries.
   */
  applyConfChange?(entry: Entry, cc: ConfChange): void;
  /** Replaces the whole state with a snapshot's. */
  restore(snapshot: Snapshot): void;
  /** The committed state, pinned now (at appliedIndex) and read in chunks later, for a follower's snapshot. */
  openSnapshot(): StateSnapshotView;
}

export interface RaftNodeLogger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export interface RaftNodeOptions {
  readonly id: NodeId;
  readonly storage: LmdbStorage;
  readonly stateMachine: StateMachine;
  readonly transport: PeerSender;
  readonly logger: RaftNodeLogger;
  readonly clock?: Clock;
  readonly random: RandomSource;
  /** Milliseconds per Raft tick. */
  readonly tickMs?: number;
  readonly electionTicks?: number;
  readonly heartbeatTicks?: number;
  readonly readOnlyOption?: ReadOnlyOption;
  /** Take a Raft snapshot (and compact the log) every this many applied entries. */
  readonly snapshotEvery?: number;
  /** Entries kept behind a snapshot, so slightly lagging followers catch up by log, not snapshot. */
  readonly compactionMargin?: number;
  /** Called when the leader this node knew is replaced by another, or lost (0). */
  readonly onLeaderChange?: (lead: NodeId, term: number) => void;
  /** Called after a conf change is applied, with the new membership and the change itself. */
  readonly onConfChange?: (cs: ConfState, cc: ConfChange) => void;
  /**
   * Called in every turn just before pending proposals are taken into the next append. A proposer
   * that gathers writes (the store's TxnBatcher) proposes what it has gathered here, so those
   * writes join this append instead of the next one. It may call propose(); it should not throw.
   */
  readonly beforeTakingProposals?: () => void;
}

export class NodeStoppedError extends RaftError {
  override readonly name = 'NodeStoppedError';
  constructor() {
    super('the raft node is stopped');
  }
}

/**
 * The state machine is behind the latest snapshot, and that snapshot was recorded without data, so
 * nothing can restore it: the state machine lost durable state the log had already been compacted
 * behind (a broken durability rule, or a data file replaced from elsewhere). Never continued past:
 * replaying from the log would skip the missing entries. Wipe the member and let it join again.
 */
export class StateBehindSnapshotError extends RaftError {
  override readonly name = 'StateBehindSnapshotError';
  constructor(
    readonly appliedIndex: number,
    readonly snapshotIndex: number,
    readonly file: string,
  ) {
    super(
      `the state machine in ${file} has applied up to ${appliedIndex}, behind the snapshot at ${snapshotIndex}, ` +
        'which was recorded without data (its state should be in the state machine): the entries in between are gone',
    );
  }
}

export class ReadIndexTimeoutError extends RaftError {
  override readonly name = 'ReadIndexTimeoutError';
  constructor(ms: number) {
    super(`no ReadIndex answer within ${ms} ms (no leader, or leadership changed)`);
  }
}

/** Counters of the driver's loop, for `flotilla status` and benchmarks. Monotonic since start. */
export interface RaftNodeStats {
  readies: number;
  /** Readies whose persist needed an fsync. */
  syncedReadies: number;
  /** Readies that changed only the commit index, which is not written. */
  skippedCommitOnlyReadies: number;
  entriesPersisted: number;
  entriesApplied: number;
  proposalBatches: number;
  proposalsBatched: number;
  largestProposalBatch: number;
  persistMs: number;
  applyMs: number;
  messagesSent: number;
}

interface PendingProposal {
  readonly data: Uint8Array;
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
}

interface PendingRead {
  readonly context: Uint8Array;
  askedAt: number;
  readonly resolve: (index: number) => void;
  readonly reject: (err: Error) => void;
  readonly timer: unknown;
  index: number | undefined;
}

export class RaftNode {
  private readonly raw: RawNode;
  private readonly clock: Clock;
  private readonly tickMs: number;
  private readonly log: RaftNodeLogger;
  private readonly snapshotEvery: number;
  private readonly compactionMargin: number;
  private readonly electionTicks: number;
  /** The core's read mode, which also decides how a turn catches up on missed ticks (turn()). */
  private readonly readOnlyOption: ReadOnlyOption;
  private proposals: PendingProposal[] = [];
  private inbound: Message[] = [];
  private readRequests: Uint8Array[] = [];
  private readonly reads = new Map<string, PendingRead>();
  /** Reads confirmed by the leader, waiting until the state machine reaches their index. */
  private readonly appliedWaiters: { index: number; resolve: () => void }[] = [];
  private nextReadId = 1;
  private lastTickAt: number;
  private ticker: unknown = undefined;
  private scheduled = false;
  private running = false;
  private stopped = false;
  private lastSnapshotIndex: number;
  private applied: number;
  private fatal: Error | undefined = undefined;
  private knownLeader: NodeId = 0;
  /** Makes snapshots with data for followers behind the log (recorded ones carry none). */
  private readonly snapshotMaker: SnapshotMaker;
  readonly stats: RaftNodeStats = {
    readies: 0, syncedReadies: 0, skippedCommitOnlyReadies: 0, entriesPersisted: 0, entriesApplied: 0, proposalBatches: 0,
    proposalsBatched: 0, largestProposalBatch: 0, persistMs: 0, applyMs: 0, messagesSent: 0,
  };

  constructor(private readonly opts: RaftNodeOptions) {
    this.clock = opts.clock ?? systemClock;
    this.tickMs = opts.tickMs ?? 100;
    this.log = opts.logger;
    this.snapshotEvery = opts.snapshotEvery ?? 10_000;
    this.compactionMargin = opts.compactionMargin ?? 5_000;
    this.electionTicks = opts.electionTicks ?? 10;
    this.readOnlyOption = opts.readOnlyOption ?? ReadOnlyOption.Safe;
    const snap = opts.storage.recordedSnapshot();
    if (opts.stateMachine.appliedIndex < snap.metadata.index) {
      // A snapshot from a leader is installed in the log before the state (a crash in between
      // leaves the state behind): restore it from the record. One recorded without data must
      // never be ahead of the state (maybeSnapshot's rule); if it is, stop here.
      if (snap.dataLocation === SnapshotDataLocation.StateMachine) {
        throw new StateBehindSnapshotError(opts.stateMachine.appliedIndex, snap.metadata.index, opts.storage.file);
      }
      opts.stateMachine.restore(opts.storage.snapshot());
    }
    this.lastSnapshotIndex = snap.metadata.index;
    this.applied = snap.metadata.index;
    this.snapshotMaker = new SnapshotMaker({
      openView: () => opts.stateMachine.openSnapshot(),
      now: () => this.clock.now(),
      defer: (fn) => setImmediate(fn),
      logger: this.log,
    });
    // The core re-delivers committed entries after the snapshot: the state machine skips those it
    // already applied, and conf changes among them rebuild the core's membership.
    this.raw = new RawNode({
      id: opts.id,
      storage: new StateMachineSnapshotStorage(opts.storage, this.snapshotMaker),
      electionTick: this.electionTicks,
      heartbeatTick: opts.heartbeatTicks ?? 1,
      random: opts.random,
      applied: snap.metadata.index,
      preVote: true,
      checkQuorum: true,
      readOnlyOption: this.readOnlyOption,
    });
    this.lastTickAt = this.clock.now();
  }

  start(): void {
    this.lastTickAt = this.clock.now();
    this.ticker = this.clock.setInterval(() => this.schedule(), this.tickMs);
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.snapshotMaker.stop();
    if (this.ticker !== undefined) this.clock.clearInterval(this.ticker);
    for (const p of this.proposals) p.reject(new NodeStoppedError());
    this.proposals = [];
    for (const r of this.reads.values()) {
      this.clock.clearTimeout(r.timer);
      r.reject(new NodeStoppedError());
    }
    this.reads.clear();
    while (this.running) await new Promise((r) => setImmediate(r));
  }

  get id(): NodeId {
    return this.opts.id;
  }

  status(): NodeStatus & { readonly appliedIndex: number } {
    return { ...this.raw.status(), appliedIndex: this.applied };
  }

  isLeader(): boolean {
    return this.raw.raft.role === 'leader';
  }

  leaderId(): NodeId {
    return this.raw.raft.lead;
  }

  /** A message from a peer (the transport's onMessage). */
  step(m: Message): void {
    if (this.stopped) return;
    if (this.inbound.length >= MAX_PENDING_PEER_MESSAGES) return; // Raft retransmits
    this.inbound.push(m);
    this.schedule();
  }

  reportUnreachable(id: NodeId): void {
    if (!this.stopped) this.raw.reportUnreachable(id);
  }

  /**
   * The transport saw `id`'s process gone (its port refused a dial). If `id` leads, this follower
   * campaigns within a few ticks instead of an election timeout (see Raft.handleLeaderDown).
   */
  reportPeerDown(id: NodeId): void {
    if (!this.stopped) {
      this.raw.reportPeerDown(id);
      this.schedule();
    }
  }

  reportSnapshot(id: NodeId, ok: boolean): void {
    if (!this.stopped) {
      this.raw.reportSnapshot(id, ok);
      this.schedule();
    }
  }

  /**
   * Proposes data; resolves once it is appended to the leader's log (or forwarded to it), rejects
   * with ProposalDroppedError when refused. Whether it commits, the caller learns from the state
   * machine (it applies the entry).
   */
  propose(data: Uint8Array): Promise<void> {
    if (this.stopped) return Promise.reject(new NodeStoppedError());
    if (this.fatal !== undefined) return Promise.reject(this.fatal);
    if (this.proposals.length >= MAX_PENDING_PROPOSALS) {
      return Promise.reject(new ProposalDroppedError(ProposalDropReason.UncommittedLimit, `${MAX_PENDING_PROPOSALS} proposals pending`));
    }
    return new Promise((resolve, reject) => {
      this.proposals.push({ data, resolve, reject });
      this.schedule();
    });
  }

  proposeConfChange(cc: ConfChange): void {
    this.raw.proposeConfChange(cc);
    this.schedule();
  }

  transferLeadership(to: NodeId): void {
    this.raw.transferLeader(to);
    this.schedule();
  }

  /**
   * A linearizable read barrier: resolves once this node's state machine has applied everything
   * committed before the call (Raft thesis §6.4). Then read the state machine locally.
   */
  readBarrier(): Promise<void> {
    return this.readIndex().then((index) => this.waitApplied(index));
  }

  private readIndex(): Promise<number> {
    if (this.stopped) return Promise.reject(new NodeStoppedError());
    if (this.reads.size >= MAX_PENDING_READS) return Promise.reject(new ReadIndexTimeoutError(0));
    const id = `${this.opts.id}-${this.nextReadId++}`;
    const ctx = new TextEncoder().encode(id);
    return new Promise((resolve, reject) => {
      const timer = this.clock.setTimeout(() => {
        this.reads.delete(id);
        reject(new ReadIndexTimeoutError(READ_INDEX_TIMEOUT_MS));
      }, READ_INDEX_TIMEOUT_MS);
      this.reads.set(id, { context: ctx, askedAt: this.clock.now(), resolve, reject, timer, index: undefined });
      this.readRequests.push(ctx);
      this.schedule();
    });
  }

  private waitApplied(index: number): Promise<void> {
    if (this.applied >= index) return Promise.resolve();
    return new Promise((resolve) => this.appliedWaiters.push({ index, resolve }));
  }

  private schedule(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.run();
    });
  }

  /** A failure to persist or apply leaves the node in an unknown state: stop rather than risk acknowledging something not durable. */
  private failFatally(err: Error): void {
    if (this.fatal !== undefined) return;
    this.fatal = err;
    this.snapshotMaker.stop();
    this.log.error('raft node stopped after a fatal error', { error: err.message, stack: err.stack });
    this.stopped = true;
    if (this.ticker !== undefined) this.clock.clearInterval(this.ticker);
    for (const p of this.proposals) p.reject(err);
    this.proposals = [];
  }

  private async run(): Promise<void> {
    if (this.running || this.stopped) return;
    this.running = true;
    try {
      await this.turn();
    } catch (err) {
      this.failFatally(err as Error);
    } finally {
      this.running = false;
    }
    if (!this.stopped && (this.inbound.length > 0 || this.proposals.length > 0 || this.readRequests.length > 0 || this.raw.hasReady())) {
      this.schedule();
    }
  }

  private async turn(): Promise<void> {
    const now = this.clock.now();
    const due = Math.floor((now - this.lastTickAt) / this.tickMs);
    // The clock is consumed whole: ticks not run below are dropped, never owed to a later turn.
    if (due > 0) this.lastTickAt += due * this.tickMs;
    if (this.readOnlyOption === ReadOnlyOption.LeaseBased) {
      // Lease reads rest on time: a leader serves reads while a quorum acknowledged a heartbeat
      // within the last election timeout of its own ticks. A process back from a pause must see
      // every tick it missed, and step down by check-quorum, before it handles anything, so a
      // stale leader sees its lease expire before it serves a read (an answer waiting in the
      // queue carries an old lease stamp and cannot renew it).
      this.tickCatchUp(Math.min(due, MAX_CATCH_UP_TICKS));
      this.stepInbound();
    } else {
      // With ReadIndex, ticks are only liveness timers: a leader proves itself by a heartbeat
      // quorum for every read and by a quorum for every commit, so no tick is needed for safety.
      // The answers that arrived during a pause are stepped first, and at most electionTicks - 1
      // missed ticks run: a leader crosses at most one check-quorum, which sees those answers
      // (recentActive), and a follower with its leader's heartbeat waiting stays below the
      // election timeout (which is at least electionTicks). Otherwise every pause longer than an
      // election timeout would depose a healthy leader, or start a needless campaign.
      this.stepInbound();
      this.tickCatchUp(Math.min(due, this.electionTicks - 1));
    }
    if (this.opts.beforeTakingProposals !== undefined) {
      try {
        this.opts.beforeTakingProposals();
      } catch (err) {
        this.log.warn('the proposal gatherer failed', { error: (err as Error).message });
      }
    }
    this.takeProposals();
    const reads = this.readRequests;
    this.readRequests = [];
    for (const ctx of reads) this.raw.readIndex(ctx);
    // Re-ask reads whose answer may have been lost (leader change, dropped message).
    for (const r of this.reads.values()) {
      if (now - r.askedAt < READ_INDEX_RETRY_MS) continue;
      r.askedAt = now;
      this.raw.readIndex(r.context);
    }

    while (this.raw.hasReady() && !this.stopped) {
      const rd = this.raw.ready();
      await this.handleReady(rd);
    }
  }

  private tickCatchUp(ticks: number): void {
    for (let i = 0; i < ticks; i++) this.raw.tick();
  }

  private stepInbound(): void {
    const inbound = this.inbound;
    this.inbound = [];
    for (const m of inbound) {
      try {
        this.raw.step(m);
      } catch (err) {
        this.log.warn('dropped a peer message the core refused', { from: m.from, type: m.type, error: (err as Error).message });
      }
    }
  }

  private takeProposals(): void {
    if (this.proposals.length === 0) return;
    let bytes = 0;
    let n = 0;
    while (n < this.proposals.length && (n === 0 || bytes + this.proposals[n]!.data.byteLength <= MAX_PROPOSAL_BATCH_BYTES)) {
      bytes += this.proposals[n]!.data.byteLength;
      n++;
    }
    const batch = this.proposals.slice(0, n);
    this.proposals = this.proposals.slice(n);
    this.stats.proposalBatches++;
    this.stats.proposalsBatched += n;
    this.stats.largestProposalBatch = Math.max(this.stats.largestProposalBatch, n);
    try {
      this.raw.proposeBatch(batch.map((p) => p.data));
      for (const p of batch) p.resolve();
    } catch (err) {
      for (const p of batch) p.reject(err as Error);
    }
  }

  private async handleReady(rd: Ready): Promise<void> {
    const { storage, stateMachine, transport } = this.opts;
    // 1. Persist: snapshot, entries and hard state in one transaction; fsync when needed.
    this.stats.readies++;
    // Appends, heartbeats and forwarded requests go out now, in parallel with our own fsync.
    const early = rd.messages.filter(sendableBeforePersist);
    const late = early.length === rd.messages.length ? [] : rd.messages.filter((m) => !sendableBeforePersist(m));
    if (early.length > 0) transport.send(early);
    const persistStart = this.clock.now();
    // Committed entries go through the state machine's asynchronous apply when it has one (and no
    // snapshot or conf change is involved). Entries already in the durable log are queued right
    // after this Ready's persist, to share its LMDB commit; committed entries that arrive in this
    // very Ready are applied only once it is persisted.
    const last = rd.committedEntries[rd.committedEntries.length - 1];
    const applyAsync =
      stateMachine.applyEntriesAsync !== undefined && rd.snapshot === undefined && last !== undefined &&
      rd.committedEntries.every((e) => e.type !== EntryType.ConfChange);
    const stableIndex = storage.lastIndex();
    let applying: Promise<void> | undefined = undefined;
    const applyEarly = (): void => {
      if (!applyAsync || last.index > stableIndex) return;
      applying = this.applyAsync(rd.committedEntries);
      // Awaited below; a failure must not surface as an unhandled rejection in between.
      applying.catch(() => {});
    };
    if (rd.mustSync || rd.snapshot !== undefined) {
      this.stats.entriesPersisted += rd.entries.length;
      this.stats.syncedReadies++;
      const update = { ...(rd.snapshot ? { snapshot: rd.snapshot } : {}), entries: rd.entries, ...(rd.hardState ? { hardState: rd.hardState } : {}) };
      const persisted = storage.persist(update, true);
      applyEarly();
      await persisted;
    } else if (rd.hardState !== undefined) {
      // Only the commit index changed: nothing is written. Raft's commitIndex is volatile state;
      // a restarted node counts what it applied as committed (the core's constructor) and learns
      // the rest from the leader, and the next term, vote or entries persist it anyway. Skipping
      // the write saves an LMDB commit and its fsync on every member for every append.
      this.stats.skippedCommitOnlyReadies++;
    }
    if (rd.softState !== undefined && rd.softState.lead !== this.knownLeader) {
      const previous = this.knownLeader;
      this.knownLeader = rd.softState.lead;
      this.log.info('leader changed', { from: previous, to: rd.softState.lead, term: this.raw.raft.term, role: this.raw.raft.role });
      // Learning of a leader after none changes nothing for waiting writes (without a leader,
      // proposals are refused at once); losing or replacing a known one may strand them.
      if (previous !== 0) this.opts.onLeaderChange?.(rd.softState.lead, this.raw.raft.term);
    }
    // 2. Only now may votes and acknowledgements leave.
    const applyStart = this.clock.now();
    this.stats.persistMs += applyStart - persistStart;
    this.stats.messagesSent += rd.messages.length;
    if (late.length > 0) transport.send(late);
    // 3. Apply.
    if (rd.snapshot !== undefined) {
      stateMachine.restore(rd.snapshot);
      this.applied = rd.snapshot.metadata.index;
      this.lastSnapshotIndex = rd.snapshot.metadata.index;
    }
    if (applyAsync) await (applying ?? this.applyAsync(rd.committedEntries));
    else if (rd.committedEntries.length > 0) this.apply(rd.committedEntries);
    this.stats.entriesApplied += rd.committedEntries.length;
    this.stats.applyMs += this.clock.now() - applyStart;
    this.raw.advance(rd);
    // 4. Reads the leader confirmed.
    for (const rs of rd.readStates) {
      const id = new TextDecoder().decode(rs.context);
      const r = this.reads.get(id);
      if (r === undefined) continue;
      this.reads.delete(id);
      this.clock.clearTimeout(r.timer);
      r.resolve(rs.index);
    }
    this.releaseAppliedWaiters();
    this.maybeSnapshot();
    // Here the state machine is committed exactly at `applied` (this Ready's apply has settled,
    // and no other runs), and the core's membership is the one at `applied`.
    this.snapshotMaker.startIfRequested(() => ({ index: this.applied, term: storage.term(this.applied), confState: this.raw.status().confState }));
  }

  private apply(entries: readonly Entry[]): void {
    const { stateMachine } = this.opts;
    let run: Entry[] = [];
    const flush = (): void => {
      if (run.length > 0) stateMachine.applyEntries(run);
      run = [];
    };
    for (const e of entries) {
      if (e.type === EntryType.ConfChange) {
        flush();
        const cc = decodeConfChange(e.data);
        const cs = this.raw.applyConfChange(cc);
        // The state machine records the index (the change, or an empty entry) so replays skip it.
        if (stateMachine.applyConfChange !== undefined) stateMachine.applyConfChange(e, cc);
        else stateMachine.applyEntries([{ ...e, type: EntryType.Normal, data: new Uint8Array(0) }]);
        this.log.info('membership changed', { change: cc.type, node: cc.nodeId, voters: cs.voters, learners: cs.learners, index: e.index });
        this.opts.onConfChange?.(cs, cc);
      } else {
        run.push(e);
      }
    }
    flush();
    this.applied = entries[entries.length - 1]!.index;
  }

  private async applyAsync(entries: readonly Entry[]): Promise<void> {
    await this.opts.stateMachine.applyEntriesAsync!(entries);
    this.applied = Math.max(this.applied, entries[entries.length - 1]!.index);
  }

  private releaseAppliedWaiters(): void {
    if (this.appliedWaiters.length === 0) return;
    let w = 0;
    for (const waiter of this.appliedWaiters) {
      if (waiter.index <= this.applied) waiter.resolve();
      else this.appliedWaiters[w++] = waiter;
    }
    this.appliedWaiters.length = w;
  }

  /**
   * Every snapshotEvery applied entries, records a snapshot WITHOUT data (its state is the state
   * machine's) and compacts the log behind it, keeping compactionMargin entries.
   *
   * Durability rule: a snapshot recorded without data at index I needs the state at >= I durable,
   * since the log up to I - compactionMargin is deleted next. It holds because I = applied, and
   * `applied` only counts entries whose apply has been committed in LMDB (apply() after
   * applyEntries returns, which commits synchronously; applyAsync after the write batch's commit
   * resolves), and recordSnapshot is itself a synchronous, fsynced commit in the same environment,
   * made after those: the meta page it makes durable names a tree holding every earlier commit,
   * including applies committed without a meta-page sync (MvccStore's APPLY_BATCH_TXN_FLAGS).
   * Compaction is a later transaction still.
   */
  private maybeSnapshot(): void {
    if (this.applied - this.lastSnapshotIndex < this.snapshotEvery) return;
    const { storage } = this.opts;
    const index = this.applied;
    storage.recordSnapshot(index, this.raw.status().confState);
    this.lastSnapshotIndex = index;
    const compactTo = index - this.compactionMargin;
    if (compactTo > storage.firstIndex()) storage.compact(compactTo);
    this.log.info('snapshot taken', { index, compactedTo: Math.max(compactTo, storage.firstIndex() - 1) });
  }
}
