import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { open, type RootDatabase } from 'lmdb';
import { afterEach, describe, expect, it, vi } from 'vitest';

import { bootstrapStorage } from '../core/bootstrap.js';
import { ReadOnlyOption } from '../core/readonly.js';
import { MessageType, Role, message, type Entry, type Message, type NodeId, type Snapshot } from '../core/types.js';
import { LmdbStorage } from './lmdb-storage.js';
import { RaftNode, type Clock, type PeerSender, type RaftNodeLogger, type StateMachine, type StateSnapshotView } from './raft-node.js';

const TICK_MS = 100;
const ELECTION_TICKS = 10;
/** A stall of three election timeouts: enough for the old catch-up to run check-quorum twice. */
const STALL_MS = 3 * ELECTION_TICKS * TICK_MS;
const MEMBERS: readonly NodeId[] = [1, 2, 3];

/** Time moves only when the test says; the driver's interval runs only when the test fires it. */
class ManualClock implements Clock {
  private ms = 0;
  private readonly intervals = new Set<() => void>();

  now(): number {
    return this.ms;
  }
  advance(ms: number): void {
    this.ms += ms;
  }
  /** What the driver's ticker does every tickMs: asks for a turn. */
  fireIntervals(): void {
    for (const fn of this.intervals) fn();
  }
  setInterval(fn: () => void): unknown {
    this.intervals.add(fn);
    return fn;
  }
  clearInterval(handle: unknown): void {
    this.intervals.delete(handle as () => void);
  }
  /** Read timeouts never fire here: these tests issue no reads. */
  setTimeout(): unknown {
    return undefined;
  }
  clearTimeout(): void {}
}

/** Captures what the node sends; the test plays the peers. */
class CapturingTransport implements PeerSender {
  sent: Message[] = [];
  send(messages: readonly Message[]): void {
    this.sent.push(...messages);
  }
  take(): Message[] {
    const out = this.sent;
    this.sent = [];
    return out;
  }
}

class AppliedIndexOnly implements StateMachine {
  appliedIndex = 0;
  applyEntries(entries: readonly Entry[]): void {
    this.appliedIndex = entries[entries.length - 1]!.index;
  }
  restore(snapshot: Snapshot): void {
    this.appliedIndex = snapshot.metadata.index;
  }
  openSnapshot(): StateSnapshotView {
    return { appliedIndex: this.appliedIndex, chunks: [new Uint8Array(0)][Symbol.iterator](), close: () => {} };
  }
}

const silent: RaftNodeLogger = { info: () => {}, warn: () => {}, error: () => {} };

/** A healthy peer's answer to what the node under test sent it (its log equals the node's). */
function answer(m: Message): Message | undefined {
  const base = { from: m.to, to: m.from, term: m.term };
  switch (m.type) {
    case MessageType.PreVote:
      return message({ ...base, type: MessageType.PreVoteResp });
    case MessageType.Vote:
      return message({ ...base, type: MessageType.VoteResp });
    case MessageType.App:
      return message({ ...base, type: MessageType.AppResp, index: m.index + m.entries.length });
    case MessageType.Heartbeat:
      return message({ ...base, type: MessageType.HeartbeatResp, context: m.context });
    default:
      return undefined;
  }
}

interface Harness {
  readonly node: RaftNode;
  readonly clock: ManualClock;
  readonly transport: CapturingTransport;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Node 1 of a bootstrapped three-member group, on a manual clock, with election timeouts of exactly ELECTION_TICKS. */
async function startNode(readOnlyOption: ReadOnlyOption): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-raft-node-'));
  const root: RootDatabase = open({ path: dir });
  const storage = LmdbStorage.open(root);
  bootstrapStorage(storage, MEMBERS.map((id) => ({ id })));
  const clock = new ManualClock();
  const transport = new CapturingTransport();
  const node = new RaftNode({
    id: 1, storage, stateMachine: new AppliedIndexOnly(), transport, logger: silent, clock,
    random: { int: () => 0 }, tickMs: TICK_MS, electionTicks: ELECTION_TICKS, heartbeatTicks: 1, readOnlyOption,
  });
  cleanups.push(async () => {
    await node.stop();
    await root.close();
    await rm(dir, { recursive: true, force: true });
  });
  node.start();
  return { node, clock, transport };
}

/** One tick of time and the turn it brings; peers answer everything, until `done`. */
async function tickUntil(h: Harness, done: () => boolean): Promise<void> {
  for (let i = 0; i < 5 * ELECTION_TICKS && !done(); i++) {
    h.clock.advance(TICK_MS);
    h.clock.fireIntervals();
    // Long enough for a turn and its fsync; a slower one is answered in a later round.
    await new Promise((r) => setTimeout(r, 10));
    for (const m of h.transport.take()) {
      const a = answer(m);
      if (a !== undefined) h.node.step(a);
    }
  }
  expect(done()).toBe(true);
}

