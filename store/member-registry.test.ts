// The member registry: conf changes record a member's peer address, a started member publishes its
// name and client URL through the log (etcd's "publish"), and the registry is part of the state —
// durable across restarts and carried by snapshots to members that never saw the entries.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { pack } from './mvcc/tables.js';
import type { Message, NodeId } from '../raft/core/types.js';
import type { MemberRecord } from './backend.js';
import { StoreMember } from './member.js';
import { encodeMemberContext, memberIdFromAddress } from './members.js';
import { putCommand } from './mvcc/commands.js';
import { openTempStore, utf8, type TempStore } from './mvcc/testing.js';
import { RaftBackend } from './raft-backend.js';

const quiet = { info: () => {}, warn: () => {}, error: (msg: string, f?: Record<string, unknown>) => console.error(msg, f) };

describe('the member registry in the MVCC state', () => {
  const temps: TempStore[] = [];
  afterEach(async () => {
    for (const t of temps.splice(0)) await t.dispose();
  });
  const temp = (): TempStore => {
    const t = openTempStore();
    temps.push(t);
    return t;
  };

  it('records conf changes and publishes, takes no revision, and survives a reopen', async () => {
    const t = temp();
    t.store.applyMembership(1, { type: 'add', id: 11, peerAddress: 'a:1', name: 'm1' });
    t.store.applyMembership(2, { type: 'add', id: 44, peerAddress: 'd:4', name: '' });
    expect(t.store.member(44)).toEqual({ id: 44, name: '', peerAddress: 'd:4', clientUrls: [] });
    const outcome = t.store.apply(3, { type: 'memberPublish', id: 44, name: 'm4', clientUrls: ['http://d:5'] });
    expect(outcome).toMatchObject({ status: 'applied', response: { type: 'memberPublish', revision: 1 } });
    // A publish for a member no longer in the registry changes nothing.
    t.store.apply(4, { type: 'memberPublish', id: 99, name: 'gone', clientUrls: [] });
    // A promotion keeps what was published.
    t.store.applyMembership(5, { type: 'add', id: 44, peerAddress: 'd:4', name: '' });
    expect(t.store.currentRevision).toBe(1);
    expect(t.store.appliedIndex).toBe(5);
    await t.reopen();
    expect(t.store.members()).toEqual([
      { id: 11, name: 'm1', peerAddress: 'a:1', clientUrls: [] },
      { id: 44, name: 'm4', peerAddress: 'd:4', clientUrls: ['http://d:5'] },
    ]);
    t.store.applyMembership(6, { type: 'remove', id: 11 });
    expect(t.store.members().map((m) => m.id)).toEqual([44]);
  });

  it('travels in snapshots; a version 1 snapshot restores an empty registry', () => {
    const source = temp();
    source.store.applyMembership(1, { type: 'add', id: 7, peerAddress: 'h:7', name: 'm7' });
    source.store.apply(2, putCommand(utf8('k'), utf8('v')));
    source.store.apply(3, { type: 'memberPublish', id: 7, name: 'm7', clientUrls: ['http://h:8'] });
    const target = temp();
    target.store.restore(source.store.snapshot());
    expect(target.store.members()).toEqual(source.store.members());
    expect(Buffer.from(target.store.snapshot())).toEqual(Buffer.from(source.store.snapshot()));

    const v1 = Buffer.concat([pack(['flotilla.mvcc.snapshot', 1, 3, 1, 0]), pack(['end', 0, 0])]);
    target.store.restore(new Uint8Array(v1));
    expect(target.store.members()).toEqual([]);
    const v1WithMembers = Buffer.concat([pack(['flotilla.mvcc.snapshot', 1, 3, 1, 0]), pack(['members', [[7, 'm7', 'h:7', []]]]), pack(['end', 0, 0])]);
    expect(() => target.store.restore(new Uint8Array(v1WithMembers))).toThrow(/members/);
  });

  it('refuses a publish that is not one', () => {
    const t = temp();
    expect(t.store.apply(1, { type: 'memberPublish', id: 1, name: '', clientUrls: [] })).toMatchObject({ status: 'rejected' });
  });
});

/** In-memory peers; a member is reachable while it is registered and not down. */
class Router {
  readonly members = new Map<NodeId, StoreMember>();
  sender(from: NodeId): { send(ms: readonly Message[]): void } {
    return {
      send: (ms) => {
        for (const m of ms) setImmediate(() => (this.members.has(from) ? this.members.get(m.to)?.raft.step(m) : undefined));
      },
    };
  }
}

interface Node {
  readonly name: string;
  readonly id: NodeId;
  member: StoreMember;
  backend: RaftBackend;
}

