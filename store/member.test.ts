// Three store members in one process over an in-memory router: the Raft driver with real LMDB
// storage, group commit, restarts from disk, and catch-up by log and by snapshot.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Message, NodeId } from '../raft/core/types.js';
import { StoreMember } from './member.js';
import { putCommand, rangeOp, txnCommand } from './mvcc/commands.js';
import { text, utf8 } from './mvcc/testing.js';

const quiet = { info: () => {}, warn: () => {}, error: (msg: string, f?: Record<string, unknown>) => console.error(msg, f) };

class Router {
  readonly members = new Map<NodeId, StoreMember>();
  readonly down = new Set<NodeId>();
  sender(from: NodeId): { send(ms: readonly Message[]): void } {
    return {
      send: (ms) => {
        for (const m of ms) {
          setImmediate(() => {
            if (this.down.has(from) || this.down.has(m.to)) return;
            this.members.get(m.to)?.raft.step(m);
          });
        }
      },
    };
  }
}

interface Cluster {
  readonly router: Router;
  readonly dir: string;
  open(id: NodeId): StoreMember;
  leader(): Promise<StoreMember>;
  close(): Promise<void>;
}

const clusters: Cluster[] = [];
afterEach(async () => {
  for (const c of clusters.splice(0)) await c.close();
});

