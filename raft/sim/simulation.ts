// The deterministic cluster simulator. One seed fixes everything: the cluster's shape and options,
// every fault, every client operation and every message delay, so a failing seed replays exactly.
//
// Each seed runs rounds of chaos (drops, delays, reorders, duplicates, partitions and one-way
// cuts, crashes that lose unpersisted state, pauses, leader transfers and membership changes,
// peer-down hints true and false, while clients write and read), each followed by a heal: the
// network recovers, a majority is up, and a leader must be elected and a write committed within a
// bounded number of ticks.
//
// Safety checks run after every tick (see Checker): election safety, log matching, leader
// completeness, state-machine safety, and that every read saw every write acknowledged before it.

import { ConfChangeType, applyToConfState } from '../core/confchange.js';
import { ProposalDroppedError } from '../core/errors.js';
import type { TestingBugs } from '../core/raft.js';
import { contextKey } from '../core/readonly.js';
import { MemoryStorage } from '../core/storage.js';
import { bootstrapStorage } from '../core/bootstrap.js';
import { EntryType, Role, sendableBeforePersist, type ConfState, type Message, type NodeId, type Ready } from '../core/types.js';
import { Checker, Violation } from './checker.js';
import { SimNetwork } from './network.js';
import { SimNode, encodeWrite, type NodeOptions } from './node.js';
import { Rng } from './rng.js';

export interface SimOptions {
  readonly seed: number;
  readonly trace?: (line: string) => void;
  readonly bugs?: TestingBugs;
  /** A deliberate driver bug for the self-test: send messages before persisting the Ready. */
  readonly sendBeforePersist?: boolean;
  /** Chaos rounds per seed. */
  readonly rounds?: number;
  /** Ticks of chaos per round. */
  readonly chaosTicks?: number;
}

export interface SimResult {
  readonly seed: number;
  readonly ticks: number;
  readonly violation: Violation | undefined;
  readonly stats: SimStats;
}

export interface SimStats {
  nodes: number;
  writesAcked: number;
  writesProposed: number;
  readsServed: number;
  elections: number;
  crashes: number;
  confChanges: number;
  transfers: number;
  snapshotsSent: number;
  /** Peer-down hints given to live nodes (RawNode.reportPeerDown), true ones and false ones. */
  peerDownHints: number;
  /** Of those, the hints a follower acted on: it forgot its leader and brought its election forward. */
  peerDownHintsTaken: number;
  /** Paused nodes resumed, and of those, leaders that were no longer leader once caught up. */
  resumes: number;
  leadersLostOnResume: number;
  messages: number;
}

const KEYS = ['a', 'b', 'c'];
/** Bound on the ticks a healed cluster may take to elect a leader and commit a write. */
export const LIVENESS_TICKS_PER_ELECTION_TIMEOUT = 25;
/** Bound on client operations in flight, so that a run without a leader does not pile them up. */
const MAX_PENDING_CLIENT_OPS = 64;
/** Bound on the ticks a resumed node catches up at once, in lease-read mode (see resume()). */
const MAX_CATCH_UP_TICKS = 100;
/** Bound on delivery rounds within one tick (messages sent with zero delay are delivered at once). */
const MAX_DELIVERY_ROUNDS_PER_TICK = 8;
/** The chance that a survivor that can reach a crashed node hears of it (its redial is refused). */
const PEER_DOWN_HINT_CHANCE = 0.8;
/** Per chaos tick: the chance of a false hint, a follower told its live leader is down. */
const FALSE_PEER_DOWN_HINT_CHANCE = 0.004;
/** The chance that a new cut REJECTs (rather than drops) a follower's dials to its live leader. */
const REJECTING_CUT_CHANCE = 0.3;

interface PendingWrite {
  readonly id: number;
  readonly key: string;
  readonly node: NodeId;
  readonly incarnation: number;
}

interface PendingRead {
  readonly id: number;
  readonly key: string;
  readonly node: NodeId;
  readonly incarnation: number;
  readonly startTick: number;
  /** Highest log index of a write to key acknowledged before the read began. */
  readonly mustSeeIndex: number;
  readIndex: number | undefined;
}

