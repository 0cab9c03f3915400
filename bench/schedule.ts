// `flotilla bench schedule --nodes 5000 --pods 150000`: scheduling throughput end to end through
// the three replicated masters, whose schedulers elect one active scheduler through a Lease.
// --in-process-scheduler adds a scheduler inside this process too (it campaigns like the others).
//
// What it does: starts a three-master cluster on loopback (or targets --endpoints), registers
// simulated nodes that behave like agents (a Node with capacity, a Lease in kube-node-lease renewed
// every 10 s, a watch on its own pods, each reported Running through the status subresource),
// creates the pods in bulk batches, and measures pods/s from the first create to the last bind and
// to the last Running, p50/p99 create→bind, and the masters' CPU seconds and peak memory. Then it
// verifies through the API that every pod is bound to an existing node and no node holds more
// requests than its allocatable. A progress bar on stderr; one JSON line on `out`; exit 1 when the
// verification fails.

import { setMaxListeners } from 'node:events';
import { parseArgs } from 'node:util';
import { cpuMillis, memoryBytes } from '../apiserver/resources/quantity.js';
import { RpcError, StatusCode } from '../apiserver/rpc/status.js';
import { ApiClient, isReason } from '../client/api-client.js';
import type { Lease, Node, Pod } from '../proto/api/types.js';
import { runSchedulerWithClient } from '../scheduler/run.js';
import { mastersCpuSecondsDuring, mastersDuring, sampleMasters, schedulersPeakRssMb } from './masters.js';
import { processPeakRssMb } from './proc.js';
import { TEST_API_TOKEN, TestCluster } from '../test/harness/cluster.js';

/** Objects per bulk call (the API's MAX_BULK_ITEMS). */
export const BULK_BATCH = 1_000;
/** Node agents renew their Lease this often (the kubelet's default). */
export const NODE_LEASE_RENEW_MS = 10_000;
export const NODE_LEASE_DURATION_SECONDS = 40;
/** Status reports (pod Running) are flushed at least this often. */
export const STATUS_FLUSH_MS = 50;
export const PROGRESS_INTERVAL_MS = 500;
export const WATCHES_PER_CONNECTION = 500;
export const MAX_NODES = 20_000;
export const MAX_PODS = 1_000_000;

export interface ScheduleBenchResult {
  readonly nodes: number;
  readonly pods: number;
  readonly target: string;
  readonly secondsToLastBind: number;
  readonly secondsToLastRunning: number;
  readonly podsPerSecondToBind: number;
  readonly podsPerSecondToRunning: number;
  readonly p50CreateToBindMs: number;
  readonly p99CreateToBindMs: number;
  readonly mastersCpuSeconds: number | null;
  /** Each master's role, CPU seconds per 1,000 pods and GC pauses over the run (bench/masters.ts); null against a running cluster. */
  readonly masters: Record<string, unknown> | null;
  readonly mastersPeakRssMb: number | null;
  /** The largest peak RSS of the masters' scheduler processes (cli/scheduler-process.ts). */
  readonly schedulersPeakRssMb: number | null;
  readonly verified: boolean;
  readonly problems: readonly string[];
  /** Failed status flushes (each retried on the next tick) and failed lease renewals of the simulated agents. */
  readonly agentStatusErrors: number;
  readonly agentLeaseRenewErrors: number;
  /** The scheduler issue's target beside what this run measured (it is set at 150,000 pods on 5,000 nodes). */
  readonly goals: { readonly podsPerSecondToRunning: { readonly goal: string; readonly measured: number } };
}

/** The scheduler issue's target: end to end, first create to last Running, at 150,000 pods on 5,000 nodes. */
export const GOAL_PODS_PER_SECOND = 5_000;

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

/** Attempts of one pod's create when the cluster answers UNAVAILABLE or DEADLINE_EXCEEDED. */
export const CREATE_ATTEMPTS = 5;

/**
 * Creates the pods, retrying those the cluster could not answer for (a leader change). A retried
 * create that finds its pod already there is a success: the first attempt's outcome was unknown.
 */
