import { cachedTokenReview } from './log-server.js';
import { afterEach, describe, expect, it } from 'vitest';
import type { Lease, Node, Pod } from '../proto/api/types.js';
import { NodeAgent, type NodeAgentOptions } from './agent.js';
import { FakeAgentApi } from './fake-api.js';
import { AGENT_ENDPOINT_ANNOTATION } from './node-status.js';
import { ContainerLabel } from './runtime/runtime.js';
import { SimulatedRuntime } from './runtime/simulated.js';
import { testPod, waitUntil } from './test-support.js';
import { fetchPodLogs } from './logs-client.js';

const FAST = { baseMs: 40, capMs: 160, resetAfterMs: 60_000 };
const agents: NodeAgent[] = [];

async function startAgent(api: FakeAgentApi, runtime: SimulatedRuntime, extra: Partial<NodeAgentOptions> = {}): Promise<NodeAgent> {
  const agent = await NodeAgent.start({
    nodeName: 'n1',
    api,
    runtime,
    crashBackoff: FAST,
    imageBackoff: FAST,
    secondMs: 20,
    internalIP: '10.0.0.5',
    labels: { zone: 'a' },
    resources: { cpu: '4', memory: '8Gi' },
    dialTcp: async () => true,
    samplePressure: () => ({ memoryAvailableBytes: 4e9, diskAvailableFraction: 0.5, pidsUsedFraction: 0.01 }),
    ...extra,
  });
  agents.push(agent);
  return agent;
}

afterEach(async () => {
  for (const a of agents.splice(0)) await a.stop();
});

function pod(api: FakeAgentApi, name: string): Pod | undefined {
  return api.peek<Pod>('Pod', name, 'default');
}

async function podWhere(api: FakeAgentApi, name: string, test: (p: Pod) => boolean, timeoutMs = 5_000): Promise<Pod> {
  return waitUntil(`pod ${name}`, () => {
    const p = pod(api, name);
    return p !== undefined && test(p) ? p : undefined;
  }, timeoutMs);
}

