// The Raft state machine (the shape of etcd-io/raft's raft.go). Pure and deterministic: no clock,
// no randomness except the injected source, no I/O. Everything it wants done comes out through
// `msgs` and the log's unstable part, collected by RawNode into a Ready.
//
// Paper references: §5.2 election, §5.3 replication, §5.4 safety, §6 membership, §6.4 reads,
// §9.6 pre-vote (all from Ongaro's thesis), §3.10 leadership transfer.

import { ConfChangeType, applyToConfState, decodeConfChange, type ConfChange } from './confchange.js';
import { CompactedError, ProposalDropReason, ProposalDroppedError, RaftInvariantError, SnapshotTemporarilyUnavailableError } from './errors.js';
import { RaftLog } from './log.js';
import { ProgressState, type Progress } from './progress.js';
import { VoteResult } from './quorum.js';
import { ReadOnly, ReadOnlyOption } from './readonly.js';
import type { Storage } from './storage.js';
import { ProgressTracker } from './tracker.js';
import {
  EntryType,
  MessageType,
  NONE,
  Role,
  entriesSize,
  message,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  type NodeId,
  type ReadState,
  type Snapshot,
  type SoftState,
} from './types.js';

/** A source of randomness, injected so the simulator can replay a run from its seed. */
export interface RandomSource {
  /** A uniformly distributed integer in [0, n). */
  int(n: number): number;
}

/**
 * Deliberate bugs for the simulator's self-test: the simulator must catch each of them. Never set
 * outside tests.
 */
export interface TestingBugs {
  /** Count every vote response, so a duplicated message counts twice. */
  readonly countDuplicateVotes?: boolean;
  /** Commit entries of older terms by counting replicas (violates §5.4.2, Figure 8). */
  readonly commitOlderTermsByCounting?: boolean;
  /** Act on a peer-down hint in lease-read mode too (a live leader's lease then lies). */
  readonly peerDownHintInLeaseMode?: boolean;
}

export interface RaftConfig {
  readonly id: NodeId;
  readonly storage: Storage;
  /** Ticks without hearing a leader before a follower campaigns; randomized in [e, 2e). */
  readonly electionTick: number;
  /** Ticks between a leader's heartbeats; must be < electionTick. */
  readonly heartbeatTick: number;
  readonly random: RandomSource;
  /** The index the application has applied already (restarts); 0 for a fresh state machine. */
  readonly applied?: number;
  /** Bound on the entry bytes in one append message (at least one entry is always sent). */
  readonly maxSizePerMsg?: number;
  /** Bound on appends in flight to one follower (the pipelining window). */
  readonly maxInflightMsgs?: number;
  /** Bound on the bytes of proposed but uncommitted entries at the leader; 0 means no bound. */
  readonly maxUncommittedEntriesSize?: number;
  /** Bound on the bytes of committed entries handed out in one Ready. */
  readonly maxCommittedSizePerReady?: number;
  /** Bound on read requests waiting for a leader's first commit in its term or a heartbeat quorum. */
  readonly maxPendingReads?: number;
  readonly preVote?: boolean;
  readonly checkQuorum?: boolean;
  readonly readOnlyOption?: ReadOnlyOption;
  /** How far (in entries) a learner may lag the leader's commit index and still be promoted. */
  readonly maxLearnerLagForPromotion?: number;
  readonly testingBugs?: TestingBugs;
}

export const DEFAULT_MAX_SIZE_PER_MSG = 1024 * 1024;
export const DEFAULT_MAX_INFLIGHT_MSGS = 256;
export const DEFAULT_MAX_UNCOMMITTED_ENTRIES_SIZE = 64 * 1024 * 1024;
export const DEFAULT_MAX_COMMITTED_SIZE_PER_READY = 16 * 1024 * 1024;
export const DEFAULT_MAX_PENDING_READS = 10_000;
export const DEFAULT_MAX_LEARNER_LAG = 1000;
/**
 * Lease reads are served only while a quorum acknowledged a heartbeat sent less than
 * electionTimeout - LEASE_SAFETY_MARGIN_TICKS ticks ago. The margin absorbs the phase difference
 * between two nodes' tick timers (up to one tick each way); clock-rate drift must stay below it.
 */
export const LEASE_SAFETY_MARGIN_TICKS = 2;

function encodeLeaseStamp(tick: number): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setFloat64(0, tick);
  return b;
}

function decodeLeaseStamp(ctx: Uint8Array): number | undefined {
  if (ctx.byteLength !== 8) return undefined;
  const v = new DataView(ctx.buffer, ctx.byteOffset, 8).getFloat64(0);
  return Number.isSafeInteger(v) && v >= 0 ? v : undefined;
}

/**
 * A follower told that its leader's process is gone (MessageType.PeerDown) campaigns after
 * 1 + PEER_DOWN_CAMPAIGN_STAGGER_TICKS × rank ticks, its rank being its place among the other
 * voters in id order. The survivors learn of the death at the same moment (their connections to
 * the leader close together), so a random delay of a few ticks makes them collide: measured with
 * 1..3 random ticks, 3 of 17 kills of a bench cluster's leader ended in a split vote and a second
 * election timeout.
 * Two ticks apart, the first one's pre-vote and vote are answered long before the second starts.
 */
export const PEER_DOWN_CAMPAIGN_STAGGER_TICKS = 2;

/** The context of a vote that a leadership transfer asked for: voters ignore their leader lease for it. */
export const CAMPAIGN_TRANSFER = new TextEncoder().encode('CampaignTransfer');

