// `flotilla bench store`: N clients writing against a three-master Flotilla cluster (started here,
// on loopback), printing writes/s, p50/p99 latency and the masters' CPU seconds per 1,000 writes,
// once through the native client (store/native/) and once through the etcd v3 client (`--client`
// picks one). `--against etcd` runs the same workload, through the same etcd v3 client, against a
// three-member etcd (Debian's etcd-server) and prints the ratios. A last line sets the store
// issue's goals beside what the run measured.
// `--mode txn` writes as the API's registry does: each write is a txn comparing the key's mod
// revision and putting the new value (compare-and-put), on keys each client owns.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { StoreClient, type KeyValue } from '../store/client.js';
import { NativeStoreClient } from '../store/native/client.js';
import type { MasterStatusReport } from '../store/server.js';
import { TestCluster } from '../test/harness/cluster.js';
import { processCpuSeconds } from './proc.js';

/** Sequential writes per single-client latency measurement. */
const SINGLE_CLIENT_WRITES = 300;
/** Bound on the benchmark's length, whatever --seconds says. */
const MAX_SECONDS = 600;
/** Bound on concurrent clients. */
const MAX_CLIENTS = 2_000;

/** Keys each client cycles through in txn mode (it tracks their mod revisions). */
const TXN_KEYS_PER_CLIENT = 10;

/** The calls the workload makes, which both clients offer. */
interface BenchClient {
  put(key: string, value: string): Promise<number>;
  get(key: string): Promise<KeyValue | undefined>;
  compareAndPut(key: string, modRevision: number, next: string): Promise<number | undefined>;
  useEndpoint(i: number): void;
  close(): void;
}

/** Which client the workload speaks: the store's native protocol, or etcd v3 gRPC. */
export const BenchClientKind = { Native: 'native', Etcd: 'etcd-v3' } as const;
export type BenchClientKind = (typeof BenchClientKind)[keyof typeof BenchClientKind];

export const BenchMode = { Put: 'put', Txn: 'txn' } as const;
export type BenchMode = (typeof BenchMode)[keyof typeof BenchMode];

