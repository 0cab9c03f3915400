// tinybench figures for the scheduler's hot paths at 5,000 nodes (30 pods bound on each):
// the Filter plugins over every node for one pod, the Score plugins over every node, and one whole
// scheduling cycle (snapshot refresh, PreFilter, Filter until enough nodes fit, Score, pick, then
// assume and forget so every sample sees the same cluster). Then the in-process throughput:
// 150,000 pods over 5,000 nodes through the whole scheduler on the fake API.
//
//   npx tsc -p tsconfig.json && node dist/bench/scheduler-hotpath.bench.js [--skip-throughput]

import { Bench } from 'tinybench';
import { FakeSchedulerApi } from '../scheduler/fake-api.js';
import { makeNode, makePod } from '../scheduler/fixtures.js';
import { CycleState } from '../scheduler/framework/cycle-state.js';
import { Framework } from '../scheduler/framework/runtime.js';
import { Scheduler } from '../scheduler/scheduler.js';
import { measureThroughput } from './scheduler-throughput.js';

const NODES = 5_000;
const PODS_PER_NODE = 30;

const api = new FakeSchedulerApi();
const framework = await Framework.load(undefined, { binder: api });
const scheduler = new Scheduler({ api, framework });
for (let i = 0; i < NODES; i++) {
  const name = `node-${i}`;
  scheduler.cache.addNode(makeNode(name, { cpu: '32', memory: '128Gi', pods: '110', labels: { zone: `zone-${i % 3}` }, ...(i % 50 === 0 ? { taints: [{ key: 'dedicated', value: 'batch', effect: 'PreferNoSchedule' }] } : {}) }));
  for (let j = 0; j < PODS_PER_NODE; j++) {
    const pod = makePod(`bound-${i}-${j}`, { cpu: '250m', memory: '512Mi', spec: { nodeName: name } });
    scheduler.cache.addPod(pod);
  }
}
scheduler.cache.updateSnapshot(scheduler.snapshot);
const nodes = scheduler.snapshot.nodeInfos();
const pod = makePod('incoming', { cpu: '500m', memory: '1Gi' });
// Each cycle schedules a different pod, as in a real run (re-adding one key is V8's Map worst case).
let cycles = 0;
const scores = new Float64Array(NODES);

let fit = 0;
let chosen = '';
const bench = new Bench({ time: 2_000, warmup: true });
bench
  .add(`Filter: every filter plugin over ${NODES.toLocaleString('en-US')} nodes, one pod`, () => {
    const state = new CycleState();
    framework.runPreFilter(state, pod, scheduler.snapshot);
    const filters = framework.activeFilters(state);
    fit = 0;
    for (const node of nodes) if (framework.runFilter(state, pod, node, filters).code === 'Success') fit++;
  })
  .add(`Score: every score plugin (+ normalize, weights) over ${NODES.toLocaleString('en-US')} nodes, one pod`, () => {
    const state = new CycleState();
    framework.runPreFilter(state, pod, scheduler.snapshot);
    framework.runPreScore(state, pod, nodes);
    framework.runScore(state, pod, nodes, nodes.length, scores);
  })
  .add(`one scheduling cycle at ${NODES.toLocaleString('en-US')} nodes (snapshot, filter 10%, score, pick, assume, forget)`, () => {
    scheduler.cache.updateSnapshot(scheduler.snapshot);
    const name = `incoming-${cycles++}`;
    const next = { ...pod, metadata: { ...pod.metadata, name } };
    const r = scheduler.schedulePod(new CycleState(), next);
    chosen = r.nodeName ?? '';
    scheduler.cache.assumePod({ ...next, spec: { containers: [], ...next.spec, nodeName: chosen } });
    scheduler.cache.forgetPod(`default/${name}`);
  });

await bench.run();
console.table(
  bench.tasks.map((t) => {
    const r = t.result;
    if (r === undefined || !('latency' in r)) return { task: t.name, error: 'no result' };
    return {
      task: t.name,
      'median (µs)': ((r.latency.p50 ?? 0) * 1000).toFixed(1),
      'p99 (µs)': ((r.latency.p99 ?? 0) * 1000).toFixed(1),
      'per node (ns)': t.name.startsWith('one') ? '' : (((r.latency.p50 ?? 0) * 1e6) / NODES).toFixed(0),
      samples: r.latency.samplesCount,
    };
  }),
);
console.log(`feasible nodes: ${fit}/${NODES}; last choice: ${chosen}`);

if (!process.argv.includes('--skip-throughput')) {
  const result = await measureThroughput(5_000, 150_000);
  console.log(`in-process throughput (fake API): ${result.podsPerSecond.toLocaleString('en-US')} pods/s`);
  console.log(JSON.stringify(result));
}
