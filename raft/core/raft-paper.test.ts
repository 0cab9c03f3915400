// The situations of the Raft paper (Ongaro & Ousterhout, "In Search of an Understandable
// Consensus Algorithm", and Ongaro's thesis), each test naming the section it checks.

import { describe, expect, it } from 'vitest';
import { ProposalDroppedError } from './errors.js';
import { MemoryStorage } from './storage.js';
import { TestNetwork } from './test-network.js';
import { EntryType, MessageType, type Entry } from './types.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const ent = (index: number, term: number, text = ''): Entry => ({ index, term, type: EntryType.Normal, data: enc(text) });

/** Writes a log into a node's storage before it starts. */
function withLog(storage: MemoryStorage, entries: Entry[], term: number): void {
  storage.append(entries);
  storage.setHardState({ term, vote: 0, commit: 0 });
}

function logTerms(net: TestNetwork, id: number): number[] {
  const log = net.node(id).raft.raftLog;
  const terms: number[] = [];
  for (let i = log.firstIndex(); i <= log.lastIndex(); i++) terms.push(log.term(i));
  return terms;
}

describe('§5.2 leader election', () => {
  it('a follower that hears nothing campaigns and wins a majority', () => {
    const net = new TestNetwork([1, 2, 3]);
    net.tick(25);
    const lead = net.leader();
    expect(lead).toBeDefined();
    const term = net.node(lead!).raft.term;
    for (const id of [1, 2, 3]) {
      expect(net.node(id).raft.term).toBe(term);
      expect(net.node(id).raft.lead).toBe(lead);
    }
  });

  it('a node votes at most once per term (the vote is part of the persisted hard state)', () => {
    const net = new TestNetwork([1, 2, 3]);
    net.isolate(3);
    net.campaign(1);
    expect(net.node(2).raft.vote).toBe(1);
    // Node 2 already voted in term 1's successor; node 3's request for the same term is refused.
    net.recover();
    const term = net.node(1).raft.term;
    net.node(2).step({ ...net.messagesOfType(MessageType.Vote)[0]!, from: 3, to: 2, term });
    net.deliverAll();
    expect(net.node(2).raft.vote).toBe(1);
    expect(net.storages.get(2)!.initialState().hardState.vote).toBe(1);
  });

  it('a split vote elects nobody, and a later term elects exactly one leader', () => {
    const net = new TestNetwork([1, 2, 3, 4]);
    // 1 can reach only 3, 2 can reach only 4: each candidate gets 2 of 4 votes.
    net.cut(1, 2); net.cut(1, 4); net.cut(2, 3); net.cut(3, 4);
    net.node(1).campaign();
    net.node(2).campaign();
    net.deliverAll();
    expect(net.node(1).raft.role).toBe('candidate');
    expect(net.node(2).raft.role).toBe('candidate');
    expect(net.leader()).toBeUndefined();
    net.recover();
    net.tick(40);
    const leaders = [1, 2, 3, 4].filter((id) => net.node(id).raft.role === 'leader');
    expect(leaders).toHaveLength(1);
    expect(net.node(leaders[0]!).raft.term).toBeGreaterThan(1);
  });

  it('§5.4.1 a candidate with a less up-to-date log cannot win', () => {
    const net = new TestNetwork([1, 2, 3]);
    net.campaign(1);
    net.isolate(3);
    net.propose(1, 'x');
    net.recover();
    // Node 3 missed entry "x"; 1 and 2 refuse to vote for it.
    net.campaign(3);
    expect(net.node(3).raft.role).not.toBe('leader');
    net.tick(30);
    expect(net.leader()).not.toBe(3);
  });
});

