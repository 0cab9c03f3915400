// The core's public face (etcd-io/raft's RawNode): inputs go in through tick/step/propose/
// readIndex/transferLeader; all output comes out as a Ready, which the driver handles and then
// acknowledges with advance().

import { encodeConfChange, type ConfChange } from './confchange.js';
import { ProposalDroppedError, RaftInvariantError } from './errors.js';
import { Raft, type RaftConfig } from './raft.js';
import {
  EntryType,
  MessageType,
  NONE,
  hardStateEqual,
  isLocalMessage,
  message,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  type NodeId,
  type Ready,
  type Role,
  type SoftState,
} from './types.js';

export interface NodeStatus {
  readonly id: NodeId;
  readonly term: number;
  readonly vote: NodeId;
  readonly commit: number;
  readonly applied: number;
  readonly lastIndex: number;
  readonly firstIndex: number;
  readonly lead: NodeId;
  readonly role: Role;
  readonly leadTransferee: NodeId;
  readonly confState: ConfState;
  /** The leader's view of each member: acknowledged index and replication state. */
  readonly progress: ReadonlyMap<NodeId, { match: number; next: number; state: string; isLearner: boolean }>;
}

export class RawNode {
  readonly raft: Raft;
  private prevSoftState: SoftState;
  private prevHardState: HardState;
  /** The Ready handed out and not yet advanced; a second one may not be taken meanwhile. */
  private pendingReady: Ready | undefined = undefined;

  constructor(cfg: RaftConfig) {
    this.raft = new Raft(cfg);
    this.prevSoftState = this.raft.softState();
    this.prevHardState = this.raft.hardState();
  }

  tick(): void {
    this.raft.tick();
  }

  /** Starts an election now (tests and tools; a node campaigns on its own after a timeout). */
  campaign(): void {
    this.raft.step(message({ type: MessageType.Hup, from: this.raft.id }));
  }

  /** Throws ProposalDroppedError when the proposal cannot be accepted now. */
  propose(data: Uint8Array): void {
    this.proposeEntries([{ term: 0, index: 0, type: EntryType.Normal, data }]);
  }

  /** Several proposals as one append (group commit). */
  proposeBatch(batch: readonly Uint8Array[]): void {
    if (batch.length === 0) return;
    this.proposeEntries(batch.map((data) => ({ term: 0, index: 0, type: EntryType.Normal, data })));
  }

  proposeConfChange(cc: ConfChange): void {
    this.proposeEntries([{ term: 0, index: 0, type: EntryType.ConfChange, data: encodeConfChange(cc) }]);
  }

  private proposeEntries(entries: Entry[]): void {
    this.raft.step(message({ type: MessageType.Prop, from: this.raft.id, entries }));
  }

  /**
   * A message from a peer. Local message types are refused; a dropped proposal forwarded by a
   * follower is ignored here (its client times out and retries), never thrown at the driver.
   */
  step(m: Message): void {
    if (isLocalMessage(m.type)) throw new RaftInvariantError(`peer ${m.from} sent a local message type '${m.type}'`);
    if (m.from === NONE) throw new RaftInvariantError(`message '${m.type}' has no sender`);
    try {
      this.raft.step(m);
    } catch (err) {
      if (err instanceof ProposalDroppedError) return;
      throw err;
    }
  }

  /** Requests a linearizable read; the answer arrives as a ReadState with the same context. */
  readIndex(context: Uint8Array): void {
    this.raft.step(message({ type: MessageType.ReadIndex, from: this.raft.id, context }));
  }

  /** Asks the leader to hand leadership to `transferee`. */
  transferLeader(transferee: NodeId): void {
    this.raft.step(message({ type: MessageType.TransferLeader, from: transferee, to: this.raft.lead }));
  }

  reportUnreachable(id: NodeId): void {
    this.raft.step(message({ type: MessageType.Unreachable, from: id }));
  }