/**
 * Makes node 1 the leader with its term's entry committed, and returns its followers' answers to
 * its latest heartbeats, not yet delivered.
 */
async function electAndHoldHeartbeatAnswers(h: Harness): Promise<Message[]> {
  await tickUntil(h, () => h.node.isLeader() && h.node.status().commit === MEMBERS.length + 1);
  await tickUntil(h, () => h.node.status().progress.get(2)?.match === MEMBERS.length + 1 && h.node.status().progress.get(3)?.match === MEMBERS.length + 1);
  h.transport.take();
  h.clock.advance(TICK_MS);
  h.clock.fireIntervals();
  await vi.waitFor(() => expect(h.transport.sent.filter((m) => m.type === MessageType.Heartbeat)).toHaveLength(2));
  return h.transport.take().filter((m) => m.type === MessageType.Heartbeat).map((m) => answer(m)!);
}

/** The event loop was stalled for `ms`: the answers are queued when the node's next turn begins. */
async function stallWith(h: Harness, ms: number, queued: readonly Message[]): Promise<void> {
  h.clock.advance(ms);
  for (const m of queued) h.node.step(m);
  // The turn sends heartbeats (a leader) or answers the leader's (a follower) once it has run.
  await vi.waitFor(() => expect(h.transport.sent.some((m) => m.type === MessageType.Heartbeat || m.type === MessageType.HeartbeatResp)).toBe(true));
  await new Promise((r) => setTimeout(r, 5));
}

describe('RaftNode after a stall longer than an election timeout', () => {
  it('with ReadIndex, a leader whose followers answered during the stall stays leader', async () => {
    const h = await startNode(ReadOnlyOption.Safe);
    const answers = await electAndHoldHeartbeatAnswers(h);
    const term = h.node.status().term;
    await stallWith(h, STALL_MS, answers);
    // The answers were stepped before the catch-up ticks, and those ticks (at most
    // ELECTION_TICKS - 1) crossed at most one check-quorum, which counted both followers.
    expect(h.node.isLeader()).toBe(true);
    expect(h.node.status().term).toBe(term);
  });

  it('with lease reads, the same leader still runs every missed tick first: it steps down and campaigns', async () => {
    const h = await startNode(ReadOnlyOption.LeaseBased);
    const answers = await electAndHoldHeartbeatAnswers(h);
    const term = h.node.status().term;
    await stallWith(h, STALL_MS, answers);
    // Thirty ticks before the queued answers. The second check-quorum finds no follower active:
    // the leader steps down before it could serve a read on a lease its own clock says has
    // expired. The remaining ticks (at least an election timeout) run as a follower with no
    // leader, so it starts a pre-vote, which moves no term. The answers, stepped last, are
    // ignored by the pre-candidate.
    expect(h.node.isLeader()).toBe(false);
    expect(h.node.status().role).toBe(Role.PreCandidate);
    expect(h.node.status().term).toBe(term);
    await vi.waitFor(() => expect(h.transport.sent.filter((m) => m.type === MessageType.PreVote).map((m) => m.to).sort()).toEqual([2, 3]));
  });

  it('with ReadIndex, a follower with its leader\'s heartbeat waiting does not campaign, and the dropped ticks stay dropped', async () => {
    const h = await startNode(ReadOnlyOption.Safe);
    const heartbeat = message({ type: MessageType.Heartbeat, from: 2, to: 1, term: 2, commit: MEMBERS.length });
    h.node.step(heartbeat);
    await vi.waitFor(() => expect(h.transport.sent.some((m) => m.type === MessageType.HeartbeatResp)).toBe(true));
    expect(h.node.leaderId()).toBe(2);
    h.transport.take();

    await stallWith(h, STALL_MS, [heartbeat]);
    expect(h.transport.sent.filter((m) => m.type !== MessageType.HeartbeatResp)).toEqual([]);
    expect(h.node.status().role).toBe(Role.Follower);
    expect(h.node.leaderId()).toBe(2);

    // Nine ticks ran after the heartbeat; the stall's other twenty-one are not owed: half a tick
    // later nothing is due, and one tick after the stall the election timeout (ten) is reached.
    h.transport.take();
    h.clock.advance(TICK_MS / 2);
    h.clock.fireIntervals();
    await new Promise((r) => setTimeout(r, 20));
    expect(h.transport.sent).toEqual([]);
    expect(h.node.status().role).toBe(Role.Follower);
    h.clock.advance(TICK_MS / 2);
    h.clock.fireIntervals();
    await vi.waitFor(() => expect(h.transport.sent.filter((m) => m.type === MessageType.PreVote).map((m) => m.to).sort()).toEqual([2, 3]));
    expect(h.node.status().role).toBe(Role.PreCandidate);
  });
});
