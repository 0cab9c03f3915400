// The agent end to end against a real containerd (CI starts one; else the fixture does).

import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Pod } from '../proto/api/types.js';
import { NodeAgent, type NodeAgentOptions } from './agent.js';
import { FakeAgentApi } from './fake-api.js';
import { fetchPodLogs } from './logs-client.js';
import { containerdFixture, type ContainerdFixture } from './runtime/containerd-fixture.js';
import type { CtrRuntime } from './runtime/ctr.js';
import { BUSYBOX_IMAGE_NAME } from './runtime/oci-image.js';
import { ContainerLabel } from './runtime/runtime.js';
import { testPod, waitUntil } from './test-support.js';

const NS = 'flotilla-test-agent';
const FAST = { baseMs: 100, capMs: 400, resetAfterMs: 60_000 };
const LOOP = 'trap "exit 0" TERM; while true; do sleep 0.1; done';
let fx: ContainerdFixture;
let rt: CtrRuntime;
let api: FakeAgentApi;
let agent: NodeAgent;

function options(runtime: CtrRuntime): NodeAgentOptions {
  return { nodeName: 'real1', api, runtime, crashBackoff: FAST, imageBackoff: FAST, secondMs: 200, listen: { host: '127.0.0.1', port: 0 } };
}

function pod(name: string): Pod | undefined {
  return api.peek<Pod>('Pod', name, 'default');
}

function podWhere(name: string, test: (p: Pod) => boolean, timeoutMs = 15_000): Promise<Pod> {
  return waitUntil(`pod ${name}`, () => {
    const p = pod(name);
    return p !== undefined && test(p) ? p : undefined;
  }, timeoutMs, 20);
}

async function containersOf(uid: string | undefined): Promise<string[]> {
  return (await rt.list()).filter((c) => c.labels[ContainerLabel.podUid] === uid).map((c) => c.id);
}

beforeAll(async () => {
  fx = await containerdFixture();
  await fx.cleanNamespace(NS);
  rt = await fx.openRuntime(NS, { pollIntervalMs: 500 });
  api = new FakeAgentApi();
  agent = await NodeAgent.start(options(rt));
});

afterAll(async () => {
  await agent?.stop();
  if (rt !== undefined) for (const c of await rt.list()) await rt.remove(c.id);
  await fx?.close();
});

