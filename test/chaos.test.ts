// Chaos against three real masters: concurrent clients do get/put/CAS on a few keys while a nemesis
// kills (-9), pauses (SIGSTOP) and partitions masters. The whole history must be linearizable
// (Knossos/Porcupine checker in test/linearizability), which also means no acknowledged write was
// lost: every read after it, final reads included, must see it or a later write.

import { afterEach, describe, expect, it } from 'vitest';
import { CHAOS_KEYS as KEYS, finalReads, pick, runChaosClient as runClient, sleep } from './harness/chaos-workload.js';
import { TestCluster } from './harness/cluster.js';
import { checkLinearizable } from './linearizability/checker.js';
import { HistoryRecorder, type KvInput, type KvOutput } from './linearizability/history.js';
import { kvModel } from './linearizability/model.js';

/** How long clients run under faults. */
const CHAOS_MS = 20_000;
const CLIENTS = 5;
/** A client call that takes longer than this counts as an unknown outcome. */
const CALL_TIMEOUT_MS = 1_000;

let cluster: TestCluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

async function nemesis(c: TestCluster, until: number, log: string[]): Promise<void> {
  while (Date.now() < until - 3_000) {
    await sleep(800 + Math.random() * 1_200);
    const victim = pick(c.members.filter((m) => m.proc !== undefined)).name;
    // Every kind of fault, in turn, so each run partitions, pauses and kills.
    const fault = (['partition', 'pause', 'kill'] as const)[log.length % 3]!;
    log.push(`${fault} ${victim}`);
    if (fault === 'kill') {
      await c.signal(victim, 'SIGKILL');
      await sleep(500 + Math.random() * 1_500);
      c.restart(victim);
    } else if (fault === 'pause') {
      await c.signal(victim, 'SIGSTOP');
      await sleep(500 + Math.random() * 2_000);
      await c.signal(victim, 'SIGCONT');
    } else {
      await c.isolate(victim);
      await sleep(1_000 + Math.random() * 2_000);
      await c.healPartitions();
    }
  }
}

describe('chaos: kill -9, SIGSTOP and partitions under concurrent get/put/CAS', () => {
  it('every history is linearizable and no acknowledged write is lost', async () => {
    cluster = await TestCluster.start({ faultInjection: true });
    await cluster.waitLeader();
    const rec = new HistoryRecorder<KvInput, KvOutput>(() => performance.now());
    const seen = new Map(KEYS.map((k) => [k, [] as string[]]));
    const until = Date.now() + CHAOS_MS;
    const clients = Array.from({ length: CLIENTS }, (_, i) => {
      const c = cluster!.client(undefined, CALL_TIMEOUT_MS);
      c.useEndpoint(i);
      return c;
    });
    const faults: string[] = [];
    await Promise.all([...clients.map((c, i) => runClient(i, c, rec, until, seen)), nemesis(cluster, until, faults)]);

    // Heal, let every member recover, and read every key through every member.
    await cluster.healPartitions();
    for (const m of cluster.members) if (m.proc === undefined) cluster.restart(m.name);
    await cluster.waitLeader(20_000);
    await finalReads(cluster, rec);
    for (const c of clients) c.close();

    const ops = rec.operations();
    const acked = ops.filter((o) => o.outcome.kind === 'ok').length;
    const result = checkLinearizable(kvModel, ops);
    console.log(`chaos: ${ops.length} operations (${acked} acknowledged), faults: ${faults.join(', ')}; verdict ${result.kind}`);
    if (result.kind === 'illegal') console.log(result.explanation);
    expect(faults.length).toBeGreaterThanOrEqual(5);
    expect(acked).toBeGreaterThan(200);
    expect(result.kind).toBe('ok');
  }, 120_000);
});