function cluster(opts: { snapshotEvery?: number; compactionMargin?: number } = {}): Cluster {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-member-'));
  const router = new Router();
  const ids = [1, 2, 3];
  const c: Cluster = {
    router,
    dir,
    open(id) {
      const m = StoreMember.open({
        id, dataDir: join(dir, `m${id}`), initialMembers: ids.map((i) => ({ id: i })), transport: router.sender(id),
        logger: quiet, tickMs: 10, electionTicks: 10, ...opts,
      });
      router.members.set(id, m);
      router.down.delete(id);
      m.start();
      return m;
    },
    async leader() {
      for (let i = 0; i < 500; i++) {
        for (const m of router.members.values()) if (!router.down.has(m.id) && m.raft.isLeader()) return m;
        await new Promise((r) => setTimeout(r, 10));
      }
      throw new Error('no leader within 5 s');
    },
    async close() {
      for (const m of router.members.values()) await m.close().catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
  clusters.push(c);
  for (const id of ids) c.open(id);
  return c;
}

async function put(m: StoreMember, key: string, value: string): Promise<number> {
  // Right after an election a follower may not know the leader yet ("no leader"): retry briefly.
  for (let attempt = 0; ; attempt++) {
    try {
      const outcome = await m.store.write(putCommand(utf8(key), utf8(value)));
      if (outcome.status !== 'applied') throw new Error(`put ${key}: ${outcome.status}`);
      return outcome.index;
    } catch (err) {
      if (attempt >= 50 || !/no leader|timed out/.test(String(err))) throw err;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 300 && !condition(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(condition()).toBe(true);
}

async function get(m: StoreMember, key: string, serializable = false): Promise<string | undefined> {
  const r = await m.store.range({ key: utf8(key) }, { serializable });
  return r.kvs[0] === undefined ? undefined : text(r.kvs[0].value);
}

describe('replicated store members', () => {
  it('elects a leader; writes through the leader and a follower are read linearizably everywhere', async () => {
    const c = cluster();
    const lead = await c.leader();
    const follower = [...c.router.members.values()].find((m) => m !== lead)!;
    await put(lead, 'a', '1');
    await put(follower, 'b', '2');
    for (const m of c.router.members.values()) {
      expect(await get(m, 'a')).toBe('1');
      expect(await get(m, 'b')).toBe('2');
    }
  });

  it('group commit: concurrent writes all apply, in fewer appends than writes', async () => {
    const c = cluster();
    const lead = await c.leader();
    const indexes = await Promise.all(Array.from({ length: 200 }, (_, i) => put(lead, `k${i}`, `v${i}`)));
    expect(new Set(indexes).size).toBe(200);
    const r = await lead.store.range({ key: utf8('k'), rangeEnd: utf8('l'), countOnly: true });
    expect(r.count).toBe(200);
  });

  it('the leader dies; writes resume on a new leader; the old one restarts from disk and catches up', async () => {
    const c = cluster();
    const lead = await c.leader();
    await put(lead, 'x', 'before');
    c.router.down.add(lead.id);
    await lead.close();
    c.router.members.delete(lead.id);
    const next = await c.leader();
    expect(next.id).not.toBe(lead.id);
    await put(next, 'x', 'after');
    const back = c.open(lead.id);
    for (let i = 0; i < 300 && (await get(back, 'x', true)) !== 'after'; i++) await new Promise((r) => setTimeout(r, 10));
    expect(await get(back, 'x', true)).toBe('after');
    expect(await get(back, 'x')).toBe('after');
  });

  it('a member that was down past a compaction catches up by snapshot', async () => {
    const c = cluster({ snapshotEvery: 20, compactionMargin: 2 });
    const lead = await c.leader();
    const lagger = [...c.router.members.values()].find((m) => m !== lead)!;
    c.router.down.add(lagger.id);
    await lagger.close();
    c.router.members.delete(lagger.id);
    for (let i = 0; i < 60; i++) await put(lead, `s${i}`, `${i}`);
    expect(lead.storage.firstIndex()).toBeGreaterThan(2);
    // Compaction copied no state: the data is made from the store when the follower needs it.
    expect(lead.storage.recordedSnapshot().dataLocation).toBe('state-machine');
    const opens = vi.spyOn(lead.store.machine, 'openSnapshot');
    const back = c.open(lagger.id);
    for (let i = 0; i < 300 && (await get(back, 's59', true)) !== '59'; i++) await new Promise((r) => setTimeout(r, 10));
    expect(await get(back, 's59', true)).toBe('59');
    expect(await get(back, 's0', true)).toBe('0');
    expect(opens).toHaveBeenCalled();
    // The follower persisted the snapshot it received with its data, at or past the leader's record.
    const received = back.storage.recordedSnapshot();
    expect(received.dataLocation).toBe('inline');
    expect(received.metadata.index).toBeGreaterThanOrEqual(lead.storage.recordedSnapshot().metadata.index - 20);
    expect(back.storage.snapshot().data.byteLength).toBeGreaterThan(0);
    // Restarted, it resumes from its own state, and the states agree byte for byte.
    c.router.down.add(back.id);
    await back.close();
    c.router.members.delete(back.id);
    await put(lead, 'after', 'restart');
    const again = c.open(lagger.id);
    for (let i = 0; i < 300 && (await get(again, 'after', true)) !== 'restart'; i++) await new Promise((r) => setTimeout(r, 10));
    expect(await get(again, 'after', true)).toBe('restart');
    await until(() => again.store.mvcc.appliedIndex === lead.store.mvcc.appliedIndex);
    expect(Buffer.compare(again.store.mvcc.snapshot(), lead.store.mvcc.snapshot())).toBe(0);
  });
});

describe('waiting writes on a leader change', () => {
  it('fail fast with an unknown-outcome error and never crash the process', async () => {
    const c = cluster();
    const lead = await c.leader();
    const follower = [...c.router.members.values()].find((m) => m !== lead)!;
    // Cut the leader off: writes forwarded to it by a follower can never be applied.
    c.router.down.add(lead.id);
    const pending = Array.from({ length: 20 }, (_, i) => follower.store.write(putCommand(utf8(`lost${i}`), utf8('x'))));
    const results = await Promise.allSettled(pending);
    for (const r of results) {
      expect(r.status).toBe('rejected');
      expect(String((r as PromiseRejectedResult).reason)).toMatch(/request timed out|no leader/);
    }
  });
});

describe('the txn batcher across members', () => {
  const create = (key: string, value: string) => {
    const k = utf8(key);
    return txnCommand([{ key: k, target: 'createRevision', result: 'equal', createRevision: 0 }], [putCommand(k, utf8(value))], [rangeOp(k)]);
  };

  it('concurrent txns through a leader and a follower take few entries; every member ends identical', async () => {
    const c = cluster();
    const lead = await c.leader();
    const follower = [...c.router.members.values()].find((m) => m !== lead)!;
    await put(follower, 'warm', '1'); // the follower knows the leader
    const firstIndex = lead.store.mvcc.appliedIndex;
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) => (i % 2 === 0 ? lead : follower).store.proposeTxn(create(`t${i % 50}`, `v${i}`))),
    );
    // Each key was created once; the other txn on it saw it exist.
    expect(results.filter((r) => r.succeeded)).toHaveLength(50);
    const revisions = results.filter((r) => r.succeeded).map((r) => r.revision);
    expect(new Set(revisions).size).toBe(50);
    expect(lead.store.mvcc.appliedIndex - firstIndex).toBeLessThan(50);
    const stats = lead.store.batcher.stats;
    expect(stats.txns).toBeGreaterThan(stats.batches);
    // Followers apply after the leader, through an asynchronous LMDB batch (its applied index
    // counts an entry before the batch commits): wait until every member's state is the same.
    const deadline = Date.now() + 20_000;
    let snapshots: Buffer[] = [];
    for (;;) {
      snapshots = [...c.router.members.values()].map((m) => Buffer.from(m.store.mvcc.snapshot()));
      if (snapshots.every((s) => s.equals(snapshots[0]!)) || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(snapshots[1]).toEqual(snapshots[0]);
    expect(snapshots[2]).toEqual(snapshots[0]);
  });

  it('a leader change fails every txn still waiting, as other writes are failed', async () => {
    const c = cluster();
    const lead = await c.leader();
    const follower = [...c.router.members.values()].find((m) => m !== lead)!;
    await put(follower, 'warm', '1');
    c.router.down.add(lead.id);
    const pending = Array.from({ length: 20 }, (_, i) => follower.store.proposeTxn(create(`lost${i}`, 'x')));
    const results = await Promise.allSettled(pending);
    for (const r of results) {
      expect(r.status).toBe('rejected');
      expect(String((r as PromiseRejectedResult).reason)).toMatch(/request timed out|no leader/);
    }
  });
});