export interface StoreBenchResult {
  readonly target: string;
  readonly client: BenchClientKind;
  readonly mode: BenchMode;
  readonly clients: number;
  readonly valueBytes: number;
  readonly seconds: number;
  readonly writes: number;
  readonly errors: number;
  readonly writesPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Measured after the throughput run, with the masters' code optimized by V8. */
  readonly singleClientP50Ms: number;
  /** The same on fresh masters, before the throughput run. */
  readonly singleClientColdP50Ms: number;
  readonly cpuSecondsPer1000Writes: number;
  /** The benchmark's own CPU (its gRPC clients), for telling a client-bound run from a server-bound one. */
  readonly clientCpuSecondsPer1000Writes: number;
  /** kill -9 of the leader to the next successful write (Flotilla only). */
  readonly failoverMs?: number;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** A failed compare in txn mode: the client's idea of the key's mod revision was stale. */
class CompareFailedError extends Error {
  override readonly name = 'CompareFailedError';
}

interface Target {
  readonly name: string;
  readonly client: BenchClientKind;
  readonly connect: () => BenchClient;
  readonly pids: () => number[];
}

async function workload(target: Target, clients: number, valueBytes: number, seconds: number, mode: BenchMode, rate: number): Promise<StoreBenchResult> {
  const pids = target.pids;
  // With a rate, each client starts a write every clients/rate seconds (later if the last one is
  // still running): the same offered load before and after a change, for comparing CPU per write.
  const intervalMs = rate > 0 ? (1000 * clients) / rate : 0;
  const value = 'x'.repeat(valueBytes);
  // One gRPC channel per 10 clients (etcd's benchmark shares connections between clients too).
  const conns = Array.from({ length: Math.max(1, Math.ceil(clients / 10)) }, (_, i) => {
    const c = target.connect();
    c.useEndpoint(i);
    return c;
  });
  // A single client's latency, first on fresh masters (their code not yet optimized by V8), and
  // again after the throughput run (below), when it is.
  const singleClient = async (prefix: string): Promise<number[]> => {
    const single: number[] = [];
    for (let i = 0; i < SINGLE_CLIENT_WRITES; i++) {
      const t = performance.now();
      await conns[0]!.put(`${prefix}/${i}`, value);
      single.push(performance.now() - t);
    }
    return single.sort((a, b) => a - b);
  };
  const coldSingle = await singleClient('single-cold');

  const latencies: number[] = [];
  let errors = 0;
  const cpuBefore = pids().map(processCpuSeconds).reduce((a, b) => a + b, 0);
  const clientCpuBefore = process.cpuUsage();
  const start = performance.now();
  const end = start + seconds * 1000;
  await Promise.all(
    Array.from({ length: clients }, async (_, i) => {
      const client = conns[i % conns.length]!;
      const modRevisions = new Array<number>(TXN_KEYS_PER_CLIENT).fill(0);
      let n = 0;
      let next = performance.now() + (intervalMs * i) / clients;
      while (performance.now() < end) {
        if (intervalMs > 0) {
          const wait = next - performance.now();
          if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
          next += intervalMs;
          if (performance.now() >= end) break;
        }
        const t = performance.now();
        try {
          if (mode === BenchMode.Put) {
            await client.put(`bench/${i}/${n++ % 1000}`, value);
          } else {
            const k = n++ % TXN_KEYS_PER_CLIENT;
            const revision = await client.compareAndPut(`bench/${i}/${k}`, modRevisions[k]!, value);
            if (revision === undefined) {
              // Stale after a write whose outcome was unknown: learn the key's revision again.
              modRevisions[k] = (await client.get(`bench/${i}/${k}`))?.modRevision ?? 0;
              throw new CompareFailedError(`bench/${i}/${k}: mod revision was not as expected`);
            }
            modRevisions[k] = revision;
          }
          latencies.push(performance.now() - t);
        } catch {
          errors++;
        }
      }
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  const cpuAfter = pids().map(processCpuSeconds).reduce((a, b) => a + b, 0);
  const clientCpu = process.cpuUsage(clientCpuBefore);
  const warmSingle = await singleClient('single-warm');
  for (const c of conns) c.close();
  latencies.sort((a, b) => a - b);
  return {
    target: target.name, client: target.client, mode, clients, valueBytes, seconds: Number(elapsed.toFixed(2)), writes: latencies.length, errors,
    writesPerSecond: Math.round(latencies.length / elapsed),
    p50Ms: Number(percentile(latencies, 50).toFixed(2)),
    p99Ms: Number(percentile(latencies, 99).toFixed(2)),
    singleClientP50Ms: Number(percentile(warmSingle, 50).toFixed(3)),
    singleClientColdP50Ms: Number(percentile(coldSingle, 50).toFixed(3)),
    cpuSecondsPer1000Writes: Number((((cpuAfter - cpuBefore) / Math.max(1, latencies.length)) * 1000).toFixed(3)),
    clientCpuSecondsPer1000Writes: Number((((clientCpu.user + clientCpu.system) / 1e6 / Math.max(1, latencies.length)) * 1000).toFixed(3)),
  };
}

/** Bound on how long the failover measurement waits for a write to succeed. */
const FAILOVER_LIMIT_MS = 30_000;

/** kill -9 of the leader, then writes through the survivors until one succeeds. */
async function measureFailover(cluster: TestCluster): Promise<number> {
  const leader = await cluster.waitLeader(10_000);
  const survivors = cluster.members.filter((m) => m !== leader).map((m) => m.name);
  const client = cluster.client(survivors, 200);
  await cluster.signal(leader.name, 'SIGKILL');
  const killedAt = performance.now();
  try {
    for (let i = 0; performance.now() - killedAt < FAILOVER_LIMIT_MS; i++) {
      try {
        await client.put('failover', String(i));
        return Math.round(performance.now() - killedAt);
      } catch (err) {
        if (process.env['FLOTILLA_BENCH_DEBUG'] !== undefined) process.stderr.write(`failover: ${(err as Error).message}\n`);
        client.useEndpoint(i + 1);
      }
    }
    return NaN;
  } finally {
    client.close();
  }
}

interface EtcdCluster {
  readonly endpoints: string[];
  readonly procs: ChildProcess[];
  stop(): Promise<void>;
}

async function startEtcd(basePort: number): Promise<EtcdCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-bench-etcd-'));
  const names = ['e1', 'e2', 'e3'];
  const peer = (i: number): string => `http://127.0.0.1:${basePort + 10 + i}`;
  const client = (i: number): string => `127.0.0.1:${basePort + i}`;
  const initial = names.map((n, i) => `${n}=${peer(i)}`).join(',');
  const procs = names.map((name, i) =>
    spawn('etcd', [
      '--name', name, '--data-dir', join(dir, name),
      '--listen-client-urls', `http://${client(i)}`, '--advertise-client-urls', `http://${client(i)}`,
      '--listen-peer-urls', peer(i), '--initial-advertise-peer-urls', peer(i),
      '--initial-cluster', initial, '--initial-cluster-state', 'new', '--initial-cluster-token', 'flotilla-bench',
      '--log-level', 'error',
    ], { stdio: ['ignore', 'ignore', 'inherit'] }),
  );
  const endpoints = names.map((_, i) => client(i));
  const probe = new StoreClient(endpoints, 1_000);
  for (let i = 0; ; i++) {
    try {
      await probe.put('probe', 'ok');
      break;
    } catch (err) {
      if (i > 100) throw new Error(`etcd did not come up: ${(err as Error).message}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  probe.close();
  return {
    endpoints,
    procs,
    async stop() {
      await Promise.all(procs.map((p) => new Promise<void>((resolve) => {
        if (p.exitCode !== null) return resolve();
        p.once('exit', () => resolve());
        p.kill('SIGTERM');
      })));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

type LoopStats = MasterStatusReport & { readonly member: string };

/** The leader's loop counters (they are cumulative), to report one workload's share. */
async function loopStats(cluster: TestCluster): Promise<LoopStats | undefined> {
  const leader = await cluster.waitLeader(10_000);
  const st = await cluster.status(leader.name);
  return st === undefined ? undefined : { ...st, member: leader.name };
}

function loopDelta(a: LoopStats, b: LoopStats): Record<string, unknown> {
  if (a.member !== b.member) return { leaderLoop: `${a.member}→${b.member}` };
  const d = (k: keyof LoopStats['raftStats']): number => b.raftStats[k] - a.raftStats[k];
  const readies = Math.max(1, d('readies'));
  const batches = Math.max(1, b.txnBatches.batches - a.txnBatches.batches);
  return {
    leaderLoop: b.member, readies: d('readies'),
    entriesPerAppend: Number((d('entriesPersisted') / Math.max(1, d('syncedReadies'))).toFixed(1)),
    proposalsPerBatch: Number((d('proposalsBatched') / Math.max(1, d('proposalBatches'))).toFixed(1)),
    persistMsPerReady: Number((d('persistMs') / readies).toFixed(3)), applyMsPerReady: Number((d('applyMs') / readies).toFixed(3)),
    messagesPerReady: Number((d('messagesSent') / readies).toFixed(1)),
    leaderTxnsPerBatch: Number(((b.txnBatches.txns - a.txnBatches.txns) / batches).toFixed(1)),
    eventLoopDelayMs: b.eventLoopDelayMs,
  };
}

export async function storeBenchCommand(argv: readonly string[], out: NodeJS.WritableStream): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      clients: { type: 'string', default: '100' },
      'value-size': { type: 'string', default: '256' },
      seconds: { type: 'string', default: '10' },
      against: { type: 'string' },
      'tick-ms': { type: 'string', default: '100' },
      mode: { type: 'string', default: BenchMode.Put },
      // Offered writes/s across all clients; 0 = as fast as they can.
      rate: { type: 'string', default: '0' },
      // Without the failover step every master exits cleanly (so --cpu-prof profiles are written).
      'skip-failover': { type: 'boolean', default: false },
      // Which client Flotilla is measured through: native, etcd-v3 (the same client etcd gets) or both.
      client: { type: 'string', default: 'both' },
    },
    strict: true,
  });
  const clients = Number(values.clients);
  const valueBytes = Number(values['value-size']);
  const seconds = Number(values.seconds);
  if (!Number.isInteger(clients) || clients < 1 || clients > MAX_CLIENTS) throw new Error(`--clients must be 1..${MAX_CLIENTS}`);
  if (!Number.isInteger(valueBytes) || valueBytes < 0 || valueBytes > 1024 * 1024) throw new Error('--value-size must be 0..1048576 bytes');
  if (!(seconds > 0 && seconds <= MAX_SECONDS)) throw new Error(`--seconds must be in (0, ${MAX_SECONDS}]`);
  const rate = Number(values.rate);
  if (!(rate >= 0 && rate <= 1_000_000)) throw new Error('--rate must be 0..1000000 writes/s');
  const mode = values.mode as BenchMode;
  if (!Object.values(BenchMode).includes(mode)) throw new Error(`--mode '${values.mode}': one of ${Object.values(BenchMode).join(', ')}`);
  if (values.client !== 'both' && !Object.values(BenchClientKind).includes(values.client as BenchClientKind)) {
    throw new Error(`--client '${values.client}': one of both, ${Object.values(BenchClientKind).join(', ')}`);
  }
  if (values.against !== undefined && values.against !== 'etcd') throw new Error(`--against '${values.against}': only 'etcd' is supported`);

  const kinds: BenchClientKind[] = values.client === 'both' ? [BenchClientKind.Native, BenchClientKind.Etcd] : [values.client as BenchClientKind];

  const token = 'bench-cluster-token';
  const cluster = await TestCluster.start({ tickMs: Number(values['tick-ms']), snapshotEvery: 100_000, token });
  const results: StoreBenchResult[] = [];
  let failoverMs: number | undefined;
  try {
    await cluster.waitLeader(30_000);
    const pids = (): number[] => cluster.members.map((m) => m.proc?.pid ?? 0).filter((p) => p > 0);
    for (const kind of kinds) {
      const connect = kind === BenchClientKind.Native
        ? (): BenchClient => new NativeStoreClient(cluster.members.map((m) => m.listen), { timeoutMs: 5_000, token })
        : (): BenchClient => new StoreClient(cluster.members.map((m) => m.etcd), 5_000);
      const before = await loopStats(cluster);
      const result = await workload({ name: 'flotilla', client: kind, connect, pids }, clients, valueBytes, seconds, mode, rate);
      const after = await loopStats(cluster);
      if (before !== undefined && after !== undefined) out.write(`${JSON.stringify({ client: kind, ...loopDelta(before, after) })}\n`);
      out.write(`${JSON.stringify(result)}\n`);
      results.push(result);
    }
    if (values['skip-failover'] !== true) {
      failoverMs = await measureFailover(cluster);
      out.write(`${JSON.stringify({ target: 'flotilla', failoverMs })}\n`);
    }
  } finally {
    await cluster.stop();
  }
  let theirs: StoreBenchResult | undefined;
  if (values.against === 'etcd') {
    const etcd = await startEtcd(30_000 + Math.floor(Math.random() * 10_000));
    try {
      const pids = (): number[] => etcd.procs.map((p) => p.pid ?? 0).filter((p) => p > 0);
      theirs = await workload({ name: 'etcd', client: BenchClientKind.Etcd, connect: () => new StoreClient(etcd.endpoints, 5_000), pids }, clients, valueBytes, seconds, mode, rate);
    } finally {
      await etcd.stop();
    }
    out.write(`${JSON.stringify(theirs)}\n`);
    const etcdRun = theirs;
    for (const ours of results) {
      out.write(`${JSON.stringify({ ratio: `flotilla(${ours.client})/etcd(${etcdRun.client})`, writesPerSecond: Number((ours.writesPerSecond / etcdRun.writesPerSecond).toFixed(2)), p50: Number((ours.p50Ms / etcdRun.p50Ms).toFixed(2)), singleClientP50: Number((ours.singleClientP50Ms / etcdRun.singleClientP50Ms).toFixed(2)), cpuPer1000Writes: Number((ours.cpuSecondsPer1000Writes / etcdRun.cpuSecondsPer1000Writes).toFixed(2)) })}\n`);
    }
  }
  // The goals of the store issue, next to what this run measured.
  const native = results.find((r) => r.client === BenchClientKind.Native);
  const grpc = results.find((r) => r.client === BenchClientKind.Etcd);
  out.write(`${JSON.stringify({
    goals: {
      ...(native !== undefined ? { nativeWritesPerSecond: { goal: '>= 20000 at 100 clients', measured: native.writesPerSecond, clients: native.clients } } : {}),
      singleClientP50Ms: { goal: '< 1', measured: Math.min(...results.map((r) => r.singleClientP50Ms)) },
      ...(failoverMs !== undefined ? { failoverMs: { goal: '< 500', measured: failoverMs } } : {}),
      ...(grpc !== undefined && theirs !== undefined
        ? { etcdClientWritesPerSecondVsEtcd: { goal: '>= 1.0', measured: Number((grpc.writesPerSecond / theirs.writesPerSecond).toFixed(2)) } }
        : {}),
    },
  })}\n`);
  return 0;
}
