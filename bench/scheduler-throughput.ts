// In-process scheduling throughput: N pods over M nodes through the whole scheduler (queue, cycle,
// assume, batched bulkBind, watch confirmation) on the in-memory fake API. No network, no store:
// the scheduler's own ceiling. `node dist/bench/scheduler-throughput.js [--nodes 5000] [--pods 150000]`

import { parseArgs } from 'node:util';
import { FakeSchedulerApi } from '../scheduler/fake-api.js';
import { makeNode, makePod } from '../scheduler/fixtures.js';
import { Framework } from '../scheduler/framework/runtime.js';
import { Scheduler } from '../scheduler/scheduler.js';

/** Pods created per event-loop turn, as a client's create batches would arrive. */
export const CREATE_BATCH = 1_000;

export interface ThroughputResult {
  readonly nodes: number;
  readonly pods: number;
  readonly seconds: number;
  readonly podsPerSecond: number;
  readonly p50BindMs: number;
  readonly p99BindMs: number;
  readonly bindCalls: number;
  readonly unbound: number;
  readonly heapUsedMb: number;
  readonly nodesFilteredPerCycle: number;
  /** CPU seconds the process used (the machine is shared: wall time is noisy). */
  readonly cpuSeconds: number;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? 0;
}

export async function measureThroughput(nodes: number, pods: number): Promise<ThroughputResult> {
  const api = new FakeSchedulerApi();
  for (let i = 0; i < nodes; i++) api.addNode(makeNode(`node-${i}`, { cpu: '32', memory: '128Gi', pods: '110', labels: { zone: `zone-${i % 3}` } }));
  const framework = await Framework.load(undefined, { binder: api });
  const scheduler = new Scheduler({ api, framework });
  await scheduler.start();
  const sizes = ['100m', '200m', '250m', '500m'];
  const mem = ['128Mi', '256Mi', '512Mi', '1Gi'];
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  for (let i = 0; i < pods; i += CREATE_BATCH) {
    for (let j = i; j < Math.min(pods, i + CREATE_BATCH); j++) api.createPod(makePod(`pod-${j}`, { cpu: sizes[j % 4], memory: mem[(j >> 2) % 4] }));
    await new Promise((r) => setImmediate(r));
  }
  while (scheduler.stats.bound < pods) {
    await new Promise((r) => setTimeout(r, 2));
    if (performance.now() - started > 600_000) break;
  }
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  await scheduler.stop();
  const latencies = [...scheduler.bindLatenciesMs].sort((a, b) => a - b);
  let unbound = 0;
  for (const p of api.pods.values()) if (p.spec?.nodeName === undefined) unbound++;
  return {
    nodes,
    pods,
    seconds: Number(seconds.toFixed(2)),
    podsPerSecond: Math.round(scheduler.stats.bound / seconds),
    p50BindMs: Math.round(percentile(latencies, 50)),
    p99BindMs: Math.round(percentile(latencies, 99)),
    bindCalls: api.bindCalls,
    unbound,
    nodesFilteredPerCycle: Math.round(scheduler.stats.nodesFiltered / Math.max(1, scheduler.stats.attempts)),
    heapUsedMb: Math.round(process.memoryUsage().heapUsed / 2 ** 20),
    cpuSeconds: Number(((cpu.user + cpu.system) / 1e6).toFixed(2)),
  };
}

if (import.meta.url === `file://${process.argv[1] ?? ''}`) {
  const { values } = parseArgs({ options: { nodes: { type: 'string', default: '5000' }, pods: { type: 'string', default: '150000' } } });
  const result = await measureThroughput(Number(values.nodes), Number(values.pods));
  console.log(JSON.stringify(result));
}
