// The fast-failover hint (RawNode.reportPeerDown, Raft.handleLeaderDown): the driver saw a peer's
// process gone, and a follower whose leader it was campaigns within a few ticks. Safety must not
// depend on the hint being right; these tests show what it changes and what it leaves alone.

import { describe, expect, it } from 'vitest';
import { PEER_DOWN_CAMPAIGN_STAGGER_TICKS } from './raft.js';
import { TestNetwork, type TestNodeOptions } from './test-network.js';
import { MessageType } from './types.js';

/** Ticks until the last of two survivors (rank 1) campaigns. */
const FAILOVER_TICKS = 1 + PEER_DOWN_CAMPAIGN_STAGGER_TICKS;

/** The options every master runs with. */
const PRODUCTION: TestNodeOptions = { preVote: true, checkQuorum: true };

/** A three-node cluster led by node 1, settled (every follower has heard the leader). */
function ledByOne(opts: TestNodeOptions = PRODUCTION): TestNetwork {
  const net = new TestNetwork([1, 2, 3], opts);
  net.campaign(1);
  net.tick(2);
  expect(net.leader()).toBe(1);
  return net;
}

function terms(net: TestNetwork, ids: readonly number[]): number[] {
  return ids.map((id) => net.node(id).raft.term);
}

function sentBy(net: TestNetwork, from: number, type: MessageType, since: number): number {
  return net.delivered.slice(since).filter((m) => m.from === from && m.type === type).length;
}