function isCampaignTransfer(ctx: Uint8Array): boolean {
  if (ctx.byteLength !== CAMPAIGN_TRANSFER.byteLength) return false;
  for (let i = 0; i < ctx.byteLength; i++) if (ctx[i] !== CAMPAIGN_TRANSFER[i]) return false;
  return true;
}

const CampaignType = { PreElection: 'pre-election', Election: 'election', Transfer: 'transfer' } as const;
type CampaignType = (typeof CampaignType)[keyof typeof CampaignType];

export class Raft {
  readonly id: NodeId;
  term = 0;
  vote: NodeId = NONE;
  lead: NodeId = NONE;
  role: Role = Role.Follower;
  readonly raftLog: RaftLog;
  readonly prs: ProgressTracker;
  /** Outgoing messages; RawNode hands them out in a Ready, to send after persisting. */
  msgs: Message[] = [];
  readStates: ReadState[] = [];

  /** The leader's pending leadership transfer target, or NONE. */
  leadTransferee: NodeId = NONE;
  /** Index of the latest conf change the leader appended; a new one waits until it is applied. */
  pendingConfIndex = 0;
  /** Bytes of entries the leader appended and has not seen applied. */
  uncommittedSize = 0;
  /** Reads awaiting a heartbeat quorum; they belong to one term and are discarded with it. */
  private readOnly: ReadOnly;
  /** Read requests that arrived before this leader committed an entry of its term. */
  private pendingReadIndexMessages: Message[] = [];

  electionElapsed = 0;
  private heartbeatElapsed = 0;
  /** Ticks since this node started: its local monotonic clock, used for leases. */
  private tickCount = 0;
  /** Lease mode: per voter, the send tick of the newest heartbeat it acknowledged this term. */
  private leaseAcks = new Map<NodeId, number>();
  /** Set once this leader started a leadership transfer: forced votes ignore leases. */
  private leaseRevoked = false;
  private randomizedElectionTimeout = 0;

  readonly electionTimeout: number;
  readonly heartbeatTimeout: number;
  readonly checkQuorum: boolean;
  readonly preVote: boolean;
  private readonly maxMsgSize: number;
  private readonly maxUncommittedSize: number;
  readonly maxCommittedSizePerReady: number;
  private readonly maxPendingReads: number;
  private readonly maxLearnerLag: number;
  private readonly random: RandomSource;
  private readonly bugs: TestingBugs;

  private stepRole: (m: Message) => void;
  private tickRole: () => void;

  constructor(cfg: RaftConfig) {
    if (!Number.isSafeInteger(cfg.id) || cfg.id <= 0) throw new RaftInvariantError(`node id ${cfg.id} must be a positive integer`);
    if (cfg.heartbeatTick <= 0) throw new RaftInvariantError('heartbeatTick must be > 0');
    if (cfg.electionTick <= cfg.heartbeatTick) throw new RaftInvariantError('electionTick must be > heartbeatTick');
    const readOnlyOption = cfg.readOnlyOption ?? ReadOnlyOption.Safe;
    if (readOnlyOption === ReadOnlyOption.LeaseBased && cfg.checkQuorum !== true) {
      throw new RaftInvariantError('lease-based reads need checkQuorum: without it a deposed leader could serve stale reads');
    }
    this.id = cfg.id;
    this.electionTimeout = cfg.electionTick;
    this.heartbeatTimeout = cfg.heartbeatTick;
    this.checkQuorum = cfg.checkQuorum ?? false;
    this.preVote = cfg.preVote ?? false;
    this.maxMsgSize = cfg.maxSizePerMsg ?? DEFAULT_MAX_SIZE_PER_MSG;
    this.maxUncommittedSize = cfg.maxUncommittedEntriesSize ?? DEFAULT_MAX_UNCOMMITTED_ENTRIES_SIZE;
    this.maxCommittedSizePerReady = cfg.maxCommittedSizePerReady ?? DEFAULT_MAX_COMMITTED_SIZE_PER_READY;
    this.maxPendingReads = cfg.maxPendingReads ?? DEFAULT_MAX_PENDING_READS;
    this.maxLearnerLag = cfg.maxLearnerLagForPromotion ?? DEFAULT_MAX_LEARNER_LAG;
    this.random = cfg.random;
    this.bugs = cfg.testingBugs ?? {};
    this.readOnly = new ReadOnly(readOnlyOption);
    this.raftLog = new RaftLog(cfg.storage);
    this.prs = new ProgressTracker(cfg.maxInflightMsgs ?? DEFAULT_MAX_INFLIGHT_MSGS);

    const { hardState, confState } = cfg.storage.initialState();
    this.prs.applyConfState(confState, this.raftLog.lastIndex() + 1);
    if (hardState.term !== 0 || hardState.vote !== NONE || hardState.commit !== 0) this.loadState(hardState);
    if (cfg.applied !== undefined && cfg.applied > 0) {
      // What the application applied was committed. The stored commit index may be older (the
      // driver does not write a Ready that changes only the commit index: commitIndex is volatile
      // state in Raft), so the restarted node counts at least that much as committed.
      if (cfg.applied > this.raftLog.committed && cfg.applied <= this.raftLog.lastIndex()) this.raftLog.commitTo(cfg.applied);
      this.raftLog.appliedTo(cfg.applied);
    }

    this.stepRole = this.stepFollower;
    this.tickRole = this.tickElection;
    this.becomeFollower(this.term, NONE);
  }

  /** One unit of logical time. The driver calls it at a fixed rate, catching up missed ticks. */
  tick(): void {
    this.tickCount++;
    this.tickRole();
  }

  private get leaseReads(): boolean {
    return this.readOnly.option === ReadOnlyOption.LeaseBased;
  }