describe('§5.3 log replication', () => {
  it('Figure 7: a new leader brings every kind of divergent follower log to its own', () => {
    // Leader's log terms (indexes 1..10): 1 1 1 4 4 5 5 6 6 6. The followers are (a)..(f).
    const leaderTerms = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
    const followers: number[][] = [
      [1, 1, 1, 4, 4, 5, 5, 6, 6], // (a) missing one
      [1, 1, 1, 4], // (b) missing many
      [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6], // (c) one extra uncommitted
      [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7], // (d) extra entries of a later term
      [1, 1, 1, 4, 4, 4, 4], // (e) conflicting term-4 entries
      [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3], // (f) conflicting terms 2 and 3
    ];
    for (const follower of followers) {
      const net = new TestNetwork([1, 2, 3], { maxSizePerMsg: 1 });
      withLog(net.storages.get(1)!, leaderTerms.map((t, i) => ent(i + 1, t, `L${i + 1}`)), 8);
      withLog(net.storages.get(2)!, follower.map((t, i) => ent(i + 1, t, `F${i + 1}`)), 7);
      withLog(net.storages.get(3)!, leaderTerms.map((t, i) => ent(i + 1, t, `L${i + 1}`)), 7);
      for (const id of [1, 2, 3]) net.start(id);
      // (d) holds a term-7 log, so only 3 votes for 1 — still a majority.
      net.campaign(1);
      expect(net.node(1).raft.role).toBe('leader');
      net.tick(5);
      expect(logTerms(net, 2)).toEqual([...leaderTerms, 9]);
      expect(net.node(2).raft.raftLog.committed).toBe(11);
    }
  });

  it('fast backtracking skips a whole conflicting term per round trip', () => {
    const net = new TestNetwork([1, 2, 3], { maxSizePerMsg: 1 });
    const leaderLog = Array.from({ length: 50 }, (_, i) => ent(i + 1, i < 10 ? 1 : 3));
    const followerLog = Array.from({ length: 60 }, (_, i) => ent(i + 1, i < 10 ? 1 : 2));
    withLog(net.storages.get(1)!, leaderLog, 3);
    withLog(net.storages.get(2)!, followerLog, 3);
    withLog(net.storages.get(3)!, leaderLog, 3);
    for (const id of [1, 2, 3]) net.start(id);
    net.campaign(1);
    net.tick(3);
    expect(logTerms(net, 2)).toEqual(logTerms(net, 1));
    const rejects = net.delivered.filter((m) => m.type === MessageType.AppResp && m.from === 2 && m.reject);
    // One rejection for the term-2 suffix, not one per entry.
    expect(rejects.length).toBeLessThanOrEqual(2);
  });

  it('batches many entries per append and keeps each message within maxSizePerMsg', () => {
    const net = new TestNetwork([1, 2, 3], { maxSizePerMsg: 1000 });
    net.campaign(1);
    net.isolate(2);
    for (let i = 0; i < 64; i++) net.node(1).propose(enc(`entry-${i}`.padEnd(100, '.')));
    net.deliverAll();
    net.recover();
    net.tick(3);
    const appends = net.delivered.filter((m) => m.type === MessageType.App && m.to === 2 && m.entries.length > 0);
    expect(appends.some((m) => m.entries.length > 1)).toBe(true);
    for (const m of appends) {
      const bytes = m.entries.reduce((n, e) => n + e.data.byteLength + 24, 0);
      expect(m.entries.length === 1 || bytes <= 1000).toBe(true);
    }
    expect(net.node(2).raft.raftLog.lastIndex()).toBe(net.node(1).raft.raftLog.lastIndex());
  });

  it('pipelines up to maxInflightMsgs appends before waiting for answers', () => {
    const net = new TestNetwork([1, 2], { maxSizePerMsg: 1, maxInflightMsgs: 4 });
    net.campaign(1);
    net.drop(MessageType.AppResp);
    for (let i = 0; i < 10; i++) net.node(1).propose(enc(`p${i}`));
    net.deliverAll();
    const appends = net.delivered.filter((m) => m.type === MessageType.App && m.entries.length > 0 && m.term === net.node(1).raft.term);
    // The window holds 4 appends; with every answer dropped no fifth goes out.
    const afterElection = appends.filter((m) => new TextDecoder().decode(m.entries[0]!.data).startsWith('p'));
    expect(afterElection).toHaveLength(4);
  });
});

