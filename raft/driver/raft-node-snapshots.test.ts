// RaftNode's snapshots: compaction records no data, a restart resumes from the state machine's own
// durable state, and a state machine behind a data-less snapshot stops the node. The state machine
// is a stub in the log's LMDB environment that counts what the driver asks of it.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { open, type Database, type RootDatabase } from 'lmdb';
import { afterEach, describe, expect, it } from 'vitest';

import { bootstrapStorage } from '../core/bootstrap.js';
import { SnapshotTemporarilyUnavailableError } from '../core/errors.js';
import { StateMachineSnapshotStorage } from '../core/state-machine-snapshots.js';
import { MemoryStorage } from '../core/storage.js';
import type { Entry, Snapshot } from '../core/types.js';
import { LmdbStorage } from './lmdb-storage.js';
import { RaftNode, StateBehindSnapshotError, cryptoRandom, type StateMachine, type StateSnapshotView } from './raft-node.js';
import { SnapshotMaker, type SnapshotMakerOptions } from './snapshot-maker.js';

const quiet = { info: () => {}, warn: () => {}, error: (msg: string, f?: Record<string, unknown>) => console.error(msg, f) };

/**
 * A state machine that counts applied entries carrying data, committed with its applied index in
 * the log's environment (as the MVCC store is), and counts the driver's calls.
 */
class CountingStateMachine implements StateMachine {
  private readonly db: Database<number, string>;
  appliedIndex: number;
  writes: number;
  opens = 0;
  restores = 0;

  constructor(private readonly root: RootDatabase) {
    this.db = root.openDB<number, string>({ name: 'counting-sm' });
    this.appliedIndex = this.db.get('applied') ?? 0;
    this.writes = this.db.get('writes') ?? 0;
  }

  applyEntries(entries: readonly Entry[]): void {
    this.root.transactionSync(() => {
      for (const e of entries) {
        if (e.index <= this.appliedIndex) continue;
        if (e.data.byteLength > 0) this.writes++;
        this.appliedIndex = e.index;
      }
      this.db.putSync('applied', this.appliedIndex);
      this.db.putSync('writes', this.writes);
    });
  }

  restore(snapshot: Snapshot): void {
    this.restores++;
    const { applied, writes } = JSON.parse(new TextDecoder().decode(snapshot.data)) as { applied: number; writes: number };
    this.root.transactionSync(() => {
      this.db.putSync('applied', applied);
      this.db.putSync('writes', writes);
    });
    this.appliedIndex = applied;
    this.writes = writes;
  }

  openSnapshot(): StateSnapshotView {
    this.opens++;
    const state = { applied: this.appliedIndex, writes: this.writes };
    return { appliedIndex: state.applied, chunks: [new TextEncoder().encode(JSON.stringify(state))][Symbol.iterator](), close: () => {} };
  }

  /** Rewinds the durable state, as a lost state machine would look after a restart. */
  rewind(applied: number): void {
    this.root.transactionSync(() => this.db.putSync('applied', applied));
  }
}

interface SingleNode {
  readonly dir: string;
  root: RootDatabase;
  storage: LmdbStorage;
  machine: CountingStateMachine;
  node: RaftNode;
}

const opened: SingleNode[] = [];
afterEach(async () => {
  for (const n of opened.splice(0)) {
    await n.node.stop();
    await n.root.close();
    rmSync(n.dir, { recursive: true, force: true });
  }
});

function startNode(n: Pick<SingleNode, 'root' | 'storage' | 'machine'>): RaftNode {
  const node = new RaftNode({
    id: 1, storage: n.storage, stateMachine: n.machine, transport: { send: () => {} }, logger: quiet, random: cryptoRandom,
    tickMs: 5, electionTicks: 4, snapshotEvery: 20, compactionMargin: 5,
  });
  node.start();
  return node;
}

function singleNode(): SingleNode {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-raft-node-'));
  const root = open({ path: dir, maxDbs: 8 });
  const storage = LmdbStorage.open(root);
  bootstrapStorage(storage, [{ id: 1 }]);
  const machine = new CountingStateMachine(root);
  const n: SingleNode = { dir, root, storage, machine, node: startNode({ root, storage, machine }) };
  opened.push(n);
  return n;
}

/** Closes the environment and opens it again, as a restarted master does; returns the new storage and machine. */
async function reopen(n: SingleNode): Promise<void> {
  await n.node.stop();
  await n.root.close();
  n.root = open({ path: n.dir, maxDbs: 8 });
  n.storage = LmdbStorage.open(n.root);
  n.machine = new CountingStateMachine(n.root);
}

async function until(what: string, condition: () => boolean): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (condition()) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function writeEntries(n: SingleNode, count: number): Promise<void> {
  await until('a leader', () => n.node.isLeader());
  const target = n.machine.writes + count;
  for (let i = 0; i < count; i++) await n.node.propose(new TextEncoder().encode(`w${i}`));
  await until(`${target} writes applied`, () => n.machine.writes >= target);
}