  private loadState(hs: HardState): void {
    if (hs.commit > this.raftLog.lastIndex()) {
      throw new RaftInvariantError(`stored commit ${hs.commit} is past the last index ${this.raftLog.lastIndex()}`);
    }
    // A stored commit below the snapshot is stale, not wrong: the commit index may be written
    // lazily, and everything a snapshot covers is committed (the log starts committed there).
    this.raftLog.committed = Math.max(hs.commit, this.raftLog.committed);
    this.term = hs.term;
    this.vote = hs.vote;
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.raftLog.committed };
  }

  softState(): SoftState {
    return { lead: this.lead, role: this.role };
  }

  /** A voter that can become leader: in the configuration, not a learner, not installing a snapshot. */
  promotable(): boolean {
    const pr = this.prs.progress.get(this.id);
    return pr !== undefined && !pr.isLearner && !this.raftLog.hasPendingSnapshot();
  }

  private send(m: Message): void {
    this.msgs.push(m);
  }

  // ---- role transitions: each installs its step and tick -----------------------------------

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = NONE;
    }
    this.lead = NONE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.electionTimeout + this.random.int(this.electionTimeout);
    this.leadTransferee = NONE;
    this.prs.resetVotes();
    const last = this.raftLog.lastIndex();
    for (const [id, pr] of this.prs.progress) {
      pr.becomeProbe();
      pr.match = id === this.id ? last : 0;
      pr.next = last + 1;
      pr.recentActive = id === this.id;
    }
    this.pendingConfIndex = 0;
    this.uncommittedSize = 0;
    this.pendingReadIndexMessages = [];
    // A read confirmed in a later term would carry this term's (possibly stale) commit index.
    this.readOnly = new ReadOnly(this.readOnly.option);
    this.leaseAcks = new Map();
    this.leaseRevoked = false;
  }

  becomeFollower(term: number, lead: NodeId): void {
    this.stepRole = this.stepFollower;
    this.reset(term);
    this.tickRole = this.tickElection;
    this.lead = lead;
    this.role = Role.Follower;
  }

  private becomeCandidate(): void {
    if (this.role === Role.Leader) throw new RaftInvariantError('leader cannot become candidate');
    this.stepRole = this.stepCandidate;
    this.reset(this.term + 1);
    this.tickRole = this.tickElection;
    this.vote = this.id;
    this.role = Role.Candidate;
  }

  private becomePreCandidate(): void {
    if (this.role === Role.Leader) throw new RaftInvariantError('leader cannot become pre-candidate');
    // Pre-vote changes neither term nor vote: a partitioned node cannot inflate the term.
    this.stepRole = this.stepCandidate;
    this.prs.resetVotes();
    this.tickRole = this.tickElection;
    this.lead = NONE;
    this.role = Role.PreCandidate;
  }

  private becomeLeader(): void {
    if (this.role === Role.Follower) throw new RaftInvariantError('follower cannot become leader without an election');
    this.stepRole = this.stepLeader;
    this.reset(this.term);
    this.tickRole = this.tickHeartbeat;
    this.lead = this.id;
    this.role = Role.Leader;
    this.prs.progress.get(this.id)?.becomeReplicate();
    // Any conf change in the unapplied log may still be pending; be conservative.
    this.pendingConfIndex = this.raftLog.lastIndex();
    // An empty entry of the new term lets earlier entries commit (§5.4.2) and read-index start.
    // It is not counted against the uncommitted bound.
    this.appendEntries([{ term: 0, index: 0, type: EntryType.Normal, data: new Uint8Array(0) }], false);
  }

  // ---- ticks --------------------------------------------------------------------------------

  private tickElection = (): void => {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.step(message({ type: MessageType.Hup, from: this.id }));
    }
  };

  private tickHeartbeat = (): void => {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.electionTimeout) {
      this.electionElapsed = 0;
      if (this.checkQuorum) this.step(message({ type: MessageType.CheckQuorum, from: this.id }));
      // A transfer that did not finish within an election timeout is abandoned — unless this
      // leader was removed, which keeps handing off until another leader takes over.
      if (this.role === Role.Leader && this.leadTransferee !== NONE) {
        if (this.prs.progress.get(this.id)?.isLearner === false) this.leadTransferee = NONE;
        else this.handOffAfterRemoval();
      }
    }
    if (this.role !== Role.Leader) return;
    if (this.heartbeatElapsed >= this.heartbeatTimeout) {
      this.heartbeatElapsed = 0;
      this.step(message({ type: MessageType.Beat, from: this.id }));
    }
  };

  // ---- elections ----------------------------------------------------------------------------

  private hasUnappliedConfChanges(): boolean {
    if (this.raftLog.committed <= this.raftLog.applied) return false;
    const lo = Math.max(this.raftLog.applied + 1, this.raftLog.firstIndex());
    const ents = this.raftLog.slice(lo, this.raftLog.committed + 1, Number.MAX_SAFE_INTEGER);
    return ents.some((e) => e.type === EntryType.ConfChange);
  }

  private hup(type: CampaignType): void {
    if (this.role === Role.Leader) return;
    if (!this.promotable()) return;
    // A node that has not applied a committed conf change does not know its own membership yet.
    if (this.hasUnappliedConfChanges()) return;
    this.campaign(type);
  }

  private campaign(type: CampaignType): void {
    let term: number;
    let voteMsg: MessageType;
    if (type === CampaignType.PreElection) {
      this.becomePreCandidate();
      voteMsg = MessageType.PreVote;
      term = this.term + 1; // the term it would campaign in; its own term is unchanged
    } else {
      this.becomeCandidate();
      voteMsg = MessageType.Vote;
      term = this.term;
    }
    const respType = voteMsg === MessageType.PreVote ? MessageType.PreVoteResp : MessageType.VoteResp;
    if (this.poll(this.id, respType, true) === VoteResult.Won) {
      // A single-voter group wins at once.
      if (type === CampaignType.PreElection) this.campaign(CampaignType.Election);
      else this.becomeLeader();
      return;
    }
    const context = type === CampaignType.Transfer ? CAMPAIGN_TRANSFER : new Uint8Array(0);
    for (const id of this.prs.voters) {
      if (id === this.id) continue;
      this.send(message({
        type: voteMsg, from: this.id, to: id, term,
        index: this.raftLog.lastIndex(), logTerm: this.raftLog.lastTerm(), context,
      }));
    }
  }

  private poll(id: NodeId, type: MessageType, granted: boolean): VoteResult {
    if (this.bugs.countDuplicateVotes === true) return this.pollCountingDuplicates(id, granted);
    this.prs.recordVote(id, granted);
    return this.prs.tallyVotes();
  }

  /** The deliberate bug of TestingBugs.countDuplicateVotes. */
  private duplicateGrants = 0;
  private pollCountingDuplicates(id: NodeId, granted: boolean): VoteResult {
    if (id === this.id) this.duplicateGrants = 0;
    if (granted) this.duplicateGrants++;
    this.prs.recordVote(id, granted);
    const quorum = Math.floor(this.prs.voters.length / 2) + 1;
    return this.duplicateGrants >= quorum ? VoteResult.Won : this.prs.tallyVotes();
  }

  // ---- the single way in ---------------------------------------------------------------------

  step(m: Message): void {
    if (m.term === 0) {
      // local message
    } else if (m.term > this.term) {
      if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
        const force = isCampaignTransfer(m.context);
        // In lease mode a freshly started node does not know whose lease it honoured before: it
        // withholds its vote for one election timeout.
        const inLease =
          this.checkQuorum &&
          ((this.lead !== NONE && this.electionElapsed < this.electionTimeout) ||
            (this.leaseReads && this.tickCount < this.electionTimeout));
        // Within the lease of a live leader, ignore disruptive candidates (thesis §4.2.3).
        if (!force && inLease) return;
      }
      if (m.type === MessageType.PreVote) {
        // A pre-vote never changes our term.
      } else if (m.type === MessageType.PreVoteResp && !m.reject) {
        // The pre-candidate's term moves when it wins the pre-vote, not before.
      } else if (m.type === MessageType.App || m.type === MessageType.Heartbeat || m.type === MessageType.Snap) {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, NONE);
      }
    } else if (m.term < this.term) {
      if ((this.checkQuorum || this.preVote) && (m.type === MessageType.Heartbeat || m.type === MessageType.App)) {
        // A stale leader (e.g. back from a partition) learns our term from this answer and steps
        // down; without it, pre-vote or check-quorum could leave it stuck forever.
        this.send(message({ type: MessageType.AppResp, from: this.id, to: m.from, term: this.term }));
      } else if (m.type === MessageType.PreVote) {
        this.send(message({ type: MessageType.PreVoteResp, from: this.id, to: m.from, term: this.term, reject: true }));
      }
      return;
    }

    switch (m.type) {
      case MessageType.Hup:
        this.hup(this.preVote ? CampaignType.PreElection : CampaignType.Election);
        return;
      case MessageType.Vote:
      case MessageType.PreVote: {
        const canVote =
          this.vote === m.from ||
          (this.vote === NONE && this.lead === NONE) ||
          (m.type === MessageType.PreVote && m.term > this.term);
        const respType = m.type === MessageType.Vote ? MessageType.VoteResp : MessageType.PreVoteResp;
        if (canVote && this.raftLog.isUpToDate(m.index, m.logTerm)) {
          // The answer carries the candidate's term, so a granted pre-vote is not ignored as stale.
          this.send(message({ type: respType, from: this.id, to: m.from, term: m.term }));
          if (m.type === MessageType.Vote) {
            this.electionElapsed = 0;
            this.vote = m.from; // persisted before the answer leaves (Ready order)
          }
        } else {
          this.send(message({ type: respType, from: this.id, to: m.from, term: this.term, reject: true }));
        }
        return;
      }
      default:
        this.stepRole(m);
    }
  }

  // ---- leader --------------------------------------------------------------------------------

  private stepLeader = (m: Message): void => {
    switch (m.type) {
      case MessageType.Beat:
        this.bcastHeartbeat();
        return;
      case MessageType.CheckQuorum:
        if (!this.prs.quorumActive()) {
          this.becomeFollower(this.term, NONE);
          return;
        }
        for (const [id, pr] of this.prs.progress) if (id !== this.id) pr.recentActive = false;
        return;
      case MessageType.Prop:
        this.handleProposal(m);
        return;
      case MessageType.ReadIndex:
        this.handleReadIndex(m);
        return;
    }

    const pr = this.prs.progress.get(m.from);
    if (pr === undefined) return; // not (or no longer) a member
    switch (m.type) {
      case MessageType.AppResp:
        this.handleAppendResponse(m, pr);
        return;
      case MessageType.HeartbeatResp:
        pr.recentActive = true;
        pr.probeSent = false;
        // A full window whose answers were lost would stall replication forever: the heartbeat
        // answer shows the follower is alive, so let one more append go.
        if (pr.state === ProgressState.Replicate && pr.inflights.full()) pr.inflights.freeFirstOne();
        if (pr.match < this.raftLog.lastIndex()) this.sendAppend(m.from);
        if (this.leaseReads) {
          const stamp = decodeLeaseStamp(m.context);
          if (stamp !== undefined && stamp <= this.tickCount) this.leaseAcks.set(m.from, Math.max(stamp, this.leaseAcks.get(m.from) ?? 0));
          this.releasePendingReadIndexMessages();
          return;
        }
        if (m.context.byteLength === 0) return;
        this.handleReadAck(m);
        return;
      case MessageType.SnapStatus:
        if (pr.state !== ProgressState.Snapshot) return;
        if (m.reject) pr.pendingSnapshot = 0;
        // Either way, wait for the follower's append answer (or the next heartbeat) before sending more.
        pr.becomeProbe();
        pr.probeSent = true;
        return;
      case MessageType.Unreachable:
        if (pr.state === ProgressState.Replicate) pr.becomeProbe();
        return;
      case MessageType.TransferLeader:
        this.handleTransferLeader(m, pr);
        return;
    }
  };

  private handleProposal(m: Message): void {
    if (m.entries.length === 0) throw new RaftInvariantError('proposal with no entries');
    if (!this.prs.progress.has(this.id)) throw new ProposalDroppedError(ProposalDropReason.NotMember);
    if (this.leadTransferee !== NONE) throw new ProposalDroppedError(ProposalDropReason.Transferring, `to ${this.leadTransferee}`);
    for (let i = 0; i < m.entries.length; i++) {
      const e = m.entries[i]!;
      if (e.type !== EntryType.ConfChange) continue;
      if (this.pendingConfIndex > this.raftLog.applied) {
        throw new ProposalDroppedError(ProposalDropReason.ConfChangePending, `index ${this.pendingConfIndex} is not applied yet`);
      }
      this.checkConfChange(decodeConfChange(e.data));
      this.pendingConfIndex = this.raftLog.lastIndex() + i + 1;
    }
    if (!this.appendEntries(m.entries, true)) {
      throw new ProposalDroppedError(ProposalDropReason.UncommittedLimit, `bound ${this.maxUncommittedSize} bytes`);
    }
    this.bcastAppend();
  }

  /** Refuses changes that could not be applied safely (the leader's policy, checked at proposal time). */
  private checkConfChange(cc: ConfChange): void {
    const cs = this.prs.confState();
    const next = applyToConfState(cs, cc);
    if (next.voters.length === 0) {
      throw new ProposalDroppedError(ProposalDropReason.InvalidConfChange, 'it would remove the last voter');
    }
    if (cc.type === ConfChangeType.AddNode && cs.learners.includes(cc.nodeId)) {
      const pr = this.prs.progress.get(cc.nodeId);
      const lag = this.raftLog.committed - (pr?.match ?? 0);
      if (pr === undefined || lag > this.maxLearnerLag) {
        throw new ProposalDroppedError(ProposalDropReason.LearnerNotReady, `learner ${cc.nodeId} is ${lag} entries behind`);
      }
    }
  }

  private handleAppendResponse(m: Message, pr: Progress): void {
    pr.recentActive = true;
    if (m.reject) {
      let nextProbeIdx = m.rejectHint;
      if (m.logTerm > 0) {
        // Skip every entry of the follower's conflicting term at once (fast backtracking).
        nextProbeIdx = this.raftLog.findConflictByTerm(m.rejectHint, m.logTerm);
      }
      if (pr.maybeDecrTo(m.index, nextProbeIdx)) {
        if (pr.state === ProgressState.Replicate) pr.becomeProbe();
        this.sendAppend(m.from);
      }
      return;
    }
    const oldPaused = pr.isPaused();
    if (pr.maybeUpdate(m.index) || (pr.match === m.index && pr.state === ProgressState.Probe)) {
      switch (pr.state) {
        case ProgressState.Probe:
          pr.becomeReplicate();
          break;
        case ProgressState.Snapshot:
          if (pr.match + 1 >= this.raftLog.firstIndex()) {
            // The follower caught up from the snapshot (or by log meanwhile): replicate again.
            pr.becomeProbe();
            pr.becomeReplicate();
          }
          break;
        case ProgressState.Replicate:
          pr.inflights.freeLE(m.index);
          break;
      }
      if (this.maybeCommit()) {
        this.releasePendingReadIndexMessages();
        this.bcastAppend();
      } else if (oldPaused) {
        this.sendAppend(m.from);
      }
      // Fill the pipeline window while there is something to send.
      while (this.maybeSendAppend(m.from, false)) {
        // keep sending
      }
      if (m.from === this.leadTransferee && pr.match === this.raftLog.lastIndex()) this.sendTimeoutNow(m.from);
    }
  }

  private handleTransferLeader(m: Message, pr: Progress): void {
    if (pr.isLearner) return;
    const transferee = m.from;
    if (this.leadTransferee !== NONE) {
      if (this.leadTransferee === transferee) return;
      this.leadTransferee = NONE;
    }
    if (transferee === this.id) return;
    // The transfer must finish within an election timeout.
    this.electionElapsed = 0;
    this.leadTransferee = transferee;
    if (pr.match === this.raftLog.lastIndex()) this.sendTimeoutNow(transferee);
    else this.sendAppend(transferee);
  }

  /** A leader no longer in the configuration transfers to the most up-to-date voter. */
  private handOffAfterRemoval(): void {
    let best: NodeId = NONE;
    let bestMatch = -1;
    for (const id of this.prs.voters) {
      if (id === this.leadTransferee) continue; // it did not answer in time: try another
      const match = this.prs.progress.get(id)?.match ?? 0;
      if (match > bestMatch) {
        best = id;
        bestMatch = match;
      }
    }
    if (best === NONE) best = this.leadTransferee;
    if (best === NONE) {
      this.becomeFollower(this.term, NONE);
      return;
    }
    this.leadTransferee = best;
    this.electionElapsed = 0;
    if (bestMatch === this.raftLog.lastIndex()) this.sendTimeoutNow(best);
    else this.sendAppend(best);
  }

  private sendTimeoutNow(to: NodeId): void {
    // The transferee's forced campaign ignores the voters' leases: ours is void from here on.
    this.leaseRevoked = true;
    this.send(message({ type: MessageType.TimeoutNow, from: this.id, to, term: this.term }));
  }

  private maybeCommit(): boolean {
    const mci = this.prs.committed();
    if (this.bugs.commitOlderTermsByCounting === true) {
      if (mci > this.raftLog.committed) {
        this.raftLog.commitTo(mci);
        return true;
      }
      return false;
    }
    return this.raftLog.maybeCommit(mci, this.term);
  }

  /** Appends at the leader. Returns false (appending nothing) when the uncommitted bound is hit. */
  private appendEntries(es: readonly Entry[], countUncommitted: boolean): boolean {
    const li = this.raftLog.lastIndex();
    const ents: Entry[] = es.map((e, i) => ({ term: this.term, index: li + 1 + i, type: e.type, data: e.data }));
    if (countUncommitted) {
      const size = entriesSize(ents);
      if (this.maxUncommittedSize > 0 && this.uncommittedSize > 0 && this.uncommittedSize + size > this.maxUncommittedSize) {
        return false;
      }
      this.uncommittedSize += size;
    }
    const last = this.raftLog.append(ents);
    // The leader's own entry counts towards commit; it is persisted before any message about it
    // leaves and before it is applied (Ready order), so counting it early is safe.
    this.prs.progress.get(this.id)?.maybeUpdate(last);
    this.maybeCommit();
    return true;
  }

  /** Called by RawNode.advance with the committed entries the application applied. */
  reduceUncommittedSize(applied: readonly Entry[]): void {
    if (this.role !== Role.Leader) return;
    this.uncommittedSize = Math.max(0, this.uncommittedSize - entriesSize(applied));
  }

  private bcastAppend(): void {
    for (const id of this.prs.progress.keys()) if (id !== this.id) this.sendAppend(id);
  }

  private bcastHeartbeat(): void {
    const ctx = this.leaseReads ? encodeLeaseStamp(this.tickCount) : this.readOnly.lastPendingContext();
    for (const id of this.prs.progress.keys()) if (id !== this.id) this.sendHeartbeat(id, ctx);
  }

  private sendHeartbeat(to: NodeId, ctx: Uint8Array | undefined): void {
    const pr = this.prs.progress.get(to);
    // Never tell a follower to commit past what it is known to have: its log may not match there.
    const commit = Math.min(pr?.match ?? 0, this.raftLog.committed);
    this.send(message({ type: MessageType.Heartbeat, from: this.id, to, term: this.term, commit, ...(ctx ? { context: ctx } : {}) }));
  }

  private sendAppend(to: NodeId): void {
    this.maybeSendAppend(to, true);
  }

  /** Sends the next append (or snapshot) to `to`. Returns whether a message went out. */
  private maybeSendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.prs.progress.get(to);
    if (pr === undefined || pr.isPaused()) return false;
    let prevTerm: number;
    let ents: readonly Entry[];
    try {
      prevTerm = this.raftLog.term(pr.next - 1);
      ents = this.raftLog.entriesFrom(pr.next, this.maxMsgSize);
    } catch (err) {
      if (err instanceof CompactedError) return this.maybeSendSnapshot(to, pr);
      throw err;
    }
    if (ents.length === 0 && !sendIfEmpty) return false;
    this.send(message({
      type: MessageType.App, from: this.id, to, term: this.term,
      index: pr.next - 1, logTerm: prevTerm, entries: ents, commit: this.raftLog.committed,
    }));
    if (ents.length > 0) {
      const last = ents[ents.length - 1]!.index;
      if (pr.state === ProgressState.Replicate) {
        pr.optimisticUpdate(last);
        pr.inflights.add(last);
      } else if (pr.state === ProgressState.Probe) {
        pr.probeSent = true;
      }
    }
    return true;
  }

  private maybeSendSnapshot(to: NodeId, pr: Progress): boolean {
    // A follower that has not answered recently may be down; do not stream it a snapshot.
    if (!pr.recentActive) return false;
    let snap: Snapshot;
    try {
      snap = this.raftLog.snapshot();
    } catch (err) {
      if (err instanceof SnapshotTemporarilyUnavailableError) return false;
      throw err;
    }
    if (snap.metadata.index === 0) throw new RaftInvariantError('need a snapshot to send but storage has none');
    pr.becomeSnapshot(snap.metadata.index);
    this.send(message({ type: MessageType.Snap, from: this.id, to, term: this.term, snapshot: snap }));
    return true;
  }

  // ---- reads ---------------------------------------------------------------------------------

  private committedEntryInCurrentTerm(): boolean {
    return this.raftLog.termOrZero(this.raftLog.committed) === this.term;
  }

  private handleReadIndex(m: Message): void {
    if (this.prs.voters.length === 1 && this.prs.isVoter(this.id)) {
      this.respondToReadIndex(m, this.raftLog.committed);
      return;
    }
    // Until the leader commits an entry of its term it does not know the latest commit index.
    if (!this.committedEntryInCurrentTerm()) {
      if (this.pendingReadIndexMessages.length >= this.maxPendingReads) return; // dropped: the reader retries
      this.pendingReadIndexMessages.push(m);
      return;
    }
    this.sendReadIndexResponse(m);
  }

  /** Whether a quorum acknowledged a heartbeat recent enough that no other leader can exist yet. */
  private leaseValid(): boolean {
    if (this.leaseRevoked) return false;
    const stamps = this.prs.voters.map((id) => (id === this.id ? this.tickCount : (this.leaseAcks.get(id) ?? -Infinity)));
    stamps.sort((a, b) => b - a);
    const quorumStamp = stamps[Math.floor(stamps.length / 2)] ?? -Infinity;
    return this.tickCount - quorumStamp < this.electionTimeout - LEASE_SAFETY_MARGIN_TICKS;
  }

  private sendReadIndexResponse(m: Message): void {
    if (this.leaseReads) {
      if (this.leaseValid()) {
        this.respondToReadIndex(m, this.raftLog.committed);
      } else if (this.pendingReadIndexMessages.length < this.maxPendingReads) {
        // Served when a heartbeat round renews the lease; dropped (the reader retries) otherwise.
        this.pendingReadIndexMessages.push(m);
      }
      return;
    }
    if (this.readOnly.size >= this.maxPendingReads) return; // dropped: the reader retries
    this.readOnly.addRequest(this.raftLog.committed, m);
    // The leader acknowledges its own heartbeat.
    this.readOnly.recvAck(this.id, m.context);
    this.bcastHeartbeatWithContext(m.context);
  }

  private bcastHeartbeatWithContext(ctx: Uint8Array): void {
    for (const id of this.prs.progress.keys()) if (id !== this.id) this.sendHeartbeat(id, ctx);
  }

  private handleReadAck(m: Message): void {
    const acks = this.readOnly.recvAck(m.from, m.context);
    if (acks === undefined) return;
    let granted = 0;
    for (const id of this.prs.voters) if (acks.has(id)) granted++;
    if (granted < Math.floor(this.prs.voters.length / 2) + 1) return;
    for (const rs of this.readOnly.advance(m.context)) this.respondToReadIndex(rs.request, rs.index);
  }

  private respondToReadIndex(req: Message, index: number): void {
    if (req.from === NONE || req.from === this.id) {
      this.readStates.push({ index, context: req.context });
      return;
    }
    this.send(message({ type: MessageType.ReadIndexResp, from: this.id, to: req.from, term: this.term, index, context: req.context }));
  }

  private releasePendingReadIndexMessages(): void {
    if (!this.committedEntryInCurrentTerm()) return;
    if (this.leaseReads && !this.leaseValid()) return;
    const pending = this.pendingReadIndexMessages;
    this.pendingReadIndexMessages = [];
    for (const m of pending) this.sendReadIndexResponse(m);
  }

  // ---- candidate -----------------------------------------------------------------------------

  private stepCandidate = (m: Message): void => {
    const myVoteResp = this.role === Role.PreCandidate ? MessageType.PreVoteResp : MessageType.VoteResp;
    switch (m.type) {
      case MessageType.Prop:
        throw new ProposalDroppedError(ProposalDropReason.NoLeader);
      case MessageType.ReadIndex:
        return; // no leader to ask; the reader retries
      case MessageType.App:
        this.becomeFollower(m.term, m.from);
        this.handleAppendEntries(m);
        return;
      case MessageType.Heartbeat:
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        return;
      case MessageType.Snap:
        this.becomeFollower(m.term, m.from);
        this.handleSnapshot(m);
        return;
      case myVoteResp:
        switch (this.poll(m.from, m.type, !m.reject)) {
          case VoteResult.Won:
            if (this.role === Role.PreCandidate) {
              this.campaign(CampaignType.Election);
            } else {
              this.becomeLeader();
              this.bcastAppend();
            }
            return;
          case VoteResult.Lost:
            // A rejected pre-vote does not change the term; a lost vote keeps the new term.
            this.becomeFollower(this.term, NONE);
            return;
          case VoteResult.Pending:
            return;
        }
        return;
      case MessageType.TimeoutNow:
        return;
    }
  };

  // ---- follower ------------------------------------------------------------------------------

  private stepFollower = (m: Message): void => {
    switch (m.type) {
      case MessageType.Prop:
        if (this.lead === NONE) throw new ProposalDroppedError(ProposalDropReason.NoLeader);
        this.send({ ...m, to: this.lead, from: this.id });
        return;
      case MessageType.App:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleAppendEntries(m);
        return;
      case MessageType.Heartbeat:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleHeartbeat(m);
        return;
      case MessageType.Snap:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleSnapshot(m);
        return;
      case MessageType.TransferLeader:
        if (this.lead === NONE) return;
        this.send({ ...m, to: this.lead });
        return;
      case MessageType.TimeoutNow:
        // The leader chose us: campaign now, past pre-vote and past the voters' leases.
        this.hup(CampaignType.Transfer);
        return;
      case MessageType.ReadIndex:
        if (this.lead === NONE) return; // the reader retries
        this.send({ ...m, to: this.lead, from: this.id });
        return;
      case MessageType.ReadIndexResp:
        this.readStates.push({ index: m.index, context: m.context });
        return;
      case MessageType.PeerDown:
        this.handleLeaderDown(m.from);
        return;
    }
  };

  /**
   * The driver saw `peer`'s process gone: a dial to its port was refused. If that is our leader,
   * forget it and campaign within a few ticks instead of waiting out the election timeout.
   *
   * Safety: Raft's safety never depends on timing (§5.2, §5.4): votes, terms and the log rules
   * are untouched here. The hint changes only when this node campaigns, and whether it honours a
   * leader it believes dead when asked for a (pre-)vote (the lease check in step()). Liveness of
   * a live leader: a wrong hint (a REJECT firewall rule, a restart already under way) costs at
   * most an unanswered pre-vote, because a pre-vote still needs a quorum that also stopped hearing
   * the leader: a voter that still hears it stays in its lease and ignores the pre-candidate, so
   * no term moves and the leader keeps leading; its next heartbeat gives this node its leader back
   * and cancels the early campaign (electionElapsed = 0). Only when a quorum is told, or has timed
   * out, is a new leader elected, as it would have been an election timeout later.
   *
   * Hence the hint is ignored unless preVote and checkQuorum are both on (without them a single
   * hinted node could depose a live leader), in lease-read mode (a leader's lease relies on its
   * followers not voting within it, and a refused dial does not prove the leader is gone), when
   * `peer` is not our current leader, and by every role but follower (stepFollower only).
   */
  private handleLeaderDown(peer: NodeId): void {
    if (!this.preVote || !this.checkQuorum || (this.leaseReads && this.bugs.peerDownHintInLeaseMode !== true)) return;
    if (peer === NONE || peer !== this.lead) return;
    if (!this.promotable()) return; // a learner gains nothing from forgetting its leader
    this.lead = NONE;
    const rank = this.prs.voters.filter((id) => id !== peer).sort((x, y) => x - y).indexOf(this.id);
    const ticks = 1 + PEER_DOWN_CAMPAIGN_STAGGER_TICKS * rank;
    // tickElection campaigns once electionElapsed reaches randomizedElectionTimeout; a rank so
    // far down that this is later than the election timeout leaves the timer as it is.
    this.electionElapsed = Math.max(this.electionElapsed, this.randomizedElectionTimeout - ticks);
  }

  private handleAppendEntries(m: Message): void {
    if (m.index < this.raftLog.committed) {
      this.send(message({ type: MessageType.AppResp, from: this.id, to: m.from, term: this.term, index: this.raftLog.committed }));
      return;
    }
    const lastNew = this.raftLog.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (lastNew !== undefined) {
      // Acknowledges entries that are durable only once this Ready is persisted (Ready order).
      this.send(message({ type: MessageType.AppResp, from: this.id, to: m.from, term: this.term, index: lastNew }));
      return;
    }
    // Mismatch at m.index: hint the largest index whose term is <= the leader's term there, so
    // the leader can skip a whole conflicting term at once.
    const hintIndex = this.raftLog.findConflictByTerm(Math.min(m.index, this.raftLog.lastIndex()), m.logTerm);
    const hintTerm = this.raftLog.termOrZero(hintIndex);
    this.send(message({
      type: MessageType.AppResp, from: this.id, to: m.from, term: this.term,
      index: m.index, reject: true, rejectHint: hintIndex, logTerm: hintTerm,
    }));
  }

  private handleHeartbeat(m: Message): void {
    // The leader sends min(match, committed), which our log is known to hold.
    this.raftLog.commitTo(Math.min(m.commit, this.raftLog.lastIndex()));
    this.send(message({ type: MessageType.HeartbeatResp, from: this.id, to: m.from, term: this.term, context: m.context }));
  }

  private handleSnapshot(m: Message): void {
    if (m.snapshot === undefined) return;
    if (this.restore(m.snapshot)) {
      this.send(message({ type: MessageType.AppResp, from: this.id, to: m.from, term: this.term, index: this.raftLog.lastIndex() }));
    } else {
      this.send(message({ type: MessageType.AppResp, from: this.id, to: m.from, term: this.term, index: this.raftLog.committed }));
    }
  }

  /** Installs a snapshot from the leader. Returns false when it was not needed. */
  private restore(snap: Snapshot): boolean {
    const { index, term } = snap.metadata;
    if (index <= this.raftLog.committed) return false;
    if (this.role !== Role.Follower) {
      this.becomeFollower(this.term + 1, NONE);
      return false;
    }
    const cs = snap.metadata.confState;
    // A node that was never configured is joining: the snapshot may predate the conf change that
    // added it, which it will then apply from the log. Any other node missing from the
    // snapshot's configuration was removed and must not take it.
    const joining = this.prs.voters.length === 0 && this.prs.learners.length === 0;
    if (!joining && !cs.voters.includes(this.id) && !cs.learners.includes(this.id)) return false;
    if (this.raftLog.matchTerm(index, term)) {
      // Our log already has the snapshot's last entry: fast-forward the commit index instead.
      this.raftLog.commitTo(index);
      return false;
    }
    this.raftLog.restore(snap);
    this.prs.progress = new Map();
    this.prs.applyConfState(cs, this.raftLog.lastIndex() + 1);
    const me = this.prs.progress.get(this.id);
    if (me !== undefined) me.match = index;
    return true;
  }

  // ---- membership ----------------------------------------------------------------------------

  /** Applies a committed conf change (called by RawNode.applyConfChange). */
  applyConfChange(cc: ConfChange): ConfState {
    const next = applyToConfState(this.prs.confState(), cc);
    this.prs.applyConfState(next, this.raftLog.lastIndex() + 1);
    const me = this.prs.progress.get(this.id);
    if (me !== undefined && this.role === Role.Leader) me.match = Math.max(me.match, this.raftLog.lastIndex());
    if (this.role !== Role.Leader) return next;
    if (me === undefined || me.isLearner) {
      // A removed leader must not simply step down: followers may not know yet that its removal
      // committed, so they still count it in their quorum, and it rightly refuses its vote to any
      // of them whose log is behind its own. It hands leadership on instead (thesis §4.2.2).
      this.handOffAfterRemoval();
      return next;
    }
    if (this.leadTransferee !== NONE && !this.prs.isVoter(this.leadTransferee)) this.leadTransferee = NONE;
    // The quorum changed: the commit index may move, and new members need the log.
    if (this.maybeCommit()) this.bcastAppend();
    else for (const id of this.prs.progress.keys()) if (id !== this.id) this.maybeSendAppend(id, false);
    return next;
  }
}