describe('peer-down hint: a follower told its leader is gone', () => {
  it('both followers hinted: a new leader within a few ticks, one election, no term churn', () => {
    const net = ledByOne();
    const term = net.node(1).raft.term;
    net.crash(1);
    net.node(2).reportPeerDown(1);
    net.node(3).reportPeerDown(1);
    net.deliverAll();
    expect(net.node(2).raft.lead).toBe(0);
    expect(net.node(3).raft.lead).toBe(0);

    // The first survivor in id order campaigns at the next tick and wins.
    net.tick(1);
    const lead = net.leader();
    expect(lead).toBe(2);
    // Exactly one election: the term moved by one, and both survivors agree on it and the leader.
    expect(terms(net, [2, 3])).toEqual([term + 1, term + 1]);
    expect(net.node(2).raft.lead).toBe(lead);
    expect(net.node(3).raft.lead).toBe(lead);
    net.propose(lead!, 'after failover');
    expect(net.appliedTexts(2)).toContain('after failover');
    expect(net.appliedTexts(3)).toContain('after failover');
    net.tick(30);
    expect(terms(net, [2, 3])).toEqual([term + 1, term + 1]);
  });

  it('five nodes: the survivors campaign in id order, STAGGER ticks apart, so their pre-votes never collide', () => {
    const net = new TestNetwork([1, 2, 3, 4, 5], PRODUCTION);
    net.campaign(1);
    net.tick(2);
    const term = net.node(1).raft.term;
    net.crash(1);
    for (const id of [2, 3, 4, 5]) net.node(id).reportPeerDown(1);
    const since = net.delivered.length;
    net.tick(1 + 3 * PEER_DOWN_CAMPAIGN_STAGGER_TICKS + 5);
    expect(net.leader()).toBe(2);
    for (const id of [3, 4, 5]) expect(sentBy(net, id, MessageType.PreVote, since)).toBe(0);
    expect(terms(net, [2, 3, 4, 5])).toEqual([term + 1, term + 1, term + 1, term + 1]);
  });

  it('a pre-vote that reaches a survivor before its own hint is ignored; the next in rank then wins', () => {
    const net = ledByOne();
    const term = net.node(1).raft.term;
    net.crash(1);
    net.node(2).reportPeerDown(1);
    net.tick(1);
    // Node 3 still honours node 1's lease and ignores node 2's pre-vote.
    expect(net.node(2).raft.role).toBe('pre-candidate');
    expect(net.node(3).raft.lead).toBe(1);
    net.node(3).reportPeerDown(1);
    net.tick(FAILOVER_TICKS);
    expect(net.leader()).toBe(3);
    expect(terms(net, [2, 3])).toEqual([term + 1, term + 1]);
    expect(net.node(2).raft.lead).toBe(3);
  });

  it('without the hint, the same crash leaves no leader for those ticks (the election timeout runs)', () => {
    const net = ledByOne();
    net.crash(1);
    net.tick(FAILOVER_TICKS);
    expect(net.leader()).toBeUndefined();
    expect(net.node(2).raft.lead).toBe(1);
  });

  it('only one follower hinted while the leader lives: its pre-vote is refused and the leader keeps leading', () => {
    const net = ledByOne();
    const term = net.node(1).raft.term;
    // Node 2 neither hears the leader nor can reach it (a one-way REJECT rule, say); node 3 can.
    net.cut(1, 2);
    net.node(2).reportPeerDown(1);
    const since = net.delivered.length;
    net.tick(FAILOVER_TICKS + 5);
    // Node 2 did campaign early, but node 3 is in the leader's lease and refuses: no term moved.
    expect(sentBy(net, 2, MessageType.PreVote, since)).toBeGreaterThan(0);
    expect(net.delivered.slice(since).filter((m) => m.to === 2 && m.type === MessageType.PreVoteResp && !m.reject)).toHaveLength(0);
    expect(sentBy(net, 2, MessageType.Vote, since)).toBe(0);
    expect(net.leader()).toBe(1);
    expect(terms(net, [1, 2, 3])).toEqual([term, term, term]);
    expect(net.node(3).raft.lead).toBe(1);

    net.recover();
    net.tick(2);
    expect(net.node(2).raft.role).toBe('follower');
    expect(net.node(2).raft.lead).toBe(1);
    expect(terms(net, [1, 2, 3])).toEqual([term, term, term]);
  });

  it('a wrong hint is undone by the leader\'s next heartbeat, which cancels the early campaign', () => {
    const net = ledByOne();
    // Node 3 ranks second: it would campaign after FAILOVER_TICKS, the heartbeat comes first.
    net.node(3).reportPeerDown(1);
    net.deliverAll();
    expect(net.node(3).raft.lead).toBe(0);
    const since = net.delivered.length;
    net.tick(FAILOVER_TICKS + 5);
    expect(net.node(3).raft.lead).toBe(1);
    expect(sentBy(net, 3, MessageType.PreVote, since)).toBe(0);
  });

  it('a hint about a node that is not the leader, or given to the leader, changes nothing', () => {
    const net = ledByOne();
    const term = net.node(1).raft.term;
    const before = net.node(2).raft.electionElapsed;
    net.node(2).reportPeerDown(3);
    expect(net.node(2).raft.lead).toBe(1);
    expect(net.node(2).raft.electionElapsed).toBe(before);
    expect(net.node(2).hasReady()).toBe(false);
    net.node(1).reportPeerDown(2);
    net.node(1).reportPeerDown(3);
    expect(net.node(1).raft.role).toBe('leader');
    expect(net.node(1).hasReady()).toBe(false);
    const since = net.delivered.length;
    net.tick(FAILOVER_TICKS + 5);
    expect(sentBy(net, 2, MessageType.PreVote, since) + sentBy(net, 3, MessageType.PreVote, since)).toBe(0);
    expect(net.leader()).toBe(1);
    expect(terms(net, [1, 2, 3])).toEqual([term, term, term]);
  });

  it('a candidate ignores the hint', () => {
    const net = ledByOne();
    net.isolate(2);
    net.tick(25, [2]); // node 2 hears nothing and keeps pre-campaigning
    expect(net.node(2).raft.role).toBe('pre-candidate');
    const elapsed = net.node(2).raft.electionElapsed;
    net.node(2).reportPeerDown(1);
    expect(net.node(2).raft.role).toBe('pre-candidate');
    expect(net.node(2).raft.electionElapsed).toBe(elapsed);
  });

  it('lease-read mode ignores the hint: followers honour the lease until the election timeout', () => {
    const net = new TestNetwork([1, 2, 3], { ...PRODUCTION, leaseReads: true });
    net.tick(12);
    const lead = net.leader()!;
    expect(lead).toBeDefined();
    net.tick(2);
    const survivors = [1, 2, 3].filter((id) => id !== lead);
    net.crash(lead);
    for (const id of survivors) net.node(id).reportPeerDown(lead);
    net.tick(FAILOVER_TICKS);
    expect(net.leader()).toBeUndefined();
    for (const id of survivors) expect(net.node(id).raft.lead).toBe(lead);
    net.tick(25);
    expect(survivors).toContain(net.leader());
  });

  it('why lease mode must ignore it: a leader cut off by a REJECT rule would serve a stale lease read', () => {
    const enc = (t: string): Uint8Array => new TextEncoder().encode(t);
    const run = (bug: boolean): { newLeader: number | undefined; staleRead: boolean } => {
      const net = new TestNetwork([1, 2, 3], { ...PRODUCTION, leaseReads: true, ...(bug ? { bugs: { peerDownHintInLeaseMode: true } } : {}) });
      net.tick(12);
      const lead = net.leader()!;
      net.tick(2); // a fresh heartbeat quorum: the lease holds for a few more ticks
      const others = [1, 2, 3].filter((id) => id !== lead);
      net.isolate(lead); // both followers' dials to the live leader are refused
      for (const id of others) net.node(id).reportPeerDown(lead);
      net.tick(FAILOVER_TICKS, others);
      const newLeader = others.find((id) => net.node(id).raft.role === 'leader');
      if (newLeader !== undefined) net.propose(newLeader, 'x');
      const committed = newLeader === undefined ? 0 : net.node(newLeader).raft.raftLog.committed;
      net.node(lead).readIndex(enc('lease-read'));
      net.deliverAll();
      const served = (net.readStates.get(lead) ?? []).filter((r) => new TextDecoder().decode(r.context) === 'lease-read');
      return { newLeader, staleRead: served.some((r) => r.index < committed) };
    };
    // Honouring the hint, the followers elect a leader and commit inside the old leader's lease.
    expect(run(true)).toMatchObject({ staleRead: true });
    // Ignoring it (the rule), no leader is elected while the lease holds.
    expect(run(false)).toEqual({ newLeader: undefined, staleRead: false });
  });

  it('without pre-vote or check-quorum the hint is ignored (a single wrong hint could depose a live leader)', () => {
    for (const opts of [{ preVote: false, checkQuorum: true }, { preVote: true, checkQuorum: false }]) {
      const net = ledByOne(opts);
      net.crash(1);
      net.node(2).reportPeerDown(1);
      net.node(3).reportPeerDown(1);
      net.tick(FAILOVER_TICKS);
      expect(net.leader()).toBeUndefined();
      expect(net.node(2).raft.lead).toBe(1);
    }
  });
});