export class Simulation {
  private readonly rng: Rng;
  private readonly netRng: Rng;
  /**
   * Peer-down hints draw from their own generator, seeded apart from `rng`, so that adding them
   * did not move the other draws (the injected-bug tests name seeds).
   */
  private readonly hintRng: Rng;
  /** Peer-down hints on their way: the survivor's transport has not seen the refused redial yet. */
  private pendingHints: { readonly to: NodeId; readonly incarnation: number; readonly dead: NodeId; readonly deadIncarnation: number; readonly at: number }[] = [];
  private readonly net: SimNetwork;
  private readonly nodes = new Map<NodeId, SimNode>();
  private readonly checker = new Checker();
  private readonly opts: NodeOptions;
  /**
   * 'mixed': every kind of fault at a moderate rate. 'leader-churn': leaders crash soon after
   * they are elected and nodes restart quickly, over a lossy network — the histories of the
   * paper's Figure 8, where divergent uncommitted suffixes pile up across terms.
   */
  private readonly profile: 'mixed' | 'leader-churn';
  private readonly trace: (line: string) => void;
  private now = 0;
  /** Crash points inside Ready handling fire only during chaos, not while healing. */
  private chaosActive = false;
  private nextOpId = 1;
  private readonly ackedOps = new Set<number>();
  private conf: { index: number; state: ConfState };
  /** The configuration the latest accepted conf-change proposal would produce, if it commits. */
  private proposedConf: ConfState | undefined = undefined;
  /** Leader churn: crashes scheduled for new leaders, a few ticks into their term. */
  private readonly scheduledCrashes = new Map<NodeId, { at: number; incarnation: number }>();
  private nextNodeId: number;
  private readonly pendingWrites = new Map<number, PendingWrite>();
  private readonly pendingReads = new Map<string, PendingRead>();
  /** Per key: the highest log index of an acknowledged write. */
  private readonly ackedIndex = new Map<string, number>();
  readonly stats: SimStats;

  constructor(private readonly sim: SimOptions) {
    this.rng = new Rng(sim.seed);
    this.netRng = this.rng.fork();
    this.hintRng = new Rng(sim.seed ^ 0x5eed_d0e5);
    this.net = new SimNetwork(this.netRng);
    this.trace = sim.trace ?? (() => {});
    const size = this.rng.chance(0.5) ? 3 : 5;
    this.profile = this.rng.chance(0.25) ? 'leader-churn' : 'mixed';
    const checkQuorum = this.rng.chance(0.75);
    this.opts = {
      electionTick: 10,
      heartbeatTick: this.rng.pick([1, 2, 3]),
      preVote: this.rng.chance(0.75),
      checkQuorum,
      leaseReads: checkQuorum && this.rng.chance(0.3),
      // One entry per append under churn: an old-term entry can then reach a majority alone.
      maxSizePerMsg: this.profile === 'leader-churn' ? 1 : this.rng.pick([1, 200, 1024 * 1024]),
      maxInflightMsgs: this.rng.pick([1, 4, 256]),
      maxUncommittedEntriesSize: this.rng.pick([0, 2000]),
      bugs: sim.bugs ?? {},
    };
    this.stats = {
      nodes: size, writesAcked: 0, writesProposed: 0, readsServed: 0, elections: 0, crashes: 0,
      confChanges: 0, transfers: 0, snapshotsSent: 0, peerDownHints: 0, peerDownHintsTaken: 0, resumes: 0,
      leadersLostOnResume: 0, messages: 0,
    };
    const members = Array.from({ length: size }, (_, i) => ({ id: i + 1 }));
    for (const m of members) {
      const disk = new MemoryStorage();
      bootstrapStorage(disk, members);
      const node = new SimNode(m.id, disk);
      node.start(this.opts, this.rng.fork());
      this.nodes.set(m.id, node);
    }
    this.nextNodeId = size + 1;
    this.conf = { index: size, state: { voters: members.map((m) => m.id), learners: [] } };
    this.trace(`seed ${sim.seed}: ${size} nodes, ${this.profile} ${JSON.stringify({ ...this.opts, bugs: undefined })}`);
  }