describe('NodeAgent with the simulated runtime', () => {
  it('registers its Node with capacity, labels, addresses and conditions, and renews its Lease', async () => {
    const api = new FakeAgentApi();
    await startAgent(api, new SimulatedRuntime(), { leaseRenewMs: 30, listen: { host: '127.0.0.1', port: 0 } });
    const node = api.peek<Node>('Node', 'n1');
    expect(node?.metadata.labels).toMatchObject({ 'kubernetes.io/hostname': 'n1', 'kubernetes.io/os': 'linux', zone: 'a' });
    expect(node?.metadata.annotations?.[AGENT_ENDPOINT_ANNOTATION]).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(node?.status?.capacity).toEqual({ cpu: '4', memory: '8Gi', pods: '110' });
    expect(node?.status?.addresses).toContainEqual({ type: 'InternalIP', address: '10.0.0.5' });
    expect(node?.status?.conditions?.map((c) => [c.type, c.status])).toEqual([['Ready', 'True'], ['MemoryPressure', 'False'], ['DiskPressure', 'False'], ['PIDPressure', 'False']]);
    const first = api.peek<Lease>('Lease', 'n1', 'kube-node-lease');
    expect(first?.spec?.holderIdentity).toBe('n1');
    await waitUntil('lease renewal', () => {
      const l = api.peek<Lease>('Lease', 'n1', 'kube-node-lease');
      return l !== undefined && l.spec?.renewTime !== first?.spec?.renewTime;
    });
  });

  it('runs a pod: Pending to Running, with Ready and container statuses', async () => {
    const api = new FakeAgentApi();
    const runtime = new SimulatedRuntime();
    await startAgent(api, runtime);
    await api.create(testPod('web', [{ name: 'app', image: 'busybox', command: ['sh', '-c', 'while true; do sleep 1; done'] }], { nodeName: 'n1' }));
    const p = await podWhere(api, 'web', (x) => x.status?.phase === 'Running');
    expect(p.status?.hostIP).toBe('10.0.0.5');
    expect(p.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    const cs = p.status?.containerStatuses?.[0];
    expect(cs).toMatchObject({ name: 'app', ready: true, restartCount: 0, started: true });
    expect(cs?.state?.running?.startedAt).toBeDefined();
    expect((await runtime.list())[0]?.labels[ContainerLabel.podUid]).toBe(p.metadata.uid);
  });

  it('restartPolicy Never: exit 0 is Succeeded (Completed), exit 3 is Failed (Error)', async () => {
    const api = new FakeAgentApi();
    await startAgent(api, new SimulatedRuntime());
    await api.create(testPod('ok', [{ name: 'c', image: 'busybox', command: ['sh', '-c', 'exit 0'] }], { nodeName: 'n1', restartPolicy: 'Never' }));
    await api.create(testPod('bad', [{ name: 'c', image: 'busybox', command: ['sh', '-c', 'exit 3'] }], { nodeName: 'n1', restartPolicy: 'Never' }));
    const ok = await podWhere(api, 'ok', (x) => x.status?.phase === 'Succeeded');
    expect(ok.status?.containerStatuses?.[0]?.state?.terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
    expect(ok.status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'PodCompleted' });
    const bad = await podWhere(api, 'bad', (x) => x.status?.phase === 'Failed');
    expect(bad.status?.containerStatuses?.[0]?.state?.terminated).toMatchObject({ exitCode: 3, reason: 'Error' });
    expect(bad.status?.containerStatuses?.[0]?.restartCount).toBe(0);
  });

  it('restartPolicy OnFailure restarts a failure but not a success', async () => {
    const api = new FakeAgentApi();
    const runtime = new SimulatedRuntime();
    await startAgent(api, runtime);
    await api.create(testPod('once', [{ name: 'c', image: 'busybox', command: ['sh', '-c', 'exit 0'] }], { nodeName: 'n1', restartPolicy: 'OnFailure' }));
    await podWhere(api, 'once', (x) => x.status?.phase === 'Succeeded');
    await api.create(testPod('flaky', [{ name: 'c', image: 'busybox', command: ['sh', '-c', 'exit 2'] }], { nodeName: 'n1', restartPolicy: 'OnFailure' }));
    const flaky = await podWhere(api, 'flaky', (x) => (x.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 2);
    expect(flaky.status?.phase).toBe('Running');
    expect(pod(api, 'once')?.status?.containerStatuses?.[0]?.restartCount).toBe(0);
  });

  it('restartPolicy Always: CrashLoopBackOff with lastState, doubling delays up to the cap', async () => {
    const api = new FakeAgentApi();
    const runtime = new SimulatedRuntime();
    await startAgent(api, runtime);
    await api.create(testPod('crash', [{ name: 'c', image: 'busybox', command: ['sh', '-c', 'exit 1'] }], { nodeName: 'n1' }));
    const looping = await podWhere(api, 'crash', (x) => x.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'CrashLoopBackOff');
    expect(looping.status?.phase).toBe('Running');
    expect(looping.status?.containerStatuses?.[0]?.lastState?.terminated).toMatchObject({ exitCode: 1, reason: 'Error' });
    const t0 = Date.now();
    await podWhere(api, 'crash', (x) => (x.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 5);
    // Delays 0, 40, 80, 160, 160 (capped): at least 440 ms for five restarts.
    expect(Date.now() - t0).toBeGreaterThanOrEqual(300);
    expect(runtime.started).toBeGreaterThanOrEqual(6);
    expect((await runtime.list()).length).toBeLessThanOrEqual(2); // the current and the previous attempt
  });

  it('reports OOMKilled', async () => {
    const api = new FakeAgentApi();
    await startAgent(api, new SimulatedRuntime({ memoryUsageBytes: () => 64 * 1024 * 1024 }));
    await api.create(testPod('hog', [{ name: 'c', image: 'busybox', command: ['sh', '-c', 'while true; do sleep 1; done'], resources: { limits: { memory: '16Mi' } } }], { nodeName: 'n1', restartPolicy: 'Never' }));
    const p = await podWhere(api, 'hog', (x) => x.status?.phase === 'Failed');
    expect(p.status?.containerStatuses?.[0]?.state?.terminated).toMatchObject({ exitCode: 137, reason: 'OOMKilled' });
  });

  it('a missing image is ErrImagePull, then ImagePullBackOff, and the pod stays Pending', async () => {
    const api = new FakeAgentApi();
    await startAgent(api, new SimulatedRuntime({ missingImages: ['nowhere/none:1'] }));
    await api.create(testPod('nopull', [{ name: 'c', image: 'nowhere/none:1' }], { nodeName: 'n1' }));
    const first = await podWhere(api, 'nopull', (x) => x.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'ErrImagePull');
    expect(first.status?.phase).toBe('Pending');
    expect(first.status?.containerStatuses?.[0]?.state?.waiting?.message).toContain('nowhere/none:1');
    const later = await podWhere(api, 'nopull', (x) => x.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'ImagePullBackOff');
    expect(later.status?.phase).toBe('Pending');
  });

  it('readiness probes set Ready; a failing liveness probe restarts the container', async () => {
    const api = new FakeAgentApi();
    const runtime = new SimulatedRuntime();
    let tcpOpen = false;
    await startAgent(api, runtime, { dialTcp: async () => tcpOpen });
    await api.create(
      testPod('probed', [
        { name: 'tcp', image: 'busybox', command: ['sh', '-c', 'while true; do sleep 1; done'], readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1, failureThreshold: 1 } },
        { name: 'live', image: 'busybox', command: ['sh', '-c', 'while true; do sleep 1; done'], livenessProbe: { exec: { command: ['sh', '-c', 'exit 1'] }, periodSeconds: 1, failureThreshold: 2 } },
      ], { nodeName: 'n1' }),
    );
    const notReady = await podWhere(api, 'probed', (x) => x.status?.phase === 'Running');
    expect(notReady.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('False');
    tcpOpen = true;
    await podWhere(api, 'probed', (x) => x.status?.containerStatuses?.find((c) => c.name === 'tcp')?.ready === true);
    await podWhere(api, 'probed', (x) => (x.status?.containerStatuses?.find((c) => c.name === 'live')?.restartCount ?? 0) >= 1);
  });

  it('a pod deleted through the API stops within its grace period and is deleted with grace 0', async () => {
    const api = new FakeAgentApi();
    const runtime = new SimulatedRuntime();
    await startAgent(api, runtime);
    await api.create(testPod('bye', [{ name: 'c', image: 'busybox', command: ['sh', '-c', 'trap "" TERM; while true; do sleep 1; done'] }], { nodeName: 'n1', terminationGracePeriodSeconds: 5 }));
    await podWhere(api, 'bye', (x) => x.status?.phase === 'Running');
    const t0 = Date.now();
    const marked = await api.delete<Pod>('Pod', 'bye', 'default');
    expect(marked.deleted).toBe(false);
    await waitUntil('pod removed', () => pod(api, 'bye') === undefined);
    // grace 5 s × 20 ms per second: SIGKILL after about 100 ms.
    expect(Date.now() - t0).toBeGreaterThanOrEqual(90);
    expect(await runtime.list()).toEqual([]);
  });

  it('adopts running containers after its own restart, and removes orphans', async () => {
    const api = new FakeAgentApi();
    const runtime = new SimulatedRuntime();
    const first = await startAgent(api, runtime);
    await api.create(testPod('keep', [{ name: 'c', image: 'busybox', command: ['sh', '-c', 'while true; do sleep 1; done'] }], { nodeName: 'n1' }));
    await api.create(testPod('gone', [{ name: 'c', image: 'busybox', command: ['sh', '-c', 'while true; do sleep 1; done'] }], { nodeName: 'n1' }));
    await podWhere(api, 'keep', (x) => x.status?.phase === 'Running');
    await podWhere(api, 'gone', (x) => x.status?.phase === 'Running');
    await first.stop();
    // While the agent is down, 'gone' is force-deleted.
    await api.delete('Pod', 'gone', 'default', { gracePeriodSeconds: 0 });
    const startedBefore = runtime.started;
    const keepUid = pod(api, 'keep')?.metadata.uid;
    const second = await startAgent(api, runtime);
    await second.synced;
    expect(runtime.started).toBe(startedBefore);
    const left = await runtime.list();
    expect(left.map((c) => c.labels[ContainerLabel.podUid])).toEqual([keepUid]);
    expect(left[0]?.state).toBe('running');
    expect(second.worker('default', 'keep')).toBeDefined();
  });

  it('serves logs through its endpoint, with a bearer token', async () => {
    const api = new FakeAgentApi();
    const agent = await startAgent(api, new SimulatedRuntime(), { listen: { host: '127.0.0.1', port: 0 }, httpToken: 'sekrit' });
    await api.create(testPod('talk', [{ name: 'c', image: 'busybox', command: ['sh', '-c', 'echo hello there; sleep 100'] }], { nodeName: 'n1' }));
    await podWhere(api, 'talk', (x) => x.status?.phase === 'Running');
    let text = '';
    await fetchPodLogs(api, { namespace: 'default', pod: 'talk', token: 'sekrit' }, (chunk) => (text += Buffer.from(chunk).toString()));
    expect(text).toBe('hello there\n');
    await expect(fetchPodLogs(api, { namespace: 'default', pod: 'talk', token: 'wrong' }, () => undefined)).rejects.toThrow(/401/);
    expect(agent.endpoint).toBeDefined();
  });

  it("accepts a token the API vouches for (the masters stream logs with their callers' tokens), and remembers it", async () => {
    const api = new FakeAgentApi();
    const reviewed: string[] = [];
    const verifyToken = cachedTokenReview(async (t) => {
      reviewed.push(t);
      return t === 'user-token';
    });
    await startAgent(api, new SimulatedRuntime(), { listen: { host: '127.0.0.1', port: 0 }, httpToken: 'agent-token', verifyToken });
    await api.create(testPod('talk', [{ name: 'c', image: 'busybox', command: ['sh', '-c', 'echo vouched; sleep 100'] }], { nodeName: 'n1' }));
    await podWhere(api, 'talk', (x) => x.status?.phase === 'Running');
    for (let i = 0; i < 2; i++) {
      let text = '';
      await fetchPodLogs(api, { namespace: 'default', pod: 'talk', token: 'user-token' }, (chunk) => (text += Buffer.from(chunk).toString()));
      expect(text).toBe('vouched\n');
    }
    await expect(fetchPodLogs(api, { namespace: 'default', pod: 'talk', token: 'stranger' }, () => undefined)).rejects.toThrow(/401/);
    expect(reviewed).toEqual(['user-token', 'stranger']);
  });
});
