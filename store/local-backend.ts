// A single-member Backend over one MvccStore, applied directly: no Raft, no peers. It exists so the
// etcd-compatible face can be tested against real etcd clients without a cluster; nothing else
// should use it. It follows the replicated path where that matters to a client: every write is
// encoded with encodeCommand (so size limits and validation are the log's), applied at the next
// log index, and lease expiry goes through a LeaseKeeper that proposes leaseRevoke commands.
//
// This member is the leader of a one-member cluster from the start, in term LOCAL_RAFT_TERM.

import type { RandomSource } from '../raft/core/raft.js';
import { type Clock, cryptoRandom, systemClock } from '../raft/driver/raft-node.js';
import {
  type Backend,
  type BackendWatcher,
  type ClientCommand,
  ETCD_COMPATIBLE_VERSION,
  type HeaderFacts,
  type LeaseGrantRequest,
  type LeaseTimeToLive,
  LearnerNotReadyError,
  type MemberAddition,
  MemberNotEnoughStartedError,
  MemberNotFoundError,
  MemberNotLearnerError,
  type MemberRecord,
  type MemberStatus,
  PeerUrlExistsError,
  type ReadConsistency,
  BackendStoppedError,
  PROGRESS_NOTIFY_INTERVAL_MS,
  TooManyLearnersError,
} from './backend.js';
import { LEASE_TICK_MS, LeaseKeeper } from './lease-keeper.js';
import { type Command, type RangeRequest, type TxnRequest, encodeCommand } from './mvcc/commands.js';
import type { MvccStore } from './mvcc/kv-store.js';
import type { ApplyOutcome, CommandResponse, LeaseGrantResponse, RangeResponse, ResponseOf, TxnResponse } from './mvcc/responses.js';
import type { RangeOptions } from './mvcc/reader.js';
import { TxnBatcher } from './txn-batcher.js';
import { type WatchRequest, WatchHub } from './mvcc/watch.js';

/** The Raft term a local backend reports: it became leader once, at start. */
export const LOCAL_RAFT_TERM = 1;



/** etcd's limit on learners in a cluster (--experimental-max-learners). */
export const MAX_LEARNERS = 1;

/** Members a cluster record may hold, this one included. */
export const MAX_MEMBERS = 7;

const UINT64_RANGE = 2n ** 64n;

export interface LocalBackendOptions {
  readonly store: MvccStore;
  /** Defaults to a random uint64, as etcd derives ids that look random. */
  readonly memberId?: bigint;
  readonly clusterId?: bigint;
  readonly name?: string;
  readonly peerUrls?: readonly string[];
  readonly clientUrls?: readonly string[];
  readonly clock?: Clock;
  readonly random?: RandomSource;
  /** The size of the database file, for Status (LMDB: (lastPageNumber + 1) * pageSize). */
  readonly dbSizeBytes?: () => number;
  readonly leaseTickMs?: number;
  readonly progressNotifyIntervalMs?: number;
  readonly minLeaseTtlSeconds?: number;
  readonly maxLeases?: number;
}


function randomUint64(random: RandomSource): bigint {
  // Four 16-bit draws; 0 is no id in etcd.
  for (;;) {
    let id = 0n;
    for (let i = 0; i < 4; i++) id = (id << 16n) | BigInt(random.int(0x1_0000));
    if (id !== 0n && id < UINT64_RANGE) return id;
  }
}

export class LocalBackend implements Backend {
  private readonly store: MvccStore;
  private readonly hub: WatchHub;
  private readonly keeper: LeaseKeeper;
  private readonly clock: Clock;
  private readonly random: RandomSource;
  private readonly clusterId: bigint;
  private readonly memberId: bigint;
  private members_: MemberRecord[];
  private readonly timers: unknown[] = [];
  private readonly batcher: TxnBatcher;
  private closed = false;