  run(): SimResult {
    const rounds = this.sim.rounds ?? 3;
    const chaosTicks = this.sim.chaosTicks ?? 300;
    try {
      for (let r = 0; r < rounds; r++) {
        this.trace(`t=${this.now} round ${r}: chaos`);
        this.chaosActive = true;
        for (let i = 0; i < chaosTicks; i++) {
          this.chaos();
          this.clients();
          this.tick();
        }
        this.chaosActive = false;
        this.heal();
      }
      this.checker.checkConvergence(this.liveNodes());
      return { seed: this.sim.seed, ticks: this.now, violation: undefined, stats: this.finalStats() };
    } catch (err) {
      if (err instanceof Violation) {
        this.trace(`t=${this.now} VIOLATION ${err.message}`);
        return { seed: this.sim.seed, ticks: this.now, violation: err, stats: this.finalStats() };
      }
      throw err;
    }
  }

  private finalStats(): SimStats {
    return { ...this.stats, messages: this.net.sent };
  }

  private liveNodes(): SimNode[] {
    return [...this.nodes.values()].filter((n) => n.up);
  }

  private leader(): SimNode | undefined {
    let best: SimNode | undefined;
    for (const n of this.liveNodes()) {
      if (n.paused || n.raw!.raft.role !== Role.Leader) continue;
      if (best === undefined || n.raw!.raft.term > best.raw!.raft.term) best = n;
    }
    return best;
  }

  /** The membership the cluster agreed on: the configuration applied at the highest index. */
  private currentConf(): ConfState {
    return this.conf.state;
  }

  private noteConf(index: number, state: ConfState): void {
    if (index > this.conf.index) this.conf = { index, state };
  }

  // ---- one tick ------------------------------------------------------------------------------

  private tick(): void {
    this.now++;
    for (let round = 0; round < MAX_DELIVERY_ROUNDS_PER_TICK; round++) {
      const due = this.net.due(this.now, (id) => {
        const n = this.nodes.get(id);
        return n !== undefined && n.up && !n.paused;
      });
      if (due.length === 0 && round > 0) break;
      for (const m of due) this.deliver(m);
      if (round === 0) this.deliverPeerDownHints();
      if (round === 0) for (const n of this.liveNodes()) if (!n.paused) n.snapshots.advance(this.now);
      if (round === 0) for (const n of this.liveNodes()) if (!n.paused) n.raw!.tick();
      for (const n of this.liveNodes()) this.handleReady(n);
    }
    // Messages to nodes that are down are lost with their sockets.
    for (const n of this.nodes.values()) if (!n.up) this.net.dropFor(n.id);
    this.checker.checkTick(this.liveNodes(), this.now);
  }

  private deliver(m: Message): void {
    const n = this.nodes.get(m.to);
    if (n === undefined || !n.up) return;
    this.trace(`t=${this.now} ${m.from}->${m.to} ${m.type} term=${m.term} idx=${m.index} logTerm=${m.logTerm} n=${m.entries.length} commit=${m.commit}${m.reject ? ' reject' : ''}${m.snapshot ? ` snap@${m.snapshot.metadata.index}` : ''}`);
    n.raw!.step(m);
  }