describe('names published through Raft (three members and a learner)', () => {
  let dir = '';
  const router = new Router();
  const nodes = new Map<string, Node>();
  afterEach(async () => {
    for (const n of nodes.values()) await stop(n);
    nodes.clear();
    rmSync(dir, { recursive: true, force: true });
  });

  const founders = ['m1', 'm2', 'm3'].map((name, i) => ({ name, address: `10.0.0.${i + 1}:7001` }));

  function start(name: string, address: string, join = false): Node {
    const id = memberIdFromAddress(address);
    let backend: RaftBackend | undefined;
    const member = StoreMember.open({
      id, dataDir: `${dir}/${name}`, join, transport: router.sender(id), logger: quiet, tickMs: 10, electionTicks: 10,
      snapshotEvery: 20, compactionMargin: 2,
      initialMembers: founders.map((f) => ({ id: memberIdFromAddress(f.address), context: encodeMemberContext(f) })),
      onConfChange: (cs, cc) => backend?.confChanged(cs, cc),
    });
    // No names from flags: whatever a member lists, it learned from the log or a snapshot.
    backend = new RaftBackend({ member, clusterId: 1n, knownMembers: new Map(), name, clientUrl: `http://${address.replace(':7001', ':2379')}` });
    router.members.set(id, member);
    member.start();
    void backend.publish();
    const node = { name, id, member, backend };
    nodes.set(name, node);
    return node;
  }

  async function stop(n: Node): Promise<void> {
    router.members.delete(n.id);
    n.backend.close();
    await n.member.close().catch(() => {});
  }

  async function until<T>(what: string, f: () => Promise<T | undefined> | T | undefined): Promise<T> {
    for (let i = 0; i < 500; i++) {
      const v = await f();
      if (v !== undefined) return v;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`timed out waiting for ${what}`);
  }

  const listed = async (n: Node, name: string): Promise<MemberRecord | undefined> => (await n.backend.members()).find((m) => m.name === name && m.clientUrls.length > 0);

  it('a learner lists unnamed until it starts; then every member lists its name, also after restarts and from snapshots', async () => {
    dir = mkdtempSync(join(tmpdir(), 'flotilla-registry-'));
    for (const f of founders) start(f.name, f.address);
    const leader = await until('a leader', () => [...nodes.values()].find((n) => n.backend.isLeader()));
    // Enough writes that the log is compacted past the founding conf changes.
    for (let i = 0; i < 60; i++) await leader.member.store.write(putCommand(utf8(`k${i}`), utf8(`${i}`)));
    expect(leader.member.storage.firstIndex()).toBeGreaterThan(4);
    for (const n of nodes.values()) await until(`${n.name} publishes`, () => listed(leader, n.name));

    const added = await leader.backend.addMember(['http://10.0.0.4:7001'], true);
    expect(added.member).toMatchObject({ name: '', peerUrls: ['http://10.0.0.4:7001'], clientUrls: [], isLearner: true });
    for (const n of nodes.values()) {
      await until(`${n.name} hears of the learner`, async () => (await n.backend.members()).find((m) => m.id === added.member.id));
      expect((await n.backend.members()).find((m) => m.id === added.member.id)).toMatchObject({ name: '', peerUrls: ['http://10.0.0.4:7001'] });
    }

    const m4 = start('m4', '10.0.0.4:7001', true);
    for (const n of nodes.values()) {
      const record = await until(`${n.name} lists m4 by name`, () => listed(n, 'm4'));
      expect(record).toMatchObject({ id: added.member.id, peerUrls: ['http://10.0.0.4:7001'], clientUrls: ['http://10.0.0.4:2379'], isLearner: true });
    }
    // m4 learned the founders from a snapshot (the log that named them is compacted away).
    expect(m4.member.storage.snapshot().metadata.index).toBeGreaterThan(4);
    for (const f of founders) expect(await listed(m4, f.name)).toMatchObject({ peerUrls: [`http://${f.address}`] });

    // Restarts: the registry is read from disk, not from flags.
    for (const name of ['m4', leader.name]) {
      const n = nodes.get(name)!;
      await stop(n);
      const back = start(name, name === 'm4' ? '10.0.0.4:7001' : founders.find((f) => f.name === name)!.address, name === 'm4');
      // Before it replays or hears anything, the registry on disk has every name.
      expect(back.member.store.mvcc.members().map((m) => m.name).sort()).toEqual(['m1', 'm2', 'm3', 'm4']);
      const names = await until(`${name} lists four members again`, async () => {
        const list = (await back.backend.members()).map((m) => m.name).sort();
        return list.length === 4 ? list : undefined;
      });
      expect(names).toEqual(['m1', 'm2', 'm3', 'm4']);
    }
  });
});
