// The etcd face's Backend over a replicated store member: writes go through Raft, linearizable
// reads wait for a read index, lease deadlines are kept by the leader (a LeaseKeeper that runs only
// while this member leads), and membership changes are Raft conf changes.
//
// Lease keep-alive and time-to-live need the leader's deadlines: a follower forwards them to the
// leader (LeaderForwarder), as etcd does.

import { ConfChangeType, type ConfChange } from '../raft/core/confchange.js';
import { ProposalDroppedError, ProposalDropReason } from '../raft/core/errors.js';
import type { RandomSource } from '../raft/core/raft.js';
import type { ConfState, NodeId } from '../raft/core/types.js';
import { ReadIndexTimeoutError, cryptoRandom, systemClock, type Clock } from '../raft/driver/raft-node.js';
import {
  BackendStoppedError,
  ETCD_COMPATIBLE_VERSION,
  LearnerNotReadyError,
  MemberNotFoundError,
  MemberNotLearnerError,
  NoLeaderError,
  NotLeaderError,
  PROGRESS_NOTIFY_INTERVAL_MS,
  PeerUrlExistsError,
  RequestTimeoutError,
  type Backend,
  type BackendWatcher,
  type ClientCommand,
  type HeaderFacts,
  type LeaseGrantRequest,
  type LeaseTimeToLive,
  type MemberAddition,
  type MemberRecord,
  type MemberStatus,
  type ReadConsistency,
} from './backend.js';
import type { LeaderForwarder } from './leader-forwarder.js';
import { LEASE_TICK_MS, LeaseKeeper } from './lease-keeper.js';
import type { StoreMember } from './member.js';
import { encodeMemberContext, memberIdFromAddress, type MemberContext } from './members.js';
import { decodeCommand, type Command, type RangeRequest, type TxnRequest } from './mvcc/commands.js';
import type { CommandResponse, LeaseGrantResponse, RangeResponse, ResponseOf, TxnResponse } from './mvcc/responses.js';
import type { RangeOptions } from './mvcc/reader.js';
import { WatchHub, type WatchRequest } from './mvcc/watch.js';

/** How long a membership change may take to be applied before the call fails (it may still apply). */
export const CONF_CHANGE_TIMEOUT_MS = 10_000;
/** A publish that failed (no leader yet, a leader change) is retried after this long. */
export const PUBLISH_RETRY_MS = 250;

export interface RaftBackendOptions {
  readonly member: StoreMember;
  readonly clusterId: bigint;
  /**
   * Every member this process knows of from its flags. Consulted only for a member the replicated
   * registry has no record of (a data directory written before the registry existed).
   */
  readonly knownMembers: ReadonlyMap<NodeId, MemberContext>;
  /** This member's name, published through the log once it starts. */
  readonly name: string;
  /** This member's etcd client URL, published with its name; '' for none. */
  readonly clientUrl: string;
  readonly clock?: Clock;
  readonly random?: RandomSource;
  readonly dbSizeBytes?: () => number;
  /** Forwards leader-only lease requests; without it a follower answers NotLeaderError. */
  readonly forwarder?: LeaderForwarder;
}

export class RaftBackend implements Backend {
  private readonly hub: WatchHub;
  private readonly keeper: LeaseKeeper;
  private readonly clock: Clock;
  private readonly random: RandomSource;
  private readonly timers: unknown[] = [];
  private leading = false;
  private closed = false;
  private readonly confWaiters: { match: (cc: ConfChange) => boolean; resolve: () => void }[] = [];

  constructor(private readonly opts: RaftBackendOptions) {
    this.clock = opts.clock ?? systemClock;
    this.random = opts.random ?? cryptoRandom;
    const mvcc = opts.member.store.mvcc;
    this.hub = new WatchHub(mvcc);
    this.keeper = new LeaseKeeper({ clock: this.clock, revoke: (id) => this.proposeAny({ type: 'leaseRevoke', id }) });
    opts.member.store.machine.onApplied = (response, command) => this.followLeases(response, command);
    this.timers.push(
      this.clock.setInterval(() => this.leaseTick(), LEASE_TICK_MS),
      this.clock.setInterval(() => this.hub.notifyProgress(), PROGRESS_NOTIFY_INTERVAL_MS),
    );
  }

  /** The member calls this from its onConfChange hook. */
  confChanged(_cs: ConfState, cc: ConfChange): void {
    for (let i = this.confWaiters.length - 1; i >= 0; i--) {
      const w = this.confWaiters[i]!;
      if (w.match(cc)) {
        this.confWaiters.splice(i, 1);
        w.resolve();
      }
    }
  }

  /**
   * A member, its name and peer address from the replicated registry (which conf changes, publishes
   * and snapshots keep), or from the flags for a member the registry has never recorded.
   */
  memberContext(id: NodeId): (MemberContext & { readonly clientUrls: readonly string[] }) | undefined {
    const m = this.mvcc.member(id);
    if (m !== undefined) return { name: m.name, address: m.peerAddress, clientUrls: m.clientUrls };
    const flagged = this.opts.knownMembers.get(id);
    return flagged === undefined ? undefined : { ...flagged, clientUrls: [] };
  }