  private handleReady(n: SimNode): void {
    const raw = n.raw!;
    while (raw.hasReady()) {
      const rd = raw.ready();
      if (rd.softState?.role === Role.Leader) {
        this.stats.elections++;
        this.trace(`t=${this.now} node ${n.id} is leader of term ${raw.raft.term}`);
        this.checker.onLeader(n, this.liveNodes());
        if (this.profile === 'leader-churn' && this.chaosActive && this.rng.chance(0.5)) {
          this.scheduledCrashes.set(n.id, { at: this.now + this.rng.int(4), incarnation: n.incarnation });
        }
      }
      // The driver's rule: some messages may leave before the persist (sendableBeforePersist).
      this.send(this.sim.sendBeforePersist === true ? rd.messages : rd.messages.filter(sendableBeforePersist));
      // Crash point: the driver died before persisting this Ready. Nothing of it survives.
      if (this.chaosActive && this.rng.chance(0.0005)) {
        this.crash(n, 'before persist');
        return;
      }
      this.checker.onPersist(n, rd);
      if (rd.snapshot !== undefined) n.disk.applySnapshot(rd.snapshot);
      if (rd.entries.length > 0) n.disk.append(rd.entries);
      if (rd.hardState !== undefined) n.disk.setHardState(rd.hardState);
      // The persist's fsync makes the application's earlier commits durable too (one environment).
      if (rd.mustSync || rd.snapshot !== undefined) n.syncApp();
      // Crash point: persisted, but no message left and nothing was applied.
      if (this.chaosActive && this.rng.chance(0.0005)) {
        this.crash(n, 'after persist');
        return;
      }
      if (this.sim.sendBeforePersist !== true) this.send(rd.messages.filter((m) => !sendableBeforePersist(m)));
      if (rd.snapshot !== undefined) {
        n.restoreApp(rd.snapshot);
        this.checker.onSnapshotApplied(n, rd.snapshot);
        this.noteConf(rd.snapshot.metadata.index, rd.snapshot.metadata.confState);
      }
      for (const e of rd.committedEntries) {
        this.checker.onApply(n, e);
        const w = n.applyEntry(e);
        if (e.type === EntryType.ConfChange) this.noteConf(e.index, n.confState);
        if (w !== undefined) this.ackWrite(n, w.id, w.key, e.index);
      }
      raw.advance(rd);
      for (const rs of rd.readStates) {
        const r = this.pendingReads.get(contextKey(rs.context));
        if (r !== undefined && r.node === n.id && r.incarnation === n.incarnation) r.readIndex = rs.index;
      }
      this.serveReads(n);
      this.maybeCompact(n);
      n.makeRequestedSnapshot(this.now);
    }
  }

  private send(messages: readonly Message[]): void {
    for (const m of messages) {
      if (m.snapshot !== undefined) this.stats.snapshotsSent++;
      this.net.send(m, this.now);
      // Like a real transport: a snapshot written to a live connection is reported sent (even if
      // the network then loses it); one that could not be sent (cut) is reported failed.
      if (m.type === 'snap') {
        const from = this.nodes.get(m.from);
        if (from?.up === true) from.raw!.reportSnapshot(m.to, !this.net.isCut(m.from, m.to));
      }
    }
  }

  private ackWrite(n: SimNode, opId: number, key: string, index: number): void {
    const w = this.pendingWrites.get(opId);
    if (w === undefined || w.node !== n.id || w.incarnation !== n.incarnation) return;
    this.pendingWrites.delete(opId);
    this.ackedOps.add(opId);
    this.stats.writesAcked++;
    this.ackedIndex.set(key, Math.max(this.ackedIndex.get(key) ?? 0, index));
    this.trace(`t=${this.now} write ${opId} ${key} acked at ${index} by ${n.id}`);
  }

  private serveReads(n: SimNode): void {
    for (const [ctx, r] of this.pendingReads) {
      if (r.node !== n.id || r.readIndex === undefined || n.applied < r.readIndex) continue;
      if (r.incarnation !== n.incarnation) continue;
      this.pendingReads.delete(ctx);
      const seen = n.kv.get(r.key);
      this.stats.readsServed++;
      this.trace(`t=${this.now} read ${r.id} ${r.key} at ${n.id} index ${r.readIndex} saw write@${seen?.index ?? 0}`);
      this.checker.onRead(r.key, r.mustSeeIndex, seen?.index ?? 0, `read ${r.id} of '${r.key}' at node ${n.id} (read index ${r.readIndex}, started t=${r.startTick})`);
    }
  }

  /** RaftNode.maybeSnapshot: a snapshot without data, durable with the application's state (one synced commit). */
  private maybeCompact(n: SimNode): void {
    const snapIndex = n.disk.recordedSnapshot().metadata.index;
    if (n.applied - snapIndex < 24) return;
    n.syncApp();
    n.disk.recordSnapshot(n.applied, n.confState);
    const keep = this.rng.int(6);
    const compactTo = n.applied - keep;
    if (compactTo > n.disk.firstIndex()) n.disk.compact(compactTo);
  }

