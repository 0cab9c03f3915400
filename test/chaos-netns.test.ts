// Chaos with real partitions: each master runs in a network namespace of its own (10.77.N.11..13,
// veths into a bridge in the root namespace), and partitions are iptables DROP rules between the
// masters' addresses — both ways, one way only (A→B dropped, B→A flowing), and a single cut link
// (A and B cannot talk, C talks to both). Masters are also killed (-9) and paused (SIGSTOP). The
// clients, in this process, reach the masters through the bridge; their get/put/CAS history must
// be linearizable. Needs root; on a machine without network namespaces it fails and says why.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHAOS_KEYS, finalReads, pick, runChaosClient, sleep } from './harness/chaos-workload.js';
import { NETNS_ETCD_PORT, TestCluster } from './harness/cluster.js';
import { NetnsLab } from './harness/netns.js';
import { checkLinearizable } from './linearizability/checker.js';
import { HistoryRecorder, type KvInput, type KvOutput } from './linearizability/history.js';
import { kvModel } from './linearizability/model.js';

/** How long clients run under faults. */
const CHAOS_MS = 22_000;
const CLIENTS = 5;
/** A client call that takes longer than this counts as an unknown outcome. */
const CALL_TIMEOUT_MS = 1_000;
const FAULTS = ['isolate', 'one-way', 'pause', 'cut-link', 'kill'] as const;

let lab: NetnsLab | undefined;
let cluster: TestCluster | undefined;
let setupError: Error | undefined;

beforeAll(() => {
  try {
    lab = NetnsLab.create(3, { loopbackPorts: [NETNS_ETCD_PORT] });
  } catch (err) {
    setupError = err as Error;
  }
});

afterAll(async () => {
  // Masters first (a process in a namespace keeps it alive), then namespaces, veths, bridge.
  await cluster?.stop().catch(() => {});
  lab?.destroy();
  if (lab !== undefined) {
    const left = NetnsLab.leftovers(lab.prefix);
    if (left.length > 0) throw new Error(`network lab not cleaned up: ${left.join('; ')}`);
  }
});

async function leaderName(c: TestCluster): Promise<string | undefined> {
  for (const m of c.members) {
    if (m.proc === undefined) continue;
    const st = await c.status(m.name);
    if (st?.role === 'leader') return m.name;
  }
  return undefined;
}

async function nemesis(c: TestCluster, net: NetnsLab, until: number, log: string[]): Promise<void> {
  const address = (name: string): string => c.member(name).listen.split(':')[0]!;
  while (Date.now() < until - 3_000) {
    await sleep(700 + Math.random() * 1_000);
    const fault = FAULTS[log.length % FAULTS.length]!;
    const live = c.members.filter((m) => m.proc !== undefined).map((m) => m.name);
    const victim = pick(live);
    if (fault === 'kill') {
      log.push(`kill -9 ${victim}`);
      await c.signal(victim, 'SIGKILL');
      await sleep(500 + Math.random() * 1_500);
      c.restart(victim);
    } else if (fault === 'pause') {
      log.push(`SIGSTOP ${victim}`);
      await c.signal(victim, 'SIGSTOP');
      await sleep(500 + Math.random() * 2_000);
      await c.signal(victim, 'SIGCONT');
    } else {
      // Partitions aim at the leader when there is one: that is where they hurt.
      const a = (await leaderName(c)) ?? victim;
      const b = pick(c.members.filter((m) => m.name !== a).map((m) => m.name));
      if (fault === 'isolate') {
        log.push(`isolate ${a}`);
        net.isolate(address(a));
      } else if (fault === 'one-way') {
        log.push(`drop ${a}→${b}`);
        net.cutOneWay(address(a), address(b));
      } else {
        log.push(`cut ${a}↔${b}`);
        net.cut(address(a), address(b));
      }
      await sleep(1_000 + Math.random() * 2_000);
      net.heal();
    }
  }
}

describe('chaos over real partitions (network namespaces, iptables DROP)', () => {
  it('every history is linearizable and no acknowledged write is lost', async () => {
    if (setupError !== undefined) throw setupError;
    const net = lab!;
    // The masters' addresses answer through the bridge before anything starts.
    cluster = await TestCluster.start({ netns: net.hosts });
    const first = await cluster.waitLeader(20_000);
    // The cut is real: a leader cut off by DROP rules is replaced by the other two.
    net.isolate(first.listen.split(':')[0]!);
    const next = await cluster.waitLeader(20_000, [first.name]);
    net.heal();
    console.log(`isolating leader ${first.name} by iptables: ${next.name} took over`);
    const rec = new HistoryRecorder<KvInput, KvOutput>(() => performance.now());
    const seen = new Map(CHAOS_KEYS.map((k) => [k, [] as string[]]));
    const until = Date.now() + CHAOS_MS;
    const clients = Array.from({ length: CLIENTS }, (_, i) => {
      const c = cluster!.client(undefined, CALL_TIMEOUT_MS);
      c.useEndpoint(i);
      return c;
    });
    const faults: string[] = [];
    await Promise.all([...clients.map((c, i) => runChaosClient(i, c, rec, until, seen)), nemesis(cluster, net, until, faults)]);

    net.heal();
    expect(net.activeCuts()).toEqual([]);
    for (const m of cluster.members) if (m.proc === undefined) cluster.restart(m.name);
    await cluster.waitLeader(20_000);
    await finalReads(cluster, rec);
    for (const c of clients) c.close();

    const ops = rec.operations();
    const acked = ops.filter((o) => o.outcome.kind === 'ok').length;
    const result = checkLinearizable(kvModel, ops);
    console.log(`chaos (netns ${net.hosts.map((h) => `${h.namespace}=${h.address}`).join(' ')}): ${ops.length} operations (${acked} acknowledged), faults: ${faults.join(', ')}; verdict ${result.kind}`);
    if (result.kind === 'illegal') console.log(result.explanation);
    expect(faults.length).toBeGreaterThanOrEqual(FAULTS.length);
    for (const kind of ['isolate', 'drop', 'cut', 'kill', 'SIGSTOP']) expect(faults.some((f) => f.startsWith(kind)), kind).toBe(true);
    expect(acked).toBeGreaterThan(200);
    expect(result.kind).toBe('ok');
  }, 90_000);
});