  constructor(private readonly options: LocalBackendOptions) {
    this.store = options.store;
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? cryptoRandom;
    this.memberId = options.memberId ?? randomUint64(this.random);
    this.clusterId = options.clusterId ?? randomUint64(this.random);
    this.members_ = [
      {
        id: this.memberId,
        name: options.name ?? 'flotilla',
        peerUrls: options.peerUrls ?? ['http://127.0.0.1:2380'],
        clientUrls: options.clientUrls ?? [],
        isLearner: false,
      },
    ];
    this.hub = new WatchHub(this.store);
    this.batcher = new TxnBatcher({
      proposeEntry: (command) => {
        const outcome = this.applyEncoded(command);
        return { taken: Promise.resolve(), outcome: Promise.resolve(outcome) };
      },
    });
    this.keeper = new LeaseKeeper({
      clock: this.clock,
      revoke: (id) => this.propose({ type: 'leaseRevoke', id }),
      ...(options.minLeaseTtlSeconds !== undefined ? { minTtlSeconds: options.minLeaseTtlSeconds } : {}),
      ...(options.maxLeases !== undefined ? { maxLeases: options.maxLeases } : {}),
    });
    this.keeper.becomeLeader(this.store.leases());
    this.timers.push(
      this.clock.setInterval(() => this.keeper.tick(), options.leaseTickMs ?? LEASE_TICK_MS),
      this.clock.setInterval(
        () => this.hub.notifyProgress(),
        options.progressNotifyIntervalMs ?? PROGRESS_NOTIFY_INTERVAL_MS,
      ),
    );
  }

  /** Sets the client URLs this member advertises (known only once its endpoint has bound a port). */
  advertiseClientUrls(urls: readonly string[]): void {
    this.members_ = this.members_.map((m) => (m.id === this.memberId ? { ...m, clientUrls: [...urls] } : m));
  }

  /** Watchers open on the store (tests wait for a watch to be registered before writing). */
  get watcherCount(): number {
    return this.hub.size;
  }

  /** Runs the lease expiry check now (tests with a fake clock call it instead of waiting). */
  tickLeases(): void {
    this.keeper.tick();
  }

  header(): HeaderFacts {
    return {
      clusterId: this.clusterId,
      memberId: this.memberId,
      raftTerm: LOCAL_RAFT_TERM,
      revision: this.store.currentRevision,
      compacting: this.store.compactionInProgress,
    };
  }

  /** Applies a command at the next log index, as a committed entry; the lease keeper hears of lease changes. */
  private apply(command: Command): CommandResponse {
    if (this.closed) throw new BackendStoppedError();
    const outcome = this.applyEncoded(encodeCommand(command));
    switch (outcome.status) {
      case 'rejected':
        throw outcome.error;
      case 'skipped':
        throw new Error(`log index ${outcome.index} was applied twice`);
      case 'applied':
        break;
    }
    if (command.type === 'leaseGrant') this.keeper.granted(command.id, command.ttl);
    if (command.type === 'leaseRevoke') this.keeper.revoked(command.id);
    return outcome.response;
  }

  /** Applies an encoded command (by encodeCommand or encodeBatch) at the next log index. */
  private applyEncoded(entry: Uint8Array): ApplyOutcome {
    if (this.closed) throw new BackendStoppedError();
    return this.store.applyEntry(this.store.appliedIndex + 1, entry);
  }

  async proposeTxn(txn: TxnRequest): Promise<TxnResponse> {
    if (this.closed) throw new BackendStoppedError();
    return this.batcher.propose(txn);
  }

  async propose<C extends ClientCommand>(command: C): Promise<ResponseOf<C['type']>> {
    // apply returns the response of command's own type (the store answers a put with a put response...).
    return this.apply(command) as ResponseOf<C['type']>;
  }

  async range(request: RangeRequest, _consistency: ReadConsistency, options?: RangeOptions): Promise<RangeResponse> {
    if (this.closed) throw new BackendStoppedError();
    // One member: its applied state is the committed state, so every read is linearizable.
    return this.store.range(request, options);
  }

  watch(request: WatchRequest): BackendWatcher {
    if (this.closed) throw new BackendStoppedError();
    return this.hub.watch(request);
  }