  // ---- clients -------------------------------------------------------------------------------

  private clients(): void {
    if (this.pendingWrites.size + this.pendingReads.size > MAX_PENDING_CLIENT_OPS) {
      // Old operations whose node crashed or lost them will never finish; forget them.
      this.expireClientOps();
      return;
    }
    const live = this.liveNodes().filter((n) => !n.paused);
    if (live.length === 0) return;
    if (this.rng.chance(0.35)) this.proposeWrite(this.rng.pick(live));
    if (this.rng.chance(0.25)) this.startRead(this.rng.pick(live));
  }

  private expireClientOps(): void {
    for (const [id, w] of this.pendingWrites) {
      const n = this.nodes.get(w.node);
      if (n === undefined || n.incarnation !== w.incarnation || this.rng.chance(0.1)) this.pendingWrites.delete(id);
    }
    for (const [ctx, r] of this.pendingReads) {
      if (this.now - r.startTick > 100) this.pendingReads.delete(ctx);
    }
  }

  private proposeWrite(n: SimNode): boolean {
    const id = this.nextOpId++;
    const key = this.rng.pick(KEYS);
    this.stats.writesProposed++;
    try {
      n.raw!.propose(encodeWrite({ op: 'put', id, key, value: `v${id}` }));
    } catch (err) {
      if (err instanceof ProposalDroppedError) return false;
      throw err;
    }
    this.pendingWrites.set(id, { id, key, node: n.id, incarnation: n.incarnation });
    this.trace(`t=${this.now} write ${id} ${key} proposed at ${n.id}`);
    return true;
  }

  private startRead(n: SimNode): void {
    const id = this.nextOpId++;
    const key = this.rng.pick(KEYS);
    const ctx = new TextEncoder().encode(`read-${id}`);
    this.pendingReads.set(contextKey(ctx), {
      id, key, node: n.id, incarnation: n.incarnation, startTick: this.now,
      mustSeeIndex: this.ackedIndex.get(key) ?? 0, readIndex: undefined,
    });
    n.raw!.readIndex(ctx);
  }

  // ---- faults --------------------------------------------------------------------------------

  private chaos(): void {
    if (this.hintRng.chance(FALSE_PEER_DOWN_HINT_CHANCE)) this.falsePeerDownHint();
    if (this.profile === 'leader-churn') {
      this.churn();
      return;
    }
    const ids = [...this.nodes.keys()];
    const r = this.rng.next();
    if (r < 0.01) {
      const side = ids.filter(() => this.rng.chance(0.5));
      this.net.partition(side, ids);
      this.rejectingCutHints();
      this.trace(`t=${this.now} partition [${side.join(',')}] | rest: cuts ${this.net.describeCuts()}`);
    } else if (r < 0.02) {
      const a = this.rng.pick(ids);
      const b = this.rng.pick(ids);
      if (a !== b) {
        this.net.cut(a, b);
        this.rejectingCutHints();
        this.trace(`t=${this.now} one-way cut ${a}->${b}`);
      }
    } else if (r < 0.03) {
      this.net.healPartitions();
      this.trace(`t=${this.now} heal partitions`);
    } else if (r < 0.038) {
      const n = this.rng.maybePick(this.liveNodes());
      if (n !== undefined) this.crash(n, 'chaos');
    } else if (r < 0.05) {
      const down = [...this.nodes.values()].filter((n) => !n.up);
      if (down.length > 0) this.restart(this.rng.pick(down));
    } else if (r < 0.055) {
      const n = this.rng.maybePick(this.liveNodes());
      if (n !== undefined) {
        if (n.paused) this.resume(n);
        else this.pause(n);
      }
    } else if (r < 0.065) {
      this.net.faults = {
        dropRate: this.rng.pick([0, 0.01, 0.05, 0.2]),
        duplicateRate: this.rng.pick([0, 0.02, 0.1]),
        maxDelay: this.rng.pick([0, 1, 3, 8]),
      };
      this.trace(`t=${this.now} network ${JSON.stringify(this.net.faults)}`);
    } else if (r < 0.072) {
      this.changeMembership();
    } else if (r < 0.078) {
      const lead = this.leader();
      const conf = this.currentConf();
      if (lead !== undefined && conf.voters.length > 1) {
        const to = this.rng.pick(conf.voters);
        this.stats.transfers++;
        this.trace(`t=${this.now} transfer leadership ${lead.id} -> ${to}`);
        lead.raw!.transferLeader(to);
      }
    }
  }

