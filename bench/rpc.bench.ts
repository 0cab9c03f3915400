// tinybench figures for the RPC layer over loopback: `npm run build && node dist/bench/rpc.bench.js`.
// Prints medians per operation; no pass/fail — compare runs on the same machine.

import { Bench } from 'tinybench';
import { RpcClient } from '../apiserver/rpc/client.js';
import { startLoopbackRpcServer } from '../apiserver/rpc/test-server.js';

const PAYLOAD_BYTES = 256;
/** Calls in flight at once in the pipelined task. */
const PIPELINE_DEPTH = 64;

const server = await startLoopbackRpcServer();
server.rpc.unary('bench.Echo/Echo', async (payload) => payload);
const client = new RpcClient({ endpoints: [server.endpoint] });
await client.connect();
const payload = new Uint8Array(PAYLOAD_BYTES);

const bench = new Bench({ time: 2000, warmup: true });
bench
  .add(`unary round trip, ${PAYLOAD_BYTES} B echo, one at a time`, async () => {
    await client.unary('bench.Echo/Echo', payload);
  })
  .add(`${PIPELINE_DEPTH} concurrent unary calls, ${PAYLOAD_BYTES} B echo`, async () => {
    await Promise.all(Array.from({ length: PIPELINE_DEPTH }, () => client.unary('bench.Echo/Echo', payload)));
  });

await bench.run();
const rows = bench.tasks.map((t) => {
  const r = t.result;
  if (r === undefined || !('latency' in r)) return { task: t.name, error: 'no result' };
  return {
    task: t.name,
    'median (µs)': ((r.latency.p50 ?? 0) * 1000).toFixed(1),
    'p99 (µs)': ((r.latency.p99 ?? 0) * 1000).toFixed(1),
    'ops/s (median)': Math.round(r.throughput.p50 ?? 0).toLocaleString('en-US'),
    samples: r.latency.samplesCount,
  };
});
console.table(rows);
const sequential = bench.tasks[0]?.result;
const pipelined = bench.tasks[1]?.result;
if (sequential !== undefined && 'latency' in sequential && sequential.latency.p50 !== undefined) {
  console.log(`unary round trips/s, one at a time (median): ${Math.round(1000 / sequential.latency.p50).toLocaleString('en-US')}`);
}
if (pipelined !== undefined && 'latency' in pipelined && pipelined.latency.p50 !== undefined) {
  console.log(`unary calls/s, ${PIPELINE_DEPTH} in flight (median): ${Math.round((PIPELINE_DEPTH * 1000) / pipelined.latency.p50).toLocaleString('en-US')}`);
}
await client.close();
await server.stop();