describe('§5.4 safety', () => {
  it('Figure 8: an entry of an older term replicated on a majority does not commit by counting', () => {
    // Figure 8 (c): S1 leads term 4; S1, S2 and S3 hold index 2 from term 2; S5 holds 2 from term 3.
    const build = (bug: boolean): TestNetwork => {
      const net = new TestNetwork([1, 2, 3, 4, 5], { bugs: { commitOlderTermsByCounting: bug } });
      for (const id of [1, 2, 3]) withLog(net.storages.get(id)!, [ent(1, 1), ent(2, 2)], 3);
      withLog(net.storages.get(4)!, [ent(1, 1)], 3);
      withLog(net.storages.get(5)!, [ent(1, 1), ent(2, 3)], 3);
      for (const id of [1, 2, 3, 4, 5]) net.start(id);
      net.isolate(5);
      net.drop(MessageType.App); // the leader's appends (which carry its term-4 entry) are held back
      net.campaign(1);
      expect(net.node(1).raft.term).toBe(4);
      // S2 and S3 acknowledge index 2 (a probe's answer); the term-4 entry at 3 has reached nobody.
      for (const follower of [2, 3]) {
        net.node(1).step({
          type: MessageType.AppResp, from: follower, to: 1, term: 4, logTerm: 0, index: 2,
          entries: [], commit: 0, reject: false, rejectHint: 0, context: new Uint8Array(0),
        });
      }
      return net;
    };
    // Index 2 is on S1, S2, S3 — a majority — yet S5 could still be elected and overwrite it.
    expect(build(false).node(1).raft.raftLog.committed).toBe(0);
    expect(build(true).node(1).raft.raftLog.committed).toBe(2);
    // Once the term-4 entry reaches a majority, indexes 2 and 3 commit together.
    const net = build(false);
    net.recover();
    net.isolate(5);
    net.tick(2);
    expect(net.node(1).raft.raftLog.committed).toBe(3);
    expect(net.node(2).raft.raftLog.committed).toBe(3);
  });

  it('a stale leader cut off from the majority cannot commit, and its entries are overwritten on return', () => {
    const net = new TestNetwork([1, 2, 3]);
    net.campaign(1);
    net.propose(1, 'committed');
    net.isolate(1);
    net.propose(1, 'lost');
    expect(net.node(1).raft.raftLog.committed).toBeLessThan(net.node(1).raft.raftLog.lastIndex());
    net.campaign(2);
    net.propose(2, 'new');
    net.recover();
    net.tick(3);
    expect(net.node(1).raft.role).toBe('follower');
    for (const id of [1, 2, 3]) expect(net.appliedTexts(id)).toEqual(['committed', 'new']);
  });

  it('a partitioned leader that comes back with a stale term steps down (check-quorum + pre-vote)', () => {
    const net = new TestNetwork([1, 2, 3], { checkQuorum: true, preVote: true });
    net.campaign(1);
    net.isolate(1);
    net.tick(25, [1]);
    // Check-quorum: it could not hear a majority for an election timeout.
    expect(net.node(1).raft.role).toBe('follower');
    net.tick(30, [2, 3]);
    const lead = net.leader();
    expect(lead === 2 || lead === 3).toBe(true);
    net.recover();
    net.tick(5);
    expect(net.leader()).toBe(lead);
    expect(net.node(1).raft.lead).toBe(lead);
  });

  it('§9.6 pre-vote: a node isolated for long does not inflate its term or disrupt the leader on return', () => {
    const net = new TestNetwork([1, 2, 3], { preVote: true, checkQuorum: true });
    net.campaign(1);
    const term = net.node(1).raft.term;
    net.isolate(3);
    net.tick(100, [3]);
    expect(net.node(3).raft.term).toBe(term);
    net.recover();
    net.tick(5);
    expect(net.leader()).toBe(1);
    expect(net.node(1).raft.term).toBe(term);
  });
});