  private churn(): void {
    for (const [id, c] of this.scheduledCrashes) {
      const n = this.nodes.get(id);
      if (c.at > this.now) continue;
      this.scheduledCrashes.delete(id);
      if (n?.up === true && n.incarnation === c.incarnation) this.crash(n, 'scheduled leader crash');
    }
    const lead = this.leader();
    if (lead !== undefined) {
      // Writes go to the leader, which soon dies with a suffix replicated to some followers only.
      if (this.rng.chance(0.5)) this.proposeWrite(lead);
      if (this.rng.chance(0.12)) this.crash(lead, 'leader churn');
    }
    const down = [...this.nodes.values()].filter((n) => !n.up);
    if (down.length > 0 && this.rng.chance(0.15)) this.restart(this.rng.pick(down));
    if (this.rng.chance(0.02)) {
      this.net.faults = { dropRate: this.rng.pick([0, 0.1, 0.3]), duplicateRate: 0.02, maxDelay: this.rng.pick([1, 4, 10]) };
    }
  }

  private pause(n: SimNode): void {
    n.paused = true;
    n.pausedAt = this.now;
    this.trace(`t=${this.now} node ${n.id} paused`);
  }

  /**
   * A resumed process sees its monotonic clock jumped, and finds the messages that arrived while
   * it was paused waiting in its queue (they wait in the network here). The driver's rule
   * (RaftNode.turn): with ReadIndex it steps those messages first and then runs at most
   * electionTick - 1 of the missed ticks, dropping the rest (ticks are only liveness timers
   * there); with lease reads it runs the missed ticks first (capped: beyond a few election
   * timeouts it is all alike), so a stale leader sees its lease expire, and gets its messages
   * with the next tick.
   */
  private resume(n: SimNode): void {
    n.paused = false;
    const raw = n.raw!;
    const was = raw.raft.role;
    const missed = this.now - n.pausedAt;
    if (this.opts.leaseReads) {
      const ticks = Math.min(missed, MAX_CATCH_UP_TICKS);
      this.trace(`t=${this.now} node ${n.id} resumed as ${was}, catching up ${ticks} ticks first`);
      for (let i = 0; i < ticks; i++) raw.tick();
    } else {
      const queued = this.net.due(this.now, (id) => id === n.id);
      const ticks = Math.min(missed, this.opts.electionTick - 1);
      this.trace(`t=${this.now} node ${n.id} resumed as ${was}, stepping ${queued.length} queued messages, then ${ticks} of ${missed} missed ticks`);
      for (const m of queued) this.deliver(m);
      for (let i = 0; i < ticks; i++) raw.tick();
    }
    this.stats.resumes++;
    if (was === Role.Leader && raw.raft.role !== Role.Leader) this.stats.leadersLostOnResume++;
    this.trace(`t=${this.now} node ${n.id} is ${raw.raft.role} after resuming`);
  }

  private crash(n: SimNode, why: string): void {
    this.trace(`t=${this.now} crash node ${n.id} (${why})`);
    this.stats.crashes++;
    n.crash();
    this.net.dropFor(n.id);
    this.peerDownHints(n.id);
  }