  /**
   * The driver saw `id`'s process gone (a connection to its port was refused). A follower whose
   * leader that is campaigns early; see Raft.handleLeaderDown for when the hint is ignored.
   */
  reportPeerDown(id: NodeId): void {
    this.raft.step(message({ type: MessageType.PeerDown, from: id }));
  }

  reportSnapshot(id: NodeId, ok: boolean): void {
    this.raft.step(message({ type: MessageType.SnapStatus, from: id, reject: !ok }));
  }

  /** Applies a committed ConfChange entry; returns the new membership to persist with the state. */
  applyConfChange(cc: ConfChange): ConfState {
    return this.raft.applyConfChange(cc);
  }

  hasReady(): boolean {
    if (this.pendingReady !== undefined) return false;
    const r = this.raft;
    const ss = r.softState();
    if (ss.lead !== this.prevSoftState.lead || ss.role !== this.prevSoftState.role) return true;
    if (!hardStateEqual(r.hardState(), this.prevHardState)) return true;
    if (r.raftLog.hasPendingSnapshot()) return true;
    if (r.msgs.length > 0 || r.raftLog.unstableEntries().length > 0 || r.readStates.length > 0) return true;
    return r.raftLog.hasNextCommittedEntries();
  }

  /** Everything to do now; call advance(ready) when done. */
  ready(): Ready {
    if (this.pendingReady !== undefined) throw new RaftInvariantError('ready() called again before advance()');
    const r = this.raft;
    const ss = r.softState();
    const hs = r.hardState();
    const softChanged = ss.lead !== this.prevSoftState.lead || ss.role !== this.prevSoftState.role;
    const hardChanged = !hardStateEqual(hs, this.prevHardState);
    const entries = [...r.raftLog.unstableEntries()];
    const rd: Ready = {
      softState: softChanged ? ss : undefined,
      hardState: hardChanged ? hs : undefined,
      readStates: r.readStates,
      entries,
      snapshot: r.raftLog.unstable.snapshot,
      committedEntries: r.raftLog.nextCommittedEntries(r.maxCommittedSizePerReady),
      messages: r.msgs,
      mustSync: entries.length > 0 || hs.term !== this.prevHardState.term || hs.vote !== this.prevHardState.vote,
    };
    r.msgs = [];
    r.readStates = [];
    if (softChanged) this.prevSoftState = ss;
    this.pendingReady = rd;
    return rd;
  }

  /** The driver persisted, sent and applied what `rd` asked for. */
  advance(rd: Ready): void {
    if (rd !== this.pendingReady) throw new RaftInvariantError('advance() with a Ready that is not the pending one');
    this.pendingReady = undefined;
    const log = this.raft.raftLog;
    if (rd.hardState !== undefined) this.prevHardState = rd.hardState;
    if (rd.snapshot !== undefined) {
      log.stableSnapTo(rd.snapshot.metadata.index);
      log.appliedTo(rd.snapshot.metadata.index);
    }
    const last = rd.entries[rd.entries.length - 1];
    if (last !== undefined) log.stableTo(last.index, last.term);
    const lastApplied = rd.committedEntries[rd.committedEntries.length - 1];
    if (lastApplied !== undefined) {
      log.appliedTo(lastApplied.index);
      this.raft.reduceUncommittedSize(rd.committedEntries);
    }
  }

  status(): NodeStatus {
    const r = this.raft;
    const progress = new Map<NodeId, { match: number; next: number; state: string; isLearner: boolean }>();
    for (const [id, pr] of r.prs.progress) progress.set(id, { match: pr.match, next: pr.next, state: pr.state, isLearner: pr.isLearner });
    return {
      id: r.id, term: r.term, vote: r.vote, commit: r.raftLog.committed, applied: r.raftLog.applied,
      lastIndex: r.raftLog.lastIndex(), firstIndex: r.raftLog.firstIndex(), lead: r.lead, role: r.role,
      leadTransferee: r.leadTransferee, confState: r.prs.confState(), progress,
    };
  }
}
