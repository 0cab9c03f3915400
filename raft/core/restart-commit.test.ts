// The driver does not persist a Ready that changes only the commit index (Raft's commitIndex is
// volatile state), so a node may restart with a stored commit below what it had applied.
import { describe, expect, it } from 'vitest';
import { RawNode } from './rawnode.js';
import { MemoryStorage } from './storage.js';
import { FixedRandom, TestNetwork } from './test-network.js';
import { EntryType } from './types.js';

describe('restart with a stored commit index behind the applied index', () => {
  it('counts what the application applied as committed, and delivers only what follows', () => {
    const storage = MemoryStorage.withMembers([1, 2, 3]);
    storage.append([1, 2, 3, 4, 5].map((index) => ({ term: 1, index, type: EntryType.Normal, data: new Uint8Array([index]) })));
    storage.setHardState({ term: 1, vote: 1, commit: 2 });
    const node = new RawNode({ id: 1, storage, electionTick: 10, heartbeatTick: 1, random: new FixedRandom(), applied: 4 });
    expect(node.status().commit).toBe(4);
    expect(node.status().applied).toBe(4);
    expect(node.hasReady()).toBe(false);
  });

  it('a member restarted with a stale commit relearns it from the leader', () => {
    const net = new TestNetwork([1, 2, 3]);
    net.campaign(1);
    for (let i = 0; i < 5; i++) net.propose(1, `w${i}`);
    net.deliverAll();
    const applied = net.applied.get(3)!.length;
    expect(applied).toBeGreaterThan(5);
    // Member 3 loses the commit index it had (as if the commit-only writes never happened).
    const s3 = net.storages.get(3)!;
    s3.setHardState({ ...s3.initialState().hardState, commit: 1 });
    net.start(3);
    net.propose(1, 'after');
    net.deliverAll();
    expect(net.nodes.get(3)!.status().commit).toBe(net.nodes.get(1)!.status().commit);
  });
});
