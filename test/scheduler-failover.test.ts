// The masters' schedulers across a failover: kill -9 the master whose scheduler holds the Lease in
// the middle of a run; a standby on another master takes over, and at the end every pod is bound,
// none was ever bound twice (a watch sees each pod's nodeName set once), and no node holds more
// requests than its allocatable.

import { Writable } from 'node:stream';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { statusCommand } from '../cli/status.js';
import { cpuMillis } from '../apiserver/resources/quantity.js';
import { isReason, type ApiClient } from '../client/api-client.js';
import type { Lease, Node, Pod } from '../proto/api/types.js';
import { TestCluster } from './harness/cluster.js';
import { eventually } from './harness/eventually.js';

const NODES = 40;
const PODS = 1_500;
/** 4 cpu per node and 100m per pod: room for 1,600 pods, so the last pods test the fit filter. */
const NODE_CPU = '4';
const POD_CPU = '100m';

let cluster: TestCluster;
let api: ApiClient;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

beforeAll(async () => {
  // The production tick: CI runs several clusters at once on two cores (see api-cluster.test.ts).
  cluster = await TestCluster.start({ tickMs: 100 });
  await cluster.waitLeader();
  api = cluster.api();
  await eventually(() => api.get('Namespace', 'default'));
}, 60_000);

afterAll(async () => {
  await api?.close();
  await cluster?.stop();
});

test('kill -9 of the active scheduler\'s master mid-run: every pod bound once, no node over allocatable', async () => {
  const nodes: Node[] = Array.from({ length: NODES }, (_, i) => ({
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: `n${i}`, labels: { 'kubernetes.io/hostname': `n${i}` } },
    spec: {},
    status: {
      capacity: { cpu: NODE_CPU, memory: '16Gi', pods: '110' },
      allocatable: { cpu: NODE_CPU, memory: '16Gi', pods: '110' },
      conditions: [{ type: 'Ready', status: 'True' }],
    },
  }));
  for (const r of await api.bulkCreate('Node', nodes)) expect(r.ok).toBe(true);
  const holder = await eventually(async () => {
    const lease = await api.get<Lease>('Lease', 'flotilla-scheduler', 'kube-system');
    const id = lease.spec?.holderIdentity ?? '';
    if (id === '') throw new Error('no scheduler holds the lease yet');
    return id;
  }, 30_000);
  const victim = cluster.members.find((m) => holder.startsWith(`${m.name}-`))!;
  const survivors = cluster.members.filter((m) => m !== victim).map((m) => m.name);
  // The active scheduler is a process of its own, the victim master's child.
  const victimScheduler = (await cluster.status(victim.name))?.schedulerPid;
  expect(victimScheduler).toBeGreaterThan(0);

  // A watch on a surviving master records every change of each pod's nodeName.
  const watcher = cluster.api([survivors[0]!]);
  // The master's own cache position (resourceVersion "0"): a consistent list's revision may predate
  // a cache that started late (its first list waits for a leader) and would be Expired there.
  const start = await eventually(() => watcher.list('Pod', { namespace: 'default', resourceVersion: '0' }));
  const boundTo = new Map<string, string>();
  const rebinds: string[] = [];
  const ac = new AbortController();
  let watchError: unknown;
  const watching = (async () => {
    for await (const ev of watcher.watch<Pod>('Pod', { namespace: 'default', resourceVersion: start.resourceVersion, signal: ac.signal })) {
      const name = ev.object.metadata.name ?? '';
      const node = ev.object.spec?.nodeName ?? '';
      if (ev.type === 'BOOKMARK' || node === '') continue;
      const before = boundTo.get(name);
      if (before !== undefined && before !== node) rebinds.push(`${name}: ${before} -> ${node}`);
      boundTo.set(name, node);
    }
  })().catch((err: unknown) => {
    if (!ac.signal.aborted) watchError = err;
  });

  const pods: Pod[] = Array.from({ length: PODS }, (_, i) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `p${i}`, namespace: 'default' },
    spec: { containers: [{ name: 'c', image: 'pause', resources: { requests: { cpu: POD_CPU, memory: '64Mi' } } }] },
  }));
  const creator = cluster.api(survivors);
  try {
    // Mid-run: the first pods are being bound when the scheduler's master dies, and the rest are
    // created only then, so the standby has to bind them (a scheduler in its own process can bind
    // 1,500 pods before a kill lands: creating them all first made the failover optional).
    const FIRST = 500;
    for (const r of await creator.bulkCreate('Pod', pods.slice(0, FIRST))) expect(r.ok).toBe(true);
    await eventually(async () => {
      if (watchError !== undefined) throw new Error(`the watch failed: ${String(watchError)}`);
      if (boundTo.size < 200) throw new Error(`only ${boundTo.size} bound`);
    });
    await cluster.signal(victim.name, 'SIGKILL');
    // The victim may have led the Raft group too: creates fail until a new leader is elected, and
    // one that failed may still have committed (AlreadyExists on the retry).
    for (let i = FIRST; i < PODS; i += 500) {
      await eventually(async () => {
        const failed = (await creator.bulkCreate('Pod', pods.slice(i, i + 500))).filter((r) => !r.ok && !isReason(r.error, 'AlreadyExists'));
        if (failed.length > 0) throw new Error(`${failed.length} creates failed`);
      }, 30_000);
    }
    // Its scheduler process sees the master's channel close and exits: no orphan keeps running.
    await eventually(async () => {
      if (alive(victimScheduler!)) throw new Error(`scheduler process ${victimScheduler} outlived its master`);
    }, 10_000);

    // The standby takes the lease once it expires (15 s) and binds the rest.
    await eventually(async () => {
      if (boundTo.size < PODS) throw new Error(`${boundTo.size}/${PODS} bound`);
    }, 90_000);
    ac.abort();
    await watching;

    const listed = await creator.listAll<Pod>('Pod', { namespace: 'default' });
    expect(listed.items.filter((p) => (p.spec?.nodeName ?? '') === '')).toEqual([]);
    const requested = new Map<string, number>();
    for (const p of listed.items) requested.set(p.spec!.nodeName!, (requested.get(p.spec!.nodeName!) ?? 0) + cpuMillis(POD_CPU));
    for (const [node, milli] of requested) expect(milli, node).toBeLessThanOrEqual(cpuMillis(NODE_CPU));
    expect(rebinds).toEqual([]);
    const lease = await creator.get<Lease>('Lease', 'flotilla-scheduler', 'kube-system');
    expect(lease.spec?.holderIdentity?.startsWith(`${victim.name}-`)).toBe(false);
  } finally {
    await Promise.all([creator.close(), watcher.close()]);
  }
}, 180_000);