  /**
   * The real transport redials a peer whose connection closed and reports a refused dial
   * (RaftNode.reportPeerDown). Some of the live nodes that can reach the dead one hear of it: after
   * the messages the dead node sent them before it died (TCP delivers those before the close),
   * and a tick or two for the redial. A paused node hears nothing, a dial across a cut is dropped
   * rather than refused, and a dead node back up by then accepts the redial.
   */
  private peerDownHints(dead: NodeId): void {
    const deadIncarnation = this.nodes.get(dead)?.incarnation ?? 0;
    for (const s of this.liveNodes()) {
      if (s.paused || s.id === dead || this.net.isCut(s.id, dead)) continue;
      if (!this.hintRng.chance(PEER_DOWN_HINT_CHANCE)) continue;
      const at = Math.max(this.now, this.net.lastDueFrom(dead, s.id) ?? this.now) + this.hintRng.int(3);
      this.pendingHints.push({ to: s.id, incarnation: s.incarnation, dead, deadIncarnation, at });
    }
  }

  private deliverPeerDownHints(): void {
    if (this.pendingHints.length === 0) return;
    const due = this.pendingHints.filter((h) => h.at <= this.now);
    this.pendingHints = this.pendingHints.filter((h) => h.at > this.now);
    for (const h of due) {
      const s = this.nodes.get(h.to);
      const dead = this.nodes.get(h.dead);
      if (s === undefined || !s.up || s.paused || s.incarnation !== h.incarnation) continue;
      if (dead !== undefined && (dead.up || dead.incarnation !== h.deadIncarnation)) continue;
      this.hintPeerDown(s, h.dead);
    }
  }

  /** A follower told its leader is down while the leader lives (a firewall REJECTs its dials). */
  private falsePeerDownHint(): void {
    const lead = this.leader();
    if (lead === undefined) return;
    const followers = this.liveNodes().filter((n) => !n.paused && n.raw!.raft.lead === lead.id && n.id !== lead.id);
    const s = this.hintRng.maybePick(followers);
    if (s !== undefined) this.hintPeerDown(s, lead.id);
  }

  /**
   * A cut made by a firewall REJECT rule refuses dials: followers cut off from their live leader
   * may be told it is down, the very case where a lease-based leader would still serve reads.
   */
  private rejectingCutHints(): void {
    const lead = this.leader();
    if (lead === undefined) return;
    for (const s of this.liveNodes()) {
      if (s.paused || s.id === lead.id || s.raw!.raft.lead !== lead.id || !this.net.isCut(s.id, lead.id)) continue;
      if (this.hintRng.chance(REJECTING_CUT_CHANCE)) this.hintPeerDown(s, lead.id);
    }
  }

  private hintPeerDown(s: SimNode, dead: NodeId): void {
    const raft = s.raw!.raft;
    const before = raft.lead;
    s.raw!.reportPeerDown(dead);
    this.stats.peerDownHints++;
    const taken = before === dead && raft.lead !== dead;
    if (taken) this.stats.peerDownHintsTaken++;
    this.trace(`t=${this.now} peer-down hint to ${s.id} about ${dead}${taken ? ' (taken)' : ''}`);
  }

  private restart(n: SimNode): void {
    this.trace(`t=${this.now} restart node ${n.id}`);
    n.start(this.opts, this.rng.fork());
  }

  private changeMembership(): void {
    const lead = this.leader();
    if (lead === undefined) return;
    const conf = this.currentConf();
    const raw = lead.raw!;
    const tryPropose = (type: ConfChangeType, nodeId: NodeId): boolean => {
      try {
        raw.proposeConfChange({ type, nodeId, context: '' });
      } catch (err) {
        if (err instanceof ProposalDroppedError) return false;
        throw err;
      }
      this.stats.confChanges++;
      this.proposedConf = applyToConfState(this.currentConf(), { type, nodeId, context: '' });
      this.trace(`t=${this.now} propose ${type} ${nodeId} at leader ${lead.id}`);
      return true;
    };
    const learner = conf.learners[0];
    if (learner !== undefined) {
      if (this.rng.chance(0.8)) tryPropose(ConfChangeType.AddNode, learner);
      else tryPropose(ConfChangeType.RemoveNode, learner);
      return;
    }
    if (conf.voters.length > 3 && this.rng.chance(0.5)) {
      const victim = this.rng.pick(conf.voters);
      tryPropose(ConfChangeType.RemoveNode, victim);
      return;
    }
    if (conf.voters.length < 5 && this.nodes.size < 9) {
      // A brand-new member with an empty disk; it catches up by log or snapshot as a learner.
      const id = this.nextNodeId++;
      const node = new SimNode(id, new MemoryStorage());
      node.start(this.opts, this.rng.fork());
      this.nodes.set(id, node);
      if (!tryPropose(ConfChangeType.AddLearner, id)) {
        this.nodes.delete(id);
        this.nextNodeId--;
      }
    }
  }