async function createAll(client: ApiClient, pods: readonly Pod[]): Promise<void> {
  let pending = [...pods];
  for (let attempt = 1; pending.length > 0; attempt++) {
    let results: Awaited<ReturnType<typeof client.bulkCreate<Pod>>>;
    try {
      results = await client.bulkCreate<Pod>('Pod', pending);
    } catch (err) {
      // The whole call failed (a leader change, a stalled master): retry it; what did commit comes
      // back AlreadyExists, which counts as created.
      const retryable = err instanceof RpcError && (err.code === StatusCode.UNAVAILABLE || err.code === StatusCode.DEADLINE_EXCEEDED);
      if (!retryable || attempt >= CREATE_ATTEMPTS) throw err;
      await new Promise((r) => setTimeout(r, 200 * attempt));
      continue;
    }
    const retry: Pod[] = [];
    results.forEach((r, i) => {
      if (r.ok || (attempt > 1 && r.error.code === StatusCode.ALREADY_EXISTS)) return;
      const retryable = r.error.code === StatusCode.UNAVAILABLE || r.error.code === StatusCode.DEADLINE_EXCEEDED;
      if (!retryable || attempt >= CREATE_ATTEMPTS) throw new Error(`creating pod ${pending[i]!.metadata.name ?? ''}: ${r.error.message}`);
      retry.push(pending[i]!);
    });
    pending = retry;
    if (pending.length > 0) await new Promise((r) => setTimeout(r, 200 * attempt));
  }
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function nodeObject(name: string, cpu: string, memory: string, pods: string): Node {
  const allocatable = { cpu, memory, pods };
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name, 'flotilla.io/simulated': 'true' } },
    spec: {},
    status: {
      capacity: allocatable,
      allocatable,
      conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', lastHeartbeatTime: new Date().toISOString() }],
      addresses: [{ type: 'Hostname', address: name }],
    },
  };
}

/**
 * The simulated agents: one watch per node on its own pods (as a kubelet), a shared batcher that
 * reports them Running with bulk status updates, and Lease renewals in bulk.
 */
class SimulatedAgents {
  private readonly abort = new AbortController();
  private readonly toReport = new Map<string, Pod>();
  private timers: ReturnType<typeof setInterval>[] = [];
  private leases: Lease[] = [];
  reported = 0;
  errors = 0;
  leaseRenewErrors = 0;

  /** Watch streams share connections: at most WATCHES_PER_CONNECTION per client (the server allows 1,000). */
  private readonly watchClients: ApiClient[] = [];

  constructor(
    private readonly client: ApiClient,
    private readonly names: readonly string[],
    newClient: () => ApiClient,
  ) {
    for (let i = 0; i < names.length; i += WATCHES_PER_CONNECTION) this.watchClients.push(newClient());
    // One abort signal ends every node's watch.
    setMaxListeners(names.length + 10, this.abort.signal);
  }