describe('§6.4 linearizable reads', () => {
  it('ReadIndex at a follower returns the leader commit index after a heartbeat quorum', () => {
    const net = new TestNetwork([1, 2, 3]);
    net.campaign(1);
    net.propose(1, 'a');
    net.node(2).readIndex(enc('r1'));
    net.deliverAll();
    const rs = net.readStates.get(2)!;
    expect(rs).toHaveLength(1);
    expect(rs[0]!.index).toBe(net.node(1).raft.raftLog.committed);
  });

  it('a read queued in an old term is not released with that term\'s commit index later (found by the simulator)', () => {
    const net = new TestNetwork([1, 2, 3]);
    net.campaign(1);
    net.isolate(1);
    net.node(1).readIndex(enc('old'));
    net.deliverAll();
    // The majority moves on and commits more.
    net.campaign(2);
    net.propose(2, 'newer');
    net.recover();
    net.tick(2);
    // Node 1 leads again later; the old read must not come back with the old commit index.
    net.campaign(1);
    net.tick(3);
    const released = (net.readStates.get(1) ?? []).filter((r) => new TextDecoder().decode(r.context) === 'old');
    expect(released).toHaveLength(0);
  });

  it('a leader cut off from the majority does not answer ReadIndex', () => {
    const net = new TestNetwork([1, 2, 3]);
    net.campaign(1);
    net.isolate(1);
    net.node(1).readIndex(enc('r'));
    net.tick(3, [1]);
    expect(net.readStates.get(1) ?? []).toHaveLength(0);
  });

  it('lease reads answer at once while the lease holds, and not after a transfer began', () => {
    const net = new TestNetwork([1, 2, 3], { checkQuorum: true, leaseReads: true });
    net.tick(12);
    const lead = net.leader()!;
    net.tick(2);
    const before = net.delivered.length;
    net.node(lead).readIndex(enc('lease'));
    net.deliverAll();
    expect(net.readStates.get(lead)!.map((r) => new TextDecoder().decode(r.context))).toContain('lease');
    expect(net.delivered.length).toBe(before);
  });
});

describe('§3.10 leadership transfer', () => {
  it('hands leadership to an up-to-date follower', () => {
    const net = new TestNetwork([1, 2, 3], { checkQuorum: true, preVote: true });
    net.campaign(1);
    net.node(1).transferLeader(3);
    net.deliverAll();
    expect(net.leader()).toBe(3);
  });

  it('catches a lagging transferee up first, and drops proposals meanwhile', () => {
    const net = new TestNetwork([1, 2, 3]);
    net.campaign(1);
    net.isolate(3);
    net.propose(1, 'x');
    net.node(1).transferLeader(3);
    expect(() => net.node(1).propose(enc('y'))).toThrow(ProposalDroppedError);
    net.recover();
    net.tick(2);
    expect(net.leader()).toBe(3);
    expect(net.appliedTexts(3)).toEqual(['x']);
  });
});

describe('bounds', () => {
  it('a leader without quorum refuses proposals past the uncommitted bound', () => {
    const net = new TestNetwork([1, 2, 3], { maxUncommittedEntriesSize: 1000 });
    net.campaign(1);
    net.isolate(1);
    let accepted = 0;
    let dropped = 0;
    for (let i = 0; i < 100; i++) {
      try {
        net.node(1).propose(new Uint8Array(100));
        accepted++;
      } catch (err) {
        expect(err).toBeInstanceOf(ProposalDroppedError);
        dropped++;
      }
    }
    expect(accepted).toBeLessThan(12);
    expect(dropped).toBeGreaterThan(0);
  });
});

describe('Ready contract', () => {
  it('a vote leaves in the same Ready as the hard state recording it (persist first, then send)', () => {
    const net = new TestNetwork([1, 2, 3]);
    net.node(1).campaign();
    const rd1 = net.node(1).ready();
    const vote = rd1.messages.find((m) => m.type === MessageType.Vote && m.to === 2)!;
    net.node(2).step(vote);
    const rd2 = net.node(2).ready();
    expect(rd2.messages.some((m) => m.type === MessageType.VoteResp && !m.reject)).toBe(true);
    expect(rd2.hardState?.vote).toBe(1);
    expect(rd2.mustSync).toBe(true);
  });

  it('an append acknowledgement leaves in the same Ready as the entries it acknowledges', () => {
    const net = new TestNetwork([1, 2, 3]);
    net.campaign(1);
    net.node(1).propose(enc('z'));
    const rd = net.node(1).ready();
    const app = rd.messages.find((m) => m.type === MessageType.App && m.to === 2)!;
    net.node(2).step(app);
    const rd2 = net.node(2).ready();
    const ack = rd2.messages.find((m) => m.type === MessageType.AppResp)!;
    expect(rd2.entries.map((e) => e.index)).toContain(ack.index);
  });
});