  /**
   * Publishes this member's name and client URL through the log (etcd's publish at startup), and
   * retries until it is applied here or the backend closes. Nothing is proposed when the registry
   * already holds them (a restart with the same flags).
   */
  async publish(): Promise<void> {
    const clientUrls = this.opts.clientUrl.length > 0 ? [this.opts.clientUrl] : [];
    const self = this.opts.member.id;
    const published = (): boolean => {
      const m = this.mvcc.member(self);
      return m !== undefined && m.name === this.opts.name && m.clientUrls.join(',') === clientUrls.join(',');
    };
    while (!this.closed && !published()) {
      try {
        // A member learns it is one from the log; until then a publish would change nothing.
        if (this.mvcc.member(self) !== undefined) {
          await this.proposeAny({ type: 'memberPublish', id: self, name: this.opts.name, clientUrls });
          continue;
        }
      } catch {
        // No leader yet, a leader change, a timeout: try again.
      }
      await new Promise<void>((resolve) => this.clock.setTimeout(resolve, PUBLISH_RETRY_MS));
    }
  }

  close(): void {
    this.closed = true;
    for (const t of this.timers) this.clock.clearInterval(t);
    this.hub.close();
  }

  private get raft() {
    return this.opts.member.raft;
  }

  private get mvcc() {
    return this.opts.member.store.mvcc;
  }

  /** Starts or stops keeping lease deadlines as this member gains or loses leadership. */
  private leaseTick(): void {
    const leader = this.raft.isLeader();
    if (leader && !this.leading) this.keeper.becomeLeader(this.mvcc.leases());
    if (!leader && this.leading) this.keeper.stepDown();
    this.leading = leader;
    if (leader) this.keeper.tick();
  }

  private followLeases(response: CommandResponse, command: Uint8Array): void {
    if (!this.leading) return;
    if (response.type === 'leaseGrant') this.keeper.granted(response.id, response.ttl);
    if (response.type === 'leaseRevoke') {
      const cmd = decodeCommand(command);
      if (cmd.type === 'leaseRevoke') this.keeper.revoked(cmd.id);
    }
  }

  isLeader(): boolean {
    return this.raft.isLeader();
  }

  header(): HeaderFacts {
    return {
      clusterId: this.opts.clusterId,
      memberId: BigInt(this.opts.member.id),
      raftTerm: this.raft.status().term,
      revision: this.mvcc.currentRevision,
      compacting: this.mvcc.compactionInProgress,
    };
  }

  private async proposeAny(command: Command): Promise<CommandResponse> {
    if (this.closed) throw new BackendStoppedError();
    const outcome = await this.opts.member.store.write(command);
    switch (outcome.status) {
      case 'applied':
        return outcome.response;
      case 'rejected':
        throw outcome.error;
      case 'skipped':
        throw new Error(`log index ${outcome.index} was applied twice`);
    }
  }

  async propose<C extends ClientCommand>(command: C): Promise<ResponseOf<C['type']>> {
    return (await this.proposeAny(command)) as ResponseOf<C['type']>;
  }

  async proposeTxn(txn: TxnRequest): Promise<TxnResponse> {
    if (this.closed) throw new BackendStoppedError();
    return this.opts.member.store.proposeTxn(txn);
  }


  async range(request: RangeRequest, consistency: ReadConsistency, options?: RangeOptions): Promise<RangeResponse> {
    if (this.closed) throw new BackendStoppedError();
    try {
      return await this.opts.member.store.range(request, { serializable: consistency === 'serializable', ...options });
    } catch (err) {
      if (err instanceof ReadIndexTimeoutError) {
        throw this.raft.leaderId() === 0 ? new NoLeaderError() : new RequestTimeoutError(5_000);
      }
      throw err;
    }
  }

  watch(request: WatchRequest): BackendWatcher {
    if (this.closed) throw new BackendStoppedError();
    return this.hub.watch(request);
  }

  private requireLeader(): void {
    if (this.raft.isLeader()) return;
    const lead = this.raft.leaderId();
    throw lead === 0 ? new NoLeaderError() : new NotLeaderError(BigInt(lead));
  }

  async leaseGrant(request: LeaseGrantRequest): Promise<LeaseGrantResponse> {
    const ttl = this.keeper.grantTtl(request.ttl);
    const id = request.id !== 0 ? request.id : this.keeper.chooseId(this.random, (id) => this.mvcc.lease(id) !== undefined);
    const response = await this.proposeAny({ type: 'leaseGrant', id, ttl });
    if (response.type !== 'leaseGrant') throw new Error(`a lease grant was answered with ${response.type}`);
    return response;
  }

  /** The leader's peer address when this member is a follower that can forward, else undefined. */
  private forwardTarget(): string | undefined {
    if (this.raft.isLeader() || this.opts.forwarder === undefined) return undefined;
    const lead = this.raft.leaderId();
    if (lead === 0) throw new NoLeaderError();
    return this.memberContext(lead)?.address;
  }