describe('RaftNode snapshots', () => {
  it('compaction records a snapshot without data and never asks the state machine for it', async () => {
    const n = singleNode();
    await writeEntries(n, 100);
    const recorded = n.storage.recordedSnapshot();
    expect(recorded.dataLocation).toBe('state-machine');
    expect(recorded.metadata.index).toBeGreaterThanOrEqual(80);
    expect(recorded.metadata.confState).toEqual({ voters: [1], learners: [] });
    expect(n.storage.firstIndex()).toBe(recorded.metadata.index - 5 + 1);
    expect(n.machine.opens).toBe(0);
    expect(n.machine.appliedIndex).toBeGreaterThanOrEqual(recorded.metadata.index);
    expect(n.storage.verify()).toMatchObject({ status: 'ok' });
  });

  it('a restart after compaction resumes from the durable state, without a restore or the deleted log', async () => {
    const n = singleNode();
    await writeEntries(n, 100);
    const before = { applied: n.machine.appliedIndex, writes: n.machine.writes };
    const firstIndex = n.storage.firstIndex();
    expect(firstIndex).toBeGreaterThan(50);
    await reopen(n);
    n.node = startNode(n);
    expect(n.machine.restores).toBe(0);
    expect({ applied: n.machine.appliedIndex, writes: n.machine.writes }).toEqual(before);
    await writeEntries(n, 10);
    expect(n.machine.writes).toBe(before.writes + 10);
    expect(n.machine.restores).toBe(0);
  });

  it('a state machine behind a snapshot without data stops the node with both indexes', async () => {
    const n = singleNode();
    await writeEntries(n, 60);
    const snapshotIndex = n.storage.recordedSnapshot().metadata.index;
    await reopen(n);
    n.machine.rewind(7);
    n.machine = new CountingStateMachine(n.root);
    const err = ((): unknown => {
      try {
        n.node = startNode(n);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(StateBehindSnapshotError);
    expect(err).toMatchObject({ appliedIndex: 7, snapshotIndex, file: n.storage.file });
    expect(String((err as Error).message)).toContain(`applied up to 7, behind the snapshot at ${snapshotIndex}`);
    expect(n.machine.restores).toBe(0);
    // afterEach stops a node: give it one that never started.
    n.machine.rewind(snapshotIndex);
    n.machine = new CountingStateMachine(n.root);
    n.node = startNode(n);
  });

  it('a state machine behind a snapshot with data (one from a leader) is restored from it, as before', async () => {
    const n = singleNode();
    await writeEntries(n, 30);
    await reopen(n);
    const index = n.storage.lastIndex();
    n.storage.createSnapshot(index, { voters: [1], learners: [] }, new TextEncoder().encode(JSON.stringify({ applied: index, writes: 1234 })));
    n.machine.rewind(2);
    n.machine = new CountingStateMachine(n.root);
    n.node = startNode(n);
    expect(n.machine.restores).toBe(1);
    expect(n.machine.writes).toBe(1234);
  });
});

describe('SnapshotMaker', () => {
  function chunksView(applied: number, chunks: string[], closed: { count: number }): StateSnapshotView {
    return { appliedIndex: applied, chunks: chunks.map((c) => new TextEncoder().encode(c))[Symbol.iterator](), close: () => closed.count++ };
  }

  function maker(view: () => StateSnapshotView): { maker: SnapshotMaker; deferred: (() => void)[] } {
    const deferred: (() => void)[] = [];
    let t = 0;
    // Every clock read is 20 ms later: each slice takes one chunk.
    const opts: SnapshotMakerOptions = { openView: view, now: () => (t += 20), defer: (fn) => deferred.push(fn), logger: quiet };
    return { maker: new SnapshotMaker(opts), deferred };
  }

  it('is asked through the core storage, makes the data in slices at the given point, and serves it until superseded', () => {
    const closed = { count: 0 };
    const { maker: m, deferred } = maker(() => chunksView(42, ['ab', 'cd', 'e'], closed));
    const disk = MemoryStorage.withMembers([1, 2]);
    disk.append(Array.from({ length: 50 }, (_, k) => ({ index: k + 1, term: k < 30 ? 1 : 2, type: 0, data: new Uint8Array() })));
    disk.recordSnapshot(40, { voters: [1, 2], learners: [] });
    const core = new StateMachineSnapshotStorage(disk, m);
    expect(() => core.snapshot()).toThrow(SnapshotTemporarilyUnavailableError);
    m.startIfRequested(() => ({ index: 42, term: disk.term(42), confState: { voters: [1, 2], learners: [] } }));
    expect(m.busy).toBe(true);
    expect(() => core.snapshot()).toThrow(SnapshotTemporarilyUnavailableError);
    let slices = 0;
    while (deferred.length > 0) {
      deferred.shift()!();
      slices++;
    }
    expect(slices).toBeGreaterThanOrEqual(3);
    expect(closed.count).toBeGreaterThan(0);
    const snap = core.snapshot();
    expect(snap.metadata).toEqual({ index: 42, term: 2, confState: { voters: [1, 2], learners: [] } });
    expect(new TextDecoder().decode(snap.data)).toBe('abcde');
    // A newer compaction snapshot supersedes it: the core is told to wait for a new one.
    disk.recordSnapshot(45, { voters: [1, 2], learners: [] });
    expect(() => core.snapshot()).toThrow(SnapshotTemporarilyUnavailableError);
  });

  it('does nothing unless asked, and drops a view pinned at another index than the applied one', () => {
    const closed = { count: 0 };
    let opens = 0;
    const { maker: m, deferred } = maker(() => {
      opens++;
      return chunksView(43, ['x'], closed);
    });
    m.startIfRequested(() => ({ index: 42, term: 1, confState: { voters: [1], learners: [] } }));
    expect(opens).toBe(0);
    m.request();
    m.startIfRequested(() => ({ index: 42, term: 1, confState: { voters: [1], learners: [] } }));
    expect(opens).toBe(1);
    expect(closed.count).toBe(1);
    expect(m.busy).toBe(false);
    expect(deferred).toEqual([]);
  });
});