  /**
   * Every configuration some live node may still act on: the applied one, a pending proposal's,
   * and each live node's own view (a node that has not applied a removal still counts the removed
   * member in its quorum).
   */
  private configurationsInPlay(): ConfState[] {
    const confs = [this.currentConf()];
    if (this.proposedConf !== undefined) confs.push(this.proposedConf);
    for (const n of this.liveNodes()) if (n.confState.voters.length > 0) confs.push(n.confState);
    return confs;
  }

  /** Nodes no configuration in play counts are shut down, as an operator would. */
  private retireRemovedMembers(): void {
    const members = new Set(this.configurationsInPlay().flatMap((c) => [...c.voters, ...c.learners]));
    for (const n of [...this.nodes.values()]) {
      if (members.has(n.id)) continue;
      this.trace(`t=${this.now} retire node ${n.id}: not a member`);
      n.crash();
      this.net.dropFor(n.id);
      this.nodes.delete(n.id);
    }
  }

  // ---- heal and liveness ---------------------------------------------------------------------

  private heal(): void {
    this.net.healPartitions();
    this.net.faults = { dropRate: 0, duplicateRate: 0, maxDelay: 1 };
    for (const n of this.nodes.values()) if (n.paused) this.resume(n);
    this.retireRemovedMembers();
    const conf = this.currentConf();
    // Restart members until a majority of voters is up in every configuration in play; leave the
    // rest down at random.
    const confs = this.configurationsInPlay();
    const majorityUp = (): boolean =>
      confs.every((c) => c.voters.filter((id) => this.nodes.get(id)?.up === true).length >= Math.floor(c.voters.length / 2) + 1);
    const members = [...new Set(confs.flatMap((c) => [...c.voters, ...c.learners]))];
    for (const id of members) {
      const n = this.nodes.get(id);
      if (n === undefined || n.up) continue;
      if (majorityUp() && this.rng.chance(0.3)) continue;
      this.restart(n);
    }
    this.trace(`t=${this.now} heal: voters [${conf.voters.join(',')}] up [${this.liveNodes().map((n) => n.id).join(',')}]`);

    const bound = LIVENESS_TICKS_PER_ELECTION_TIMEOUT * this.opts.electionTick;
    const deadline = this.now + bound;
    let probe: { id: number; node: SimNode; incarnation: number; at: number } | undefined;
    while (this.now < deadline) {
      this.tick();
      if (probe !== undefined && this.ackedOps.has(probe.id)) {
        this.trace(`t=${this.now} live: probe write ${probe.id} committed`);
        return;
      }
      // A probe whose leader crashed or was deposed may never be acknowledged: propose another.
      // ... and so may one proposed at a stale leader that never hears of the newer term.
      const stale = probe !== undefined && this.now - probe.at > 3 * this.opts.electionTick;
      if (probe !== undefined && (stale || probe.node.incarnation !== probe.incarnation || probe.node.raw?.raft.role !== Role.Leader)) {
        probe = undefined;
      }
      const lead = this.leader();
      if (probe === undefined && lead !== undefined && lead.raw!.raft.leadTransferee === 0) {
        const id = this.nextOpId;
        if (this.proposeWrite(lead)) probe = { id, node: lead, incarnation: lead.incarnation, at: this.now };
      }
    }
    throw new Violation(
      'liveness',
      `no write committed within ${bound} ticks of healing (voters [${conf.voters.join(',')}], up [${this.liveNodes().map((n) => `${n.id}:${n.raw!.raft.role}/t${n.raw!.raft.term}`).join(' ')}])`,
    );
  }

}

export function runSeed(opts: SimOptions): SimResult {
  return new Simulation(opts).run();
}