  async leaseGrant(request: LeaseGrantRequest): Promise<LeaseGrantResponse> {
    const ttl = this.keeper.grantTtl(request.ttl);
    const release = this.keeper.reserveGrant();
    try {
      const id = request.id !== 0 ? request.id : this.keeper.chooseId(this.random, (id) => this.store.lease(id) !== undefined);
      const response = this.apply({ type: 'leaseGrant', id, ttl });
      if (response.type !== 'leaseGrant') throw new Error(`a lease grant was answered with ${response.type}`);
      return response;
    } finally {
      release();
    }
  }

  async leaseKeepAlive(id: number): Promise<number> {
    if (this.closed) throw new BackendStoppedError();
    return this.keeper.keepAlive(id);
  }

  async leaseTimeToLive(id: number, withKeys: boolean): Promise<LeaseTimeToLive | undefined> {
    if (this.closed) throw new BackendStoppedError();
    const lease = this.store.lease(id);
    const remainingSeconds = this.keeper.remainingSeconds(id);
    if (lease === undefined || remainingSeconds === undefined) return undefined;
    return { id, remainingSeconds, grantedTtl: lease.ttl, keys: withKeys ? lease.keys : [] };
  }

  async leases(): Promise<readonly number[]> {
    return this.store.leases().map((lease) => lease.id);
  }

  async members(): Promise<readonly MemberRecord[]> {
    return this.members_;
  }

  /** Records the member as etcd does before it starts: no name, no client URLs. It never starts. */
  async addMember(peerUrls: readonly string[], isLearner: boolean): Promise<MemberAddition> {
    for (const url of peerUrls) {
      if (this.members_.some((m) => m.peerUrls.includes(url))) throw new PeerUrlExistsError(url);
    }
    if (isLearner && this.members_.filter((m) => m.isLearner).length >= MAX_LEARNERS) {
      throw new TooManyLearnersError(MAX_LEARNERS);
    }
    if (this.members_.length >= MAX_MEMBERS) {
      throw new MemberNotEnoughStartedError(`the cluster has ${MAX_MEMBERS} members already`);
    }
    // A voter that never starts would leave a one-member cluster without a quorum (etcd's strict reconfig check).
    if (!isLearner) {
      throw new MemberNotEnoughStartedError('a local backend cannot reach a quorum with another voter; add a learner');
    }
    let id = randomUint64(this.random);
    while (this.members_.some((m) => m.id === id)) id = randomUint64(this.random);
    const member: MemberRecord = { id, name: '', peerUrls: [...peerUrls], clientUrls: [], isLearner };
    this.members_ = [...this.members_, member];
    return { member, members: this.members_ };
  }

  async removeMember(id: bigint): Promise<readonly MemberRecord[]> {
    if (!this.members_.some((m) => m.id === id)) throw new MemberNotFoundError(id);
    if (id === this.memberId) throw new MemberNotEnoughStartedError('removing the only voter leaves no quorum');
    this.members_ = this.members_.filter((m) => m.id !== id);
    return this.members_;
  }

  async promoteMember(id: bigint): Promise<readonly MemberRecord[]> {
    const member = this.members_.find((m) => m.id === id);
    if (member === undefined) throw new MemberNotFoundError(id);
    if (!member.isLearner) throw new MemberNotLearnerError(id);
    // A learner here never started, so it never caught up with the log.
    throw new LearnerNotReadyError(id);
  }

  async status(): Promise<MemberStatus> {
    const dbSize = this.options.dbSizeBytes?.() ?? 0;
    return {
      version: ETCD_COMPATIBLE_VERSION,
      dbSizeBytes: dbSize,
      dbSizeInUseBytes: dbSize,
      leaderId: this.memberId,
      raftIndex: this.store.appliedIndex,
      raftTerm: LOCAL_RAFT_TERM,
      raftAppliedIndex: this.store.appliedIndex,
      isLearner: false,
      errors: [],
    };
  }

  /** Stops the timers and ends every watcher. The store stays open: it belongs to the caller. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const timer of this.timers) this.clock.clearInterval(timer);
    this.keeper.stepDown();
    this.hub.close();
  }
}