describe('NodeAgent against a real containerd', () => {
  it('runs a pod from the imported image with its env and cgroup limits, and serves its logs', async () => {
    await api.create(
      testPod('hello', [{ name: 'main', image: BUSYBOX_IMAGE_NAME, command: ['sh', '-c', `echo "hi $WHO"; ${LOOP}`], env: [{ name: 'WHO', value: 'flotilla' }], resources: { limits: { cpu: '500m', memory: '32Mi' } } }], { nodeName: 'real1' }),
    );
    const p = await podWhere('hello', (x) => x.status?.phase === 'Running');
    expect(p.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    const [id] = await containersOf(p.metadata.uid);
    expect(readFileSync(`/sys/fs/cgroup/memory/${NS}/${id ?? ''}/memory.limit_in_bytes`, 'utf8').trim()).toBe(String(32 * 1024 * 1024));
    expect(readFileSync(`/sys/fs/cgroup/cpu/${NS}/${id ?? ''}/cpu.cfs_quota_us`, 'utf8').trim()).toBe('50000');
    let text = '';
    await waitUntil('log output', async () => {
      text = '';
      await fetchPodLogs(api, { namespace: 'default', pod: 'hello' }, (c) => (text += Buffer.from(c).toString()));
      return text.includes('hi flotilla');
    });
  });

  it('restartPolicy Never reports the exit code; Always crash-loops with backoff', async () => {
    await api.create(testPod('fails', [{ name: 'c', image: BUSYBOX_IMAGE_NAME, command: ['sh', '-c', 'exit 3'] }], { nodeName: 'real1', restartPolicy: 'Never' }));
    await api.create(testPod('loops', [{ name: 'c', image: BUSYBOX_IMAGE_NAME, command: ['sh', '-c', 'echo again; exit 1'] }], { nodeName: 'real1', restartPolicy: 'Always' }));
    const failed = await podWhere('fails', (x) => x.status?.phase === 'Failed');
    expect(failed.status?.containerStatuses?.[0]?.state?.terminated).toMatchObject({ exitCode: 3, reason: 'Error' });
    const looping = await podWhere('loops', (x) => (x.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 2 && x.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'CrashLoopBackOff');
    expect(looping.status?.containerStatuses?.[0]?.lastState?.terminated).toMatchObject({ exitCode: 1, reason: 'Error' });
    await api.delete('Pod', 'loops', 'default', { gracePeriodSeconds: 1 });
    await waitUntil('loops deleted', () => pod('loops') === undefined);
  });

  it('reports OOMKilled when the memory limit is hit', async () => {
    await api.create(testPod('oom', [{ name: 'c', image: BUSYBOX_IMAGE_NAME, command: ['sh', '-c', 'dd if=/dev/zero of=/dev/null bs=64M count=1; exit 1'], resources: { limits: { memory: '16Mi' } } }], { nodeName: 'real1', restartPolicy: 'Never' }));
    const p = await podWhere('oom', (x) => x.status?.phase === 'Failed');
    expect(p.status?.containerStatuses?.[0]?.state?.terminated?.reason).toBe('OOMKilled');
  });

  it('a missing image is ErrImagePull, not a crash', async () => {
    await api.create(testPod('noimage', [{ name: 'c', image: 'flotilla.local/absent:9' }], { nodeName: 'real1' }));
    const p = await podWhere('noimage', (x) => ['ErrImagePull', 'ImagePullBackOff'].includes(x.status?.containerStatuses?.[0]?.state?.waiting?.reason ?? ''));
    expect(p.status?.phase).toBe('Pending');
    await api.delete('Pod', 'noimage', 'default');
    await waitUntil('noimage deleted', () => pod('noimage') === undefined);
  });

  it('TCP readiness against busybox httpd, exec liveness that fails restarts the container', async () => {
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    await api.create(
      testPod('probes', [
        { name: 'web', image: BUSYBOX_IMAGE_NAME, command: ['sh', '-c', `sleep 0.5; httpd -f -p ${port} -h /www`], readinessProbe: { tcpSocket: { port }, periodSeconds: 1, timeoutSeconds: 5, failureThreshold: 1 } },
        { name: 'sick', image: BUSYBOX_IMAGE_NAME, command: ['sh', '-c', LOOP], livenessProbe: { exec: { command: ['sh', '-c', 'test -e /tmp/healthy'] }, periodSeconds: 1, timeoutSeconds: 5, failureThreshold: 2 } },
      ], { nodeName: 'real1', terminationGracePeriodSeconds: 2 }),
    );
    const running = await podWhere('probes', (x) => x.status?.phase === 'Running');
    expect(running.status?.containerStatuses?.find((c) => c.name === 'web')?.ready).toBe(false);
    await podWhere('probes', (x) => x.status?.containerStatuses?.find((c) => c.name === 'web')?.ready === true);
    await podWhere('probes', (x) => (x.status?.containerStatuses?.find((c) => c.name === 'sick')?.restartCount ?? 0) >= 1);
    await api.delete('Pod', 'probes', 'default');
    await waitUntil('probes deleted', () => pod('probes') === undefined, 15_000);
  });

  it('stops a deleted pod gracefully (SIGTERM honoured) or with SIGKILL after the grace period', async () => {
    await api.create(testPod('polite', [{ name: 'c', image: BUSYBOX_IMAGE_NAME, command: ['sh', '-c', LOOP] }], { nodeName: 'real1', terminationGracePeriodSeconds: 30 }));
    await api.create(testPod('stubborn', [{ name: 'c', image: BUSYBOX_IMAGE_NAME, command: ['sh', '-c', 'sleep 1000'] }], { nodeName: 'real1', terminationGracePeriodSeconds: 5 }));
    const polite = await podWhere('polite', (x) => x.status?.phase === 'Running');
    const stubborn = await podWhere('stubborn', (x) => x.status?.phase === 'Running');
    const t0 = Date.now();
    await api.delete('Pod', 'polite', 'default');
    await waitUntil('polite deleted', () => pod('polite') === undefined);
    expect(Date.now() - t0).toBeLessThan(3_000); // far inside 30 s × 200 ms
    const t1 = Date.now();
    await api.delete('Pod', 'stubborn', 'default');
    await waitUntil('stubborn deleted', () => pod('stubborn') === undefined);
    expect(Date.now() - t1).toBeGreaterThanOrEqual(900); // 5 s × 200 ms of grace, then SIGKILL
    expect(await containersOf(polite.metadata.uid)).toEqual([]);
    expect(await containersOf(stubborn.metadata.uid)).toEqual([]);
  });

  it('adopts its containers after a restart without twins, and removes orphans', async () => {
    await api.create(testPod('survivor', [{ name: 'c', image: BUSYBOX_IMAGE_NAME, command: ['sh', '-c', LOOP] }], { nodeName: 'real1' }));
    await api.create(testPod('orphan', [{ name: 'c', image: BUSYBOX_IMAGE_NAME, command: ['sh', '-c', LOOP] }], { nodeName: 'real1' }));
    const survivor = await podWhere('survivor', (x) => x.status?.phase === 'Running');
    const orphan = await podWhere('orphan', (x) => x.status?.phase === 'Running');
    const before = await containersOf(survivor.metadata.uid);
    await agent.stop();
    await api.delete('Pod', 'orphan', 'default', { gracePeriodSeconds: 0 });
    // A new agent process: a fresh runtime client that knows nothing of the old one.
    rt = await fx.openRuntime(NS, { pollIntervalMs: 500 });
    agent = await NodeAgent.start(options(rt));
    await agent.synced;
    expect(await containersOf(survivor.metadata.uid)).toEqual(before);
    expect(await containersOf(orphan.metadata.uid)).toEqual([]);
    expect((await rt.list()).find((c) => c.id === before[0])?.state).toBe('running');
    // The adopted container is still managed: deleting its pod stops it.
    await api.delete('Pod', 'survivor', 'default');
    await waitUntil('survivor deleted', () => pod('survivor') === undefined);
    expect(await containersOf(survivor.metadata.uid)).toEqual([]);
  });
});