  async register(cpu: string, memory: string, pods: string): Promise<void> {
    for (const batch of chunks(this.names, BULK_BATCH)) {
      const created = await this.client.bulkCreate<Node>('Node', batch.map((n) => nodeObject(n, cpu, memory, pods)));
      for (const c of created) if (!c.ok) throw new Error(`creating a node: ${c.error.message}`);
    }
    const now = new Date().toISOString();
    for (const batch of chunks(this.names, BULK_BATCH)) {
      const created = await this.client.bulkCreate<Lease>(
        'Lease',
        batch.map((n) => ({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: n, namespace: 'kube-node-lease' }, spec: { holderIdentity: n, leaseDurationSeconds: NODE_LEASE_DURATION_SECONDS, renewTime: now } })),
      );
      for (const c of created) if (c.ok) this.leases.push(c.object);
    }
  }

  start(): void {
    this.names.forEach((name, i) => void this.watchOwnPods(name, this.watchClients[Math.floor(i / WATCHES_PER_CONNECTION)]!));
    // A call that fails (a deadline while the masters are stalled) is counted and tried again on
    // the next tick: the pods stay in toReport, the leases keep their last renewal.
    this.timers.push(setInterval(() => void this.flushStatus().catch(() => this.errors++), STATUS_FLUSH_MS));
    this.timers.push(setInterval(() => void this.renewLeases().catch(() => this.leaseRenewErrors++), NODE_LEASE_RENEW_MS));
  }

  async stop(): Promise<void> {
    this.abort.abort();
    for (const t of this.timers) clearInterval(t);
    await this.flushStatus();
    await Promise.all(this.watchClients.map((c) => c.close()));
  }

  private async watchOwnPods(name: string, client: ApiClient): Promise<void> {
    let resourceVersion = '';
    while (!this.abort.signal.aborted) {
      try {
        for await (const ev of client.watch<Pod>('Pod', { fieldSelector: `spec.nodeName=${name}`, resourceVersion, allowBookmarks: true, signal: this.abort.signal })) {
          resourceVersion = ev.object.metadata.resourceVersion ?? resourceVersion;
          if ((ev.type === 'ADDED' || ev.type === 'MODIFIED') && ev.object.status?.phase !== 'Running') this.toReport.set(`${ev.object.metadata.namespace ?? ''}/${ev.object.metadata.name ?? ''}`, ev.object);
        }
      } catch {
        if (this.abort.signal.aborted) return;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  private flushing = false;

  private async flushStatus(): Promise<void> {
    if (this.flushing || this.toReport.size === 0) return;
    this.flushing = true;
    try {
      const pods = [...this.toReport.values()].slice(0, BULK_BATCH * 4);
      const now = new Date().toISOString();
      for (const batch of chunks(pods, BULK_BATCH)) {
        const running = batch.map((p): Pod => ({
          ...p,
          status: {
            ...p.status,
            phase: 'Running',
            startTime: now,
            hostIP: '127.0.0.1',
            conditions: [...(p.status?.conditions ?? []).filter((c) => c.type !== 'Ready'), { type: 'Ready', status: 'True', lastTransitionTime: now }],
            containerStatuses: (p.spec?.containers ?? []).map((c) => ({ name: c.name, ready: true, started: true, restartCount: 0, state: { running: { startedAt: now } } })),
          },
        }));
        const results = await this.client.bulkUpdate<Pod>('Pod', running, { status: true });
        results.forEach((r, i) => {
          const key = `${batch[i]?.metadata.namespace ?? ''}/${batch[i]?.metadata.name ?? ''}`;
          // On a conflict the watch brings the newer pod and the next flush reports it.
          if (r.ok) {
            this.reported++;
            if (this.toReport.get(key) === batch[i]) this.toReport.delete(key);
          } else {
            this.errors++;
          }
        });
      }
    } finally {
      this.flushing = false;
    }
  }

  private async renewLeases(): Promise<void> {
    const now = new Date().toISOString();
    const renewed: Lease[] = [];
    for (const batch of chunks(this.leases, BULK_BATCH)) {
      const results = await this.client.bulkUpdate<Lease>('Lease', batch.map((l) => ({ ...l, spec: { ...l.spec, renewTime: now } })));
      results.forEach((r, i) => renewed.push(r.ok ? r.object : (batch[i] as Lease)));
    }
    this.leases = renewed;
  }
}

/** Records, from one watch on all pods, when each pod was first seen bound and Running. */
class Timeline {
  readonly createdAt = new Map<string, number>();
  readonly boundAt = new Map<string, number>();
  readonly runningAt = new Map<string, number>();
  private readonly abort = new AbortController();

  async start(client: ApiClient, resourceVersion: string): Promise<void> {
    void (async () => {
      let rv = resourceVersion;
      while (!this.abort.signal.aborted) {
        try {
          for await (const ev of client.watch<Pod>('Pod', { resourceVersion: rv, allowBookmarks: true, signal: this.abort.signal })) {
            rv = ev.object.metadata.resourceVersion ?? rv;
            if (ev.type === 'BOOKMARK' || ev.type === 'DELETED') continue;
            const key = ev.object.metadata.name ?? '';
            const now = performance.now();
            if ((ev.object.spec?.nodeName ?? '') !== '' && !this.boundAt.has(key)) this.boundAt.set(key, now);
            if (ev.object.status?.phase === 'Running' && !this.runningAt.has(key)) this.runningAt.set(key, now);
          }
        } catch {
          if (this.abort.signal.aborted) return;
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    })();
  }

  stop(): void {
    this.abort.abort();
  }
}

function progressBar(label: string, done: number, total: number, rate: number): string {
  const width = 30;
  const filled = Math.round((done / Math.max(1, total)) * width);
  return `\r${label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${done.toLocaleString('en-US')}/${total.toLocaleString('en-US')} ${Math.round(rate).toLocaleString('en-US')} pods/s `;
}

/** Deadline of one page of the verification lists: the masters are still busy with 5,000 agents. */
const VERIFY_PAGE_TIMEOUT_MS = 60_000;
/** Pods per page of the verification list. */
const VERIFY_PAGE_SIZE = 2_000;

async function verify(client: ApiClient, pods: number): Promise<string[]> {
  const problems: string[] = [];
  const page = { timeoutMs: VERIFY_PAGE_TIMEOUT_MS };
  const nodes = new Map((await client.listAll<Node>('Node', page, VERIFY_PAGE_SIZE)).items.map((n) => [n.metadata.name ?? '', n]));
  const used = new Map<string, { cpu: number; memory: number; pods: number }>();
  const listed = (await client.listAll<Pod>('Pod', { namespace: 'bench', ...page }, VERIFY_PAGE_SIZE)).items;
  if (listed.length !== pods) problems.push(`expected ${pods} pods, listed ${listed.length}`);
  for (const pod of listed) {
    const node = pod.spec?.nodeName ?? '';
    if (node === '') {
      if (problems.length < 20) problems.push(`pod ${pod.metadata.name ?? ''} is not bound`);
      continue;
    }
    if (!nodes.has(node)) {
      if (problems.length < 20) problems.push(`pod ${pod.metadata.name ?? ''} is bound to ${node}, which does not exist`);
      continue;
    }
    const u = used.get(node) ?? { cpu: 0, memory: 0, pods: 0 };
    for (const c of pod.spec?.containers ?? []) {
      u.cpu += cpuMillis(c.resources?.requests?.['cpu'] ?? '0');
      u.memory += memoryBytes(c.resources?.requests?.['memory'] ?? '0');
    }
    u.pods++;
    used.set(node, u);
  }
  for (const [name, u] of used) {
    const a = nodes.get(name)?.status?.allocatable ?? {};
    const over: string[] = [];
    if (u.cpu > cpuMillis(a['cpu'] ?? '0')) over.push(`cpu ${u.cpu}m > ${a['cpu'] ?? '0'}`);
    if (u.memory > memoryBytes(a['memory'] ?? '0')) over.push(`memory ${u.memory} > ${a['memory'] ?? '0'}`);
    if (u.pods > memoryBytes(a['pods'] ?? '0')) over.push(`pods ${u.pods} > ${a['pods'] ?? '0'}`);
    if (over.length > 0 && problems.length < 20) problems.push(`node ${name} is over its allocatable: ${over.join(', ')}`);
  }
  return problems;
}

export async function scheduleBenchCommand(argv: readonly string[], out: NodeJS.WritableStream): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      nodes: { type: 'string', default: '5000' },
      pods: { type: 'string', default: '150000' },
      endpoints: { type: 'string' },
      token: { type: 'string' },
      'node-cpu': { type: 'string', default: '32' },
      'node-memory': { type: 'string', default: '128Gi' },
      'node-pods': { type: 'string', default: '110' },
      'pod-cpu': { type: 'string', default: '100m' },
      'pod-memory': { type: 'string', default: '128Mi' },
      'in-process-scheduler': { type: 'boolean', default: false },
      'timeout-seconds': { type: 'string', default: '1800' },
      'tick-ms': { type: 'string', default: '100' },
    },
    strict: true,
  });
  const nodeCount = Number(values.nodes);
  const podCount = Number(values.pods);
  if (!Number.isInteger(nodeCount) || nodeCount < 1 || nodeCount > MAX_NODES) throw new Error(`--nodes must be 1..${MAX_NODES}`);
  if (!Number.isInteger(podCount) || podCount < 1 || podCount > MAX_PODS) throw new Error(`--pods must be 1..${MAX_PODS}`);
  const timeoutMs = Number(values['timeout-seconds']) * 1000;

  const cluster = values.endpoints === undefined ? await TestCluster.start({ tickMs: Number(values['tick-ms']), snapshotEvery: 100_000 }) : undefined;
  const pids = (): number[] => cluster?.members.map((m) => m.proc?.pid ?? 0).filter((p) => p > 0) ?? [];
  const endpoints = values.endpoints?.split(',') ?? cluster?.members.map((m) => m.listen) ?? [];
  const token = values.token ?? process.env['FLOTILLA_TOKEN'] ?? (cluster !== undefined ? TEST_API_TOKEN : undefined);
  const client = new ApiClient({ endpoints, ...(token !== undefined ? { token } : {}) });
  const newClient = (): ApiClient => new ApiClient({ endpoints, ...(token !== undefined ? { token } : {}) });
  const agents = new SimulatedAgents(client, Array.from({ length: nodeCount }, (_, i) => `sim-node-${i}`), newClient);
  const timeline = new Timeline();
  let scheduler: Awaited<ReturnType<typeof runSchedulerWithClient>> | undefined;
  try {
    if (cluster !== undefined) await cluster.waitLeader(30_000);
    try {
      await client.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'bench' } });
    } catch (err) {
      if (!isReason(err, 'AlreadyExists')) throw err;
    }
    await agents.register(values['node-cpu'], values['node-memory'], values['node-pods']);
    agents.start();
    if (values['in-process-scheduler']) scheduler = await runSchedulerWithClient(client, { identity: `bench-${process.pid}` });
    const listed = await client.list<Pod>('Pod', { namespace: 'bench', limit: 1 });
    await timeline.start(client, listed.resourceVersion);

    const mastersBefore = cluster !== undefined ? await sampleMasters(cluster.members) : undefined;
    const started = performance.now();
    const requests = { cpu: values['pod-cpu'], memory: values['pod-memory'] };
    let progressAt = 0;
    for (let i = 0; i < podCount; i += BULK_BATCH) {
      const batch: Pod[] = [];
      for (let j = i; j < Math.min(podCount, i + BULK_BATCH); j++) {
        batch.push({ apiVersion: 'v1', kind: 'Pod', metadata: { name: `bench-${j}`, namespace: 'bench', labels: { app: 'bench' } }, spec: { containers: [{ name: 'main', image: 'pause', resources: { requests } }], schedulerName: 'default-scheduler' } });
      }
      const t = performance.now();
      for (const p of batch) timeline.createdAt.set(p.metadata.name ?? '', t);
      await createAll(client, batch);
      if (performance.now() - progressAt > PROGRESS_INTERVAL_MS) {
        progressAt = performance.now();
        process.stderr.write(progressBar('bound', timeline.boundAt.size, podCount, timeline.boundAt.size / ((progressAt - started) / 1000)));
      }
    }
    while (timeline.runningAt.size < podCount && performance.now() - started < timeoutMs) {
      await new Promise((r) => setTimeout(r, PROGRESS_INTERVAL_MS));
      const elapsed = (performance.now() - started) / 1000;
      process.stderr.write(progressBar(timeline.boundAt.size < podCount ? 'bound' : 'running', timeline.boundAt.size < podCount ? timeline.boundAt.size : timeline.runningAt.size, podCount, timeline.boundAt.size / elapsed));
    }
    process.stderr.write('\n');
    const mastersAfter = cluster !== undefined ? await sampleMasters(cluster.members) : undefined;
    let lastBind = started;
    for (const at of timeline.boundAt.values()) if (at > lastBind) lastBind = at;
    let lastRunning = started;
    for (const at of timeline.runningAt.values()) if (at > lastRunning) lastRunning = at;
    const latencies = [...timeline.boundAt].map(([name, at]) => at - (timeline.createdAt.get(name) ?? at)).sort((a, b) => a - b);
    const problems = await verify(client, podCount);
    const podsPerSecondToRunning = Math.round(timeline.runningAt.size / ((lastRunning - started) / 1000));
    const result: ScheduleBenchResult = {
      nodes: nodeCount,
      pods: podCount,
      target: cluster !== undefined ? 'flotilla (3 masters, loopback)' : endpoints.join(','),
      secondsToLastBind: Number(((lastBind - started) / 1000).toFixed(2)),
      secondsToLastRunning: Number(((lastRunning - started) / 1000).toFixed(2)),
      podsPerSecondToBind: Math.round(timeline.boundAt.size / ((lastBind - started) / 1000)),
      podsPerSecondToRunning,
      p50CreateToBindMs: Math.round(percentile(latencies, 50)),
      p99CreateToBindMs: Math.round(percentile(latencies, 99)),
      mastersCpuSeconds: mastersBefore !== undefined && mastersAfter !== undefined ? Number(mastersCpuSecondsDuring(mastersBefore, mastersAfter).toFixed(1)) : null,
      mastersPeakRssMb: cluster !== undefined ? Math.round(pids().map(processPeakRssMb).reduce((a, b) => Math.max(a, b), 0)) : null,
      schedulersPeakRssMb: mastersAfter !== undefined ? Math.round(schedulersPeakRssMb(mastersAfter)) : null,
      masters: mastersBefore !== undefined && mastersAfter !== undefined ? mastersDuring(mastersBefore, mastersAfter, podCount) : null,
      verified: problems.length === 0 && timeline.boundAt.size === podCount,
      problems,
      agentStatusErrors: agents.errors,
      agentLeaseRenewErrors: agents.leaseRenewErrors,
      goals: {
        podsPerSecondToRunning: {
          goal: `>= ${GOAL_PODS_PER_SECOND} at 150000 pods on 5000 nodes`,
          measured: podsPerSecondToRunning,
        },
      },
    };
    out.write(`${JSON.stringify(result)}\n`);
    return result.verified ? 0 : 1;
  } finally {
    timeline.stop();
    await scheduler?.stop();
    await agents.stop();
    await client.close();
    await cluster?.stop();
  }
}