test('a scheduler process that dies is started again by its master', async () => {
  const member = cluster.members.find((m) => m.proc?.exitCode === null && m.proc.signalCode === null)!;
  const first = await eventually(async () => {
    const pid = (await cluster.status(member.name))?.schedulerPid;
    if (pid === undefined) throw new Error(`${member.name} reports no scheduler process`);
    return pid;
  });
  process.kill(first, 'SIGKILL');
  const second = await eventually(async () => {
    const pid = (await cluster.status(member.name))?.schedulerPid;
    if (pid === undefined || pid === first) throw new Error(`${member.name} has not restarted its scheduler (pid ${pid})`);
    return pid;
  }, 15_000);
  expect(alive(second)).toBe(true);
  // `flotilla status` shows it.
  let printed = '';
  const out = new Writable({ write: (chunk: Buffer, _enc, done) => ((printed += chunk.toString()), done()) });
  await statusCommand(['--endpoints', member.listen], out);
  expect(printed).toMatch(/SCHEDULER/);
  expect(printed).toContain(`pid ${second}`);
  // A graceful stop of the cluster stops the scheduler processes too.
  const pids = (await Promise.all(cluster.members.map((m) => cluster.status(m.name)))).flatMap((st) => (st?.schedulerPid === undefined ? [] : [st.schedulerPid]));
  expect(pids.length).toBeGreaterThan(0);
  await api.close();
  await cluster.stop();
  await eventually(async () => {
    const left = pids.filter(alive);
    if (left.length > 0) throw new Error(`scheduler processes ${left.join(', ')} outlived the cluster`);
  }, 10_000);
}, 60_000);
