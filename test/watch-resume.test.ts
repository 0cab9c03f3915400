// A watcher that loses its master resumes on another one from its last revision + 1 and sees every
// event exactly once, in revision order (etcd's watch contract across members).

import { afterEach, describe, expect, it } from 'vitest';
import { startEtcdctl } from '../store/etcd/testing.js';
import { TestCluster } from './harness/cluster.js';

let cluster: TestCluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

interface WatchEvent {
  readonly key: string;
  readonly modRevision: number;
}

/** Parses `etcdctl watch -w json` output: one JSON object per watch response. */
function events(stdout: string): WatchEvent[] {
  const out: WatchEvent[] = [];
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    const r = JSON.parse(line) as { Events?: { kv: { key: string; mod_revision: number } }[] };
    for (const e of r.Events ?? []) out.push({ key: Buffer.from(e.kv.key, 'base64').toString(), modRevision: e.kv.mod_revision });
  }
  return out;
}

describe('watch across masters', () => {
  it('resumes on another master after its master is killed, without a gap or a repeat', async () => {
    cluster = await TestCluster.start();
    const leader = await cluster.waitLeader();
    const first = cluster.members.find((m) => m !== leader)!;
    const second = cluster.members.find((m) => m !== leader && m !== first)!;
    const writer = cluster.client([leader.name]);
    for (let attempt = 0; ; attempt++) {
      try {
        await writer.put('w/0', 'v0');
        break;
      } catch (err) {
        if (attempt > 50) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    for (let i = 1; i < 40; i++) await writer.put(`w/${i}`, `v${i}`);

    const w1 = startEtcdctl(first.etcd, ['watch', '--prefix', 'w/', '--rev', '1', '-w', 'json']);
    await w1.waitFor((out) => events(out).length >= 40, 15_000, '40 events from the first master');
    await cluster.signal(first.name, 'SIGKILL');
    await w1.stop();
    const seen = events(w1.stdout);
    for (let i = 40; i < 80; i++) await writer.put(`w/${i}`, `v${i}`);

    const resumeFrom = seen[seen.length - 1]!.modRevision + 1;
    const w2 = startEtcdctl(second.etcd, ['watch', '--prefix', 'w/', '--rev', String(resumeFrom), '-w', 'json']);
    await w2.waitFor((out) => seen.length + events(out).length >= 80, 15_000, 'the rest of the events from the second master');
    await w2.stop();
    const all = [...seen, ...events(w2.stdout)];
    expect(all.map((e) => e.key)).toEqual(Array.from({ length: 80 }, (_, i) => `w/${i}`));
    // Revisions strictly increase (other writers, such as the API server's built-in namespaces, may
    // take revisions in between; a gap or repeat in this prefix shows in the keys above).
    for (let i = 1; i < all.length; i++) expect(all[i]!.modRevision).toBeGreaterThan(all[i - 1]!.modRevision);
    writer.close();
  });
});
