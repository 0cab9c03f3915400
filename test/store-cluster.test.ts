// Three real masters as separate processes: replication through any member, kill -9 of the leader,
// a killed member rejoining by log and by snapshot, and a corrupt log tail reported, not applied.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { open } from 'lmdb';
import { afterEach, describe, expect, it } from 'vitest';
import { LOG_DB_NAME } from '../raft/driver/lmdb-storage.js';
import type { StoreClient } from '../store/client.js';
import { etcdctl } from '../store/etcd/testing.js';
import { NativeStoreClient } from '../store/native/client.js';
import { TestCluster } from './harness/cluster.js';

let cluster: TestCluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

async function eventually<T>(what: string, f: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await f();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what}: not within ${timeoutMs} ms${last === undefined ? '' : ` (last error: ${(last as Error).message})`}`);
}

/** A first write right after an election may meet a follower that has not heard of the leader yet. */
async function putSoon(client: Pick<StoreClient, 'put'>, key: string, value: string): Promise<void> {
  await eventually(`put ${key}`, async () => ((await client.put(key, value)) > 0 ? true : undefined), 10_000);
}

describe('three-master store cluster', () => {
  it('writes through a follower and the leader are read back linearizably from every member', async () => {
    cluster = await TestCluster.start();
    const leader = await cluster.waitLeader();
    const follower = cluster.members.find((m) => m !== leader)!;
    const viaLeader = cluster.client([leader.name]);
    const viaFollower = cluster.client([follower.name]);
    await putSoon(viaLeader, 'a', '1');
    await putSoon(viaFollower, 'b', '2');
    for (const m of cluster.members) {
      const c = cluster.client([m.name]);
      expect((await c.get('a'))?.value.toString()).toBe('1');
      expect((await c.get('b'))?.value.toString()).toBe('2');
      c.close();
    }
    expect(await viaFollower.compareAndSet('a', '1', '3')).toBe(true);
    expect(await viaLeader.compareAndSet('a', '1', '4')).toBe(false);
    expect((await viaLeader.get('a'))?.value.toString()).toBe('3');
    viaLeader.close();
    viaFollower.close();
  });

  it('the native protocol writes through a follower and the leader; the etcd face reads what it wrote, and back', async () => {
    cluster = await TestCluster.start({ tickMs: 100 });
    const leader = await cluster.waitLeader();
    const follower = cluster.members.find((m) => m !== leader)!;
    const viaLeader = cluster.nativeClient([leader.name]);
    const viaFollower = cluster.nativeClient([follower.name]);
    await putSoon(viaLeader, 'n/a', '1');
    await putSoon(viaFollower, 'n/b', '2');
    const revisions = await Promise.all(Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? viaLeader : viaFollower).put(`n/many/${i}`, String(i))));
    expect(new Set(revisions).size).toBe(200);
    const etcd = cluster.client([follower.name]);
    expect((await etcd.get('n/b'))?.value.toString()).toBe('2');
    expect((await etcd.get('n/many/199'))?.value.toString()).toBe('199');
    await etcd.put('n/c', '3');
    for (const m of cluster.members) {
      const c = cluster.nativeClient([m.name]);
      expect((await c.get('n/a'))?.value.toString()).toBe('1');
      expect((await c.get('n/c'))?.value.toString()).toBe('3');
      c.close();
    }
    expect(await viaFollower.compareAndSet('n/a', '1', '3')).toBe(true);
    expect(await viaLeader.compareAndSet('n/a', '1', '4')).toBe(false);
    // Without the cluster token the masters refuse the upgrade.
    const stranger = new NativeStoreClient([leader.listen], { token: 'not-the-token', timeoutMs: 2_000 });
    await expect(stranger.put('n/x', 'y')).rejects.toThrow(/401/);
    stranger.close();
    etcd.close();
    viaLeader.close();
    viaFollower.close();
  });

  it('kill -9 of the leader: writes resume on a new leader; the old one rejoins and catches up by log', async () => {
    cluster = await TestCluster.start();
    const leader = await cluster.waitLeader();
    const client = cluster.client(cluster.members.filter((m) => m !== leader).map((m) => m.name), 1_000);
    await putSoon(client, 'k', 'before');
    const killedAt = Date.now();
    await cluster.signal(leader.name, 'SIGKILL');
    await eventually('a write after the leader died', async () => (await client.put('k', 'after')) > 0 ? true : undefined);
    console.log(`kill -9 of the leader to the next successful write: ${Date.now() - killedAt} ms (tick 20 ms)`);
    for (let i = 0; i < 50; i++) await client.put(`more${i}`, `${i}`);
    cluster.restart(leader.name);
    const back = cluster.client([leader.name]);
    await eventually('the killed member catches up', async () => ((await back.get('more49', { serializable: true }))?.value.toString() === '49' ? true : undefined));
    expect((await back.get('k'))?.value.toString()).toBe('after');
    client.close();
    back.close();
  });

  it('SIGTERM of the leader hands leadership to a follower before it exits; the writes go on', async () => {
    cluster = await TestCluster.start();
    const leader = await cluster.waitLeader();
    const others = cluster.members.filter((m) => m !== leader);
    const client = cluster.client(others.map((m) => m.name), 1_000);
    await putSoon(client, 'k', 'before');
    const term = (await cluster.status(leader.name))!.term;
    const stoppedAt = Date.now();
    const exited = cluster.signal(leader.name, 'SIGTERM');
    await putSoon(client, 'k', 'after');
    console.log(`SIGTERM of the leader to the next successful write: ${Date.now() - stoppedAt} ms (tick 20 ms)`);
    await exited;
    // Right at its exit, without waiting out an election timeout, a follower leads already: the old
    // leader waited for the transfer. (A stop by timeout would show no leader here for 10-20 ticks.)
    const statuses = await Promise.all(others.map((m) => cluster!.status(m.name)));
    const leading = statuses.filter((st) => st?.role === 'leader');
    expect(leading).toHaveLength(1);
    expect(leading[0]!.term).toBeGreaterThan(term);
    expect(readFileSync(leader.logFile, 'utf8')).toContain('leadership handed off');
    expect((await client.get('k'))?.value.toString()).toBe('after');
    client.close();
  });

  it('a member down past a compaction rejoins by snapshot', async () => {
    cluster = await TestCluster.start({ snapshotEvery: 50 });
    const leader = await cluster.waitLeader();
    const lagger = cluster.members.find((m) => m !== leader)!;
    await cluster.signal(lagger.name, 'SIGKILL');
    const client = cluster.client([leader.name]);
    await putSoon(client, 's0', '0');
    for (let i = 1; i < 300; i++) await client.put(`s${i}`, `${i}`);
    cluster.restart(lagger.name);
    const back = cluster.client([lagger.name]);
    await eventually('the lagging member catches up', async () => ((await back.get('s299', { serializable: true }))?.value.toString() === '299' ? true : undefined), 20_000);
    expect((await back.get('s0', { serializable: true }))?.value.toString()).toBe('0');
    const log = readFileSync(lagger.logFile, 'utf8');
    expect(log).toMatch(/snapshot/i);
    client.close();
    back.close();
  });

  it('a corrupt log tail is reported with its index and file, and the member refuses to start', async () => {
    cluster = await TestCluster.start();
    const leader = await cluster.waitLeader();
    const victim = cluster.members.find((m) => m !== leader)!;
    const client = cluster.client([leader.name]);
    await putSoon(client, 'c0', '0');
    for (let i = 1; i < 20; i++) await client.put(`c${i}`, `${i}`);
    await cluster.signal(victim.name, 'SIGTERM');
    // Flip a byte of the victim's last log entry, as a torn write would.
    const env = open({ path: victim.dataDir, maxDbs: 32 });
    const log = env.openDB<Uint8Array, Uint8Array>({ name: LOG_DB_NAME, encoding: 'binary', keyEncoding: 'binary' });
    let lastKey: Uint8Array | undefined;
    for (const { key } of log.getRange({ reverse: true, limit: 1 })) lastKey = key;
    const record = Uint8Array.from(log.get(lastKey!)!);
    record[record.length - 1] = record[record.length - 1]! ^ 0x5a;
    log.putSync(lastKey!, record);
    await env.close();
    const lastIndex = Number(Buffer.from(lastKey!).readBigUInt64BE(0));
    cluster.restart(victim.name);
    await eventually('the member exits', async () => (victim.proc?.exitCode !== null ? true : undefined));
    const text = readFileSync(victim.logFile, 'utf8');
    expect(text).toMatch(new RegExp(`raft log entry ${lastIndex} in .*data.mdb is corrupt`));
    expect(text).toContain(join(victim.dataDir));
    client.close();
  });

  it('a lease is kept alive through any member, expires at the leader, and its keys are deleted everywhere', async () => {
    cluster = await TestCluster.start();
    const leader = await cluster.waitLeader();
    const follower = cluster.members.find((m) => m !== leader)!;
    const client = cluster.client([leader.name]);
    await putSoon(client, 'warm', 'up');
    // Granted through a follower: the grant is a proposal like any write.
    const grant = await etcdctl(follower.etcd, ['lease', 'grant', '2']);
    const id = /lease ([0-9a-f]+) granted/.exec(grant.stdout)?.[1];
    expect(id, grant.stdout + grant.stderr).toBeDefined();
    expect((await etcdctl(leader.etcd, ['put', 'ephemeral', 'x', `--lease=${id!}`])).stdout).toBe('OK\n');
    // Kept alive at the leader for a while, it survives past its TTL.
    const keep = await etcdctl(leader.etcd, ['lease', 'keep-alive', '--once', id!]);
    expect(keep.stdout).toMatch(/keepalived with TTL\(2\)/);
    // A follower forwards keep-alive and time-to-live to the leader, which keeps the deadlines.
    const viaFollower = await etcdctl(follower.etcd, ['lease', 'keep-alive', '--once', id!]);
    expect(viaFollower.stdout + viaFollower.stderr).toMatch(/keepalived with TTL\(2\)/);
    const ttl = await etcdctl(follower.etcd, ['lease', 'timetolive', id!, '--keys']);
    expect(ttl.stdout + ttl.stderr).toMatch(/granted with TTL\(2s\), remaining\([012]s\), attached keys\(\[ephemeral\]\)/);
    for (const m of cluster.members) expect((await etcdctl(m.etcd, ['get', 'ephemeral', '--print-value-only'])).stdout).toBe('x\n');
    // The internal forwarding endpoint wants the cluster token.
    for (const auth of [undefined, 'Bearer wrong-token']) {
      const res = await fetch(`http://${leader.listen}/internal/lease/keepalive?id=${parseInt(id!, 16)}`, { method: 'POST', ...(auth ? { headers: { authorization: auth } } : {}) });
      expect(res.status).toBe(401);
    }
    // Left alone, it expires: the leader proposes the revoke, and every member deletes the key.
    for (const m of cluster.members) {
      await eventually(`the key expires on ${m.name}`, async () => ((await etcdctl(m.etcd, ['get', 'ephemeral', '--print-value-only'])).stdout === '' ? true : undefined), 10_000);
    }
    client.close();
  });

  it('a new member is added as a learner, joins with --join, catches up, publishes its name, is promoted and votes', async () => {
    cluster = await TestCluster.start();
    const leader = await cluster.waitLeader();
    const client = cluster.client([leader.name]);
    await putSoon(client, 'before-join', 'yes');
    const m4 = await cluster.newMember('m4');
    const added = await etcdctl(leader.etcd, ['member', 'add', 'm4', `--peer-urls=http://${m4.listen}`, '--learner']);
    const id = /Member +([0-9a-f]+) added/.exec(added.stdout)?.[1];
    expect(id, added.stdout + added.stderr).toBeDefined();
    // Added but not started: peer URLs, no name, no client URLs (as etcd lists it).
    const before = await etcdctl(leader.etcd, ['member', 'list']);
    expect(before.stdout).toMatch(new RegExp(`${id!}, unstarted, , http://${m4.listen.replace(/\./g, '\\.')}, , true`));
    cluster.startJoining('m4');
    const reader = cluster.client(['m4']);
    await eventually('the learner catches up', async () => ((await reader.get('before-join', { serializable: true }))?.value.toString() === 'yes' ? true : undefined), 20_000);
    await eventually('the learner is promoted', async () => {
      const r = await etcdctl(leader.etcd, ['member', 'promote', id!]);
      return r.code === 0 ? true : undefined;
    }, 20_000);
    // Started, m4 published its name and client URL through the log: every master lists them.
    const esc = (t: string): string => t.replace(/\./g, '\\.');
    const m4Line = (learner: boolean): RegExp => new RegExp(`${id!}, started, m4, http://${esc(m4.listen)}, http://${esc(m4.etcd)}, ${learner}`);
    const listsM4 = async (learner: boolean): Promise<void> => {
      for (const m of cluster!.members) {
        await eventually(`${m.name} lists m4 by name`, async () => (m4Line(learner).test((await etcdctl(m.etcd, ['member', 'list'])).stdout) ? true : undefined));
      }
    };
    await listsM4(false);
    const st = await cluster.status('m4');
    expect(st?.voters).toHaveLength(4);
    expect(st?.voters).toContain('m4');
    // The registry is in the replicated state: it survives restarts of the new member and of an old one.
    const old = cluster.members.find((m) => m.name !== leader.name && m.name !== 'm4')!;
    await cluster.signal('m4', 'SIGTERM');
    await cluster.signal(old.name, 'SIGKILL');
    cluster.restart('m4');
    cluster.restart(old.name);
    await listsM4(false);
    const all = await etcdctl(old.etcd, ['member', 'list']);
    for (const m of cluster.members) expect(all.stdout).toMatch(new RegExp(`, started, ${m.name}, http://${esc(m.listen)}, http://${esc(m.etcd)}, `));
    // Four voters: a write needs three; with one old member down it still commits.
    const down = cluster.members.find((m) => m.name !== leader.name && m.name !== 'm4')!;
    await cluster.signal(down.name, 'SIGKILL');
    await putSoon(client, 'after-join', 'yes');
    expect((await reader.get('after-join'))?.value.toString()).toBe('yes');
    client.close();
    reader.close();
  });

  it('every acknowledged write survives kill -9 of all three masters and a restart from disk', async () => {
    cluster = await TestCluster.start({ snapshotEvery: 40 });
    await cluster.waitLeader();
    const client = cluster.client(undefined, 2_000);
    await putSoon(client, 'd0', '0');
    const acked: string[] = ['d0'];
    // Concurrent writes; some are in flight when everything dies.
    const writers = Array.from({ length: 4 }, async (_, w) => {
      for (let i = 0; i < 60; i++) {
        const key = `d${w}-${i}`;
        try {
          await client.put(key, key);
          acked.push(key);
        } catch {
          return;
        }
      }
    });
    // Kill once some writes are acknowledged (not after a fixed time: a loaded machine is slow),
    // while the writers still have more in flight.
    await eventually('20 acknowledged writes', async () => (acked.length > 20 ? true : undefined));
    await Promise.all(cluster.members.map((m) => cluster!.signal(m.name, 'SIGKILL')));
    await Promise.all(writers);
    expect(acked.length).toBeGreaterThan(20);
    expect(acked.length).toBeLessThan(241);
    for (const m of cluster.members) cluster.restart(m.name);
    await cluster.waitLeader(20_000);
    const reader = cluster.client(undefined, 2_000);
    for (const key of acked) {
      const kv = await eventually(`read ${key}`, async () => (await reader.get(key)) ?? undefined);
      expect(kv.value.toString()).toBe(key === 'd0' ? '0' : key);
    }
    client.close();
    reader.close();
  });
});
