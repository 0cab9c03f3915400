// `flotilla bench podstart`: pods created with spec.nodeName preset (no scheduler needed), the time
// from each create call to the watch event that shows it Running, as p50/p99 (the Kubernetes SLO:
// p99 under 5 s; the goal here: under 0.5 s). Against a cluster (--server/--dir, --node: a node
// whose agent runs containerd) or `--in-process`: one agent over the in-memory API and a real
// containerd (CONTAINERD_ADDRESS, or a private one started here).

import { parseArgs } from 'node:util';
import type { Pod } from '../proto/api/types.js';
import { CONNECT_OPTIONS, connect } from '../cli/connect.js';
import { NodeAgent } from '../nodeagent/agent.js';
import type { AgentApi } from '../nodeagent/api.js';
import { FakeAgentApi } from '../nodeagent/fake-api.js';
import { containerdFixture } from '../nodeagent/runtime/containerd-fixture.js';
import { BUSYBOX_IMAGE_NAME } from '../nodeagent/runtime/oci-image.js';

export const MAX_BENCH_PODS = 1_000;
/** How long one pod may take to be Running before the benchmark gives up on it. */
export const POD_RUNNING_TIMEOUT_MS = 60_000;

export interface PodStartResult {
  readonly target: string;
  readonly pods: number;
  readonly ratePerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly meanMs: number;
  readonly timedOut: number;
}

export interface PodStartOptions {
  readonly nodeName: string;
  readonly pods: number;
  readonly ratePerSecond: number;
  readonly image: string;
  readonly namespace: string;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;
}

/** Creates the pods at the given rate and measures create → Running as the watch reports it. */
export async function measurePodStart(api: AgentApi, opts: PodStartOptions, target: string): Promise<PodStartResult> {
  const run = `ps${Date.now().toString(36)}`;
  const createdAt = new Map<string, number>();
  const latencies = new Map<string, number>();
  const abort = new AbortController();
  const listed = await api.list<Pod>('Pod', { namespace: opts.namespace, fieldSelector: `spec.nodeName=${opts.nodeName}` });
  let allRunning: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (allRunning = resolve));
  const watching = (async () => {
    try {
      for await (const ev of api.watch<Pod>('Pod', { namespace: opts.namespace, fieldSelector: `spec.nodeName=${opts.nodeName}`, resourceVersion: listed.resourceVersion, signal: abort.signal })) {
        const name = ev.object.metadata.name ?? '';
        const t0 = createdAt.get(name);
        if (t0 === undefined || latencies.has(name) || ev.object.status?.phase !== 'Running') continue;
        latencies.set(name, performance.now() - t0);
        if (latencies.size === opts.pods) allRunning();
      }
    } catch (err) {
      if (!abort.signal.aborted) throw err;
    }
  })();
  const names: string[] = [];
  const gapMs = 1000 / opts.ratePerSecond;
  const start = performance.now();
  for (let i = 0; i < opts.pods; i++) {
    const wait = start + i * gapMs - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const name = `${run}-${i}`;
    names.push(name);
    createdAt.set(name, performance.now());
    await api.create<Pod>({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: opts.namespace, labels: { 'flotilla.io/bench': run } },
      spec: { nodeName: opts.nodeName, terminationGracePeriodSeconds: 1, containers: [{ name: 'c', image: opts.image, command: ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1; done'] }] },
    });
  }
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([done, new Promise<void>((resolve) => (timer = setTimeout(resolve, POD_RUNNING_TIMEOUT_MS)))]);
  clearTimeout(timer);
  abort.abort();
  await watching;
  for (const name of names) await api.delete('Pod', name, opts.namespace).catch(() => undefined);
  const sorted = [...latencies.values()].sort((a, b) => a - b);
  const round = (n: number): number => Math.round(n * 10) / 10;
  return {
    target,
    pods: opts.pods,
    ratePerSecond: opts.ratePerSecond,
    p50Ms: round(percentile(sorted, 50)),
    p99Ms: round(percentile(sorted, 99)),
    maxMs: round(sorted.at(-1) ?? Number.NaN),
    meanMs: round(sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length)),
    timedOut: opts.pods - sorted.length,
  };
}

/** Waits until none of the benchmark's pods is left (their agent deleted them with grace 0). */
async function waitGone(api: AgentApi, namespace: string, nodeName: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const left = await api.list<Pod>('Pod', { namespace, fieldSelector: `spec.nodeName=${nodeName}` });
    if (!left.items.some((p) => p.metadata.labels?.['flotilla.io/bench'] !== undefined)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function podstartBenchCommand(argv: readonly string[], out: NodeJS.WritableStream): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      ...CONNECT_OPTIONS,
      node: { type: 'string' },
      pods: { type: 'string', default: '50' },
      rate: { type: 'string', default: '10' },
      image: { type: 'string', default: BUSYBOX_IMAGE_NAME },
      namespace: { type: 'string', default: 'default' },
      'in-process': { type: 'boolean', default: false },
    },
    strict: true,
  });
  const pods = Number(values.pods);
  const rate = Number(values.rate);
  if (!Number.isInteger(pods) || pods < 1 || pods > MAX_BENCH_PODS) throw new Error(`--pods '${values.pods}' must be a whole number from 1 to ${MAX_BENCH_PODS}`);
  if (!Number.isFinite(rate) || rate <= 0) throw new Error(`--rate '${values.rate}' must be a positive number of pods per second`);
  const base = { pods, ratePerSecond: rate, image: values.image ?? BUSYBOX_IMAGE_NAME, namespace: values.namespace ?? 'default' };

  if (values['in-process'] === true) {
    const fx = await containerdFixture();
    const namespace = `flotilla-bench-${process.pid}`;
    const runtime = await fx.openRuntime(namespace);
    const api = new FakeAgentApi();
    const agent = await NodeAgent.start({ nodeName: 'bench-node', api, runtime });
    try {
      await runtime.ensureImage(base.image);
      const result = await measurePodStart(api, { ...base, nodeName: 'bench-node' }, `in-process agent, containerd ${fx.address}`);
      await waitGone(api, base.namespace, 'bench-node', 30_000);
      out.write(`${JSON.stringify(result)}\n`);
      return result.timedOut === 0 ? 0 : 1;
    } finally {
      await agent.stop();
      for (const c of await runtime.list()) await runtime.remove(c.id);
      await fx.close();
    }
  }

  if (values.node === undefined) throw new Error('--node NODE is required: the node whose agent runs the pods (or --in-process)');
  const client = connect(values);
  try {
    const result = await measurePodStart(client, { ...base, nodeName: values.node }, `cluster, node ${values.node}`);
    await waitGone(client, base.namespace, values.node, 30_000);
    out.write(`${JSON.stringify(result)}\n`);
    return result.timedOut === 0 ? 0 : 1;
  } finally {
    await client.close();
  }
}