  async leaseKeepAlive(id: number): Promise<number> {
    if (this.closed) throw new BackendStoppedError();
    const leader = this.forwardTarget();
    if (leader !== undefined) return this.opts.forwarder!.keepAlive(leader, id);
    this.requireLeader();
    if (!this.leading) this.leaseTick();
    return this.keeper.keepAlive(id);
  }

  async leaseTimeToLive(id: number, withKeys: boolean): Promise<LeaseTimeToLive | undefined> {
    if (this.closed) throw new BackendStoppedError();
    const leader = this.forwardTarget();
    if (leader !== undefined) return this.opts.forwarder!.timeToLive(leader, id, withKeys);
    this.requireLeader();
    if (!this.leading) this.leaseTick();
    const lease = this.mvcc.lease(id);
    const remainingSeconds = this.keeper.remainingSeconds(id);
    if (lease === undefined || remainingSeconds === undefined) return undefined;
    return { id, remainingSeconds, grantedTtl: lease.ttl, keys: withKeys ? lease.keys : [] };
  }

  async leases(): Promise<readonly number[]> {
    return this.mvcc.leases().map((l) => l.id).sort((a, b) => a - b);
  }

  private record(id: NodeId, isLearner: boolean): MemberRecord {
    const ctx = this.memberContext(id);
    // This member knows its own client URL before its publish is applied.
    const own = id === this.opts.member.id && this.opts.clientUrl.length > 0 ? [this.opts.clientUrl] : [];
    return {
      id: BigInt(id),
      name: ctx?.name ?? '',
      peerUrls: ctx === undefined || ctx.address.length === 0 ? [] : [`http://${ctx.address}`],
      clientUrls: ctx !== undefined && ctx.clientUrls.length > 0 ? ctx.clientUrls : own,
      isLearner,
    };
  }

  async members(): Promise<readonly MemberRecord[]> {
    const cs = this.raft.status().confState;
    return [...cs.voters.map((id) => this.record(id, false)), ...cs.learners.map((id) => this.record(id, true))];
  }

  private async changeMembership(cc: ConfChange): Promise<void> {
    this.requireLeader();
    const applied = new Promise<void>((resolve, reject) => {
      const timer = this.clock.setTimeout(() => reject(new RequestTimeoutError(CONF_CHANGE_TIMEOUT_MS)), CONF_CHANGE_TIMEOUT_MS);
      this.confWaiters.push({
        match: (c) => c.type === cc.type && c.nodeId === cc.nodeId,
        resolve: () => {
          this.clock.clearTimeout(timer);
          resolve();
        },
      });
    });
    try {
      this.raft.proposeConfChange(cc);
    } catch (err) {
      if (err instanceof ProposalDroppedError && err.reason === ProposalDropReason.LearnerNotReady) throw new LearnerNotReadyError(BigInt(cc.nodeId));
      throw err;
    }
    await applied;
  }

  async addMember(peerUrls: readonly string[], isLearner: boolean): Promise<MemberAddition> {
    const address = (peerUrls[0] ?? '').replace(/^https?:\/\//, '').replace(/\/$/, '');
    const id = memberIdFromAddress(address);
    const cs = this.raft.status().confState;
    if ([...cs.voters, ...cs.learners].includes(id)) throw new PeerUrlExistsError(peerUrls[0] ?? '');
    await this.changeMembership({
      type: isLearner ? ConfChangeType.AddLearner : ConfChangeType.AddNode,
      nodeId: id,
      context: encodeMemberContext({ name: '', address }),
    });
    return { member: this.record(id, isLearner), members: await this.members() };
  }

  async removeMember(id: bigint): Promise<readonly MemberRecord[]> {
    const nodeId = Number(id);
    const cs = this.raft.status().confState;
    if (![...cs.voters, ...cs.learners].includes(nodeId)) throw new MemberNotFoundError(id);
    await this.changeMembership({ type: ConfChangeType.RemoveNode, nodeId, context: '' });
    return this.members();
  }

  async promoteMember(id: bigint): Promise<readonly MemberRecord[]> {
    const nodeId = Number(id);
    const cs = this.raft.status().confState;
    if (cs.voters.includes(nodeId)) throw new MemberNotLearnerError(id);
    if (!cs.learners.includes(nodeId)) throw new MemberNotFoundError(id);
    await this.changeMembership({ type: ConfChangeType.AddNode, nodeId, context: encodeMemberContext(this.memberContext(nodeId) ?? { name: '', address: '' }) });
    return this.members();
  }

  async status(): Promise<MemberStatus> {
    const st = this.raft.status();
    const size = this.opts.dbSizeBytes?.() ?? 0;
    return {
      version: ETCD_COMPATIBLE_VERSION,
      dbSizeBytes: size,
      dbSizeInUseBytes: size,
      leaderId: BigInt(st.lead),
      raftIndex: st.commit,
      raftTerm: st.term,
      raftAppliedIndex: st.appliedIndex,
      isLearner: st.confState.learners.includes(st.id),
      errors: [],
    };
  }
}
