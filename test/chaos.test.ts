// Chaos against three real masters: concurrent clients do get/put/CAS on a few keys while a nemesis
// kills (-9), pauses (SIGSTOP) and partitions masters. The whole history must be linearizable
// (Knossos/Porcupine checker in test/linearizability), which also means no acknowledged write was
// lost: every read after it, final reads included, must see it or a later write.

import { createHash } from 'node:crypto';
import { open } from 'lmdb';
import { afterEach, describe, expect, it } from 'vitest';
import { snapshotBytes } from '../store/mvcc/snapshot.js';
import { openTables } from '../store/mvcc/tables.js';
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
/** How often the history is compacted meanwhile (to COMPACT_LAG revisions back), so compactions in progress meet the faults. */
const COMPACT_EVERY_MS = 1_500;
const COMPACT_LAG = 50;
/**
 * The periodic compactions stop this long before the clients do, so the last one (after the
 * faults) has many steps to go and is still in progress when the members are compared: the
 * masters' own writes (the scheduler's Lease renewals) carry only a step every few seconds.
 */
const LAST_HISTORY_MS = 8_000;
/** Raft snapshots every this many entries, so members also catch up by snapshot while a compaction is in progress. */
const SNAPSHOT_EVERY = 2_000;

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

/** A digest of a stopped member's MVCC state, snapshot bytes and so compaction progress included. */
async function stateDigest(dataDir: string): Promise<string> {
  const env = open({ path: dataDir, maxDbs: 32 });
  try {
    return createHash('sha256').update(snapshotBytes(openTables(env))).digest('hex');
  } finally {
    await env.close();
  }
}

/** Compacts all but the last write once the cluster is healed, retrying until it takes. */
async function compactLeavingWork(c: TestCluster): Promise<void> {
  const client = c.client(undefined, 5_000);
  try {
    for (let attempt = 1; ; attempt++) {
      try {
        await client.compact((await client.put('chaos-compaction-probe', 'last')) - 1);
        return;
      } catch (err) {
        if (attempt >= 20) throw err;
        await sleep(250);
      }
    }
  } finally {
    client.close();
  }
}

/** Compacts the store every COMPACT_EVERY_MS; failures under faults are expected and only counted. */
async function compactor(c: TestCluster, until: number): Promise<number> {
  const client = c.client(undefined, CALL_TIMEOUT_MS);
  let compacted = 0;
  try {
    while (Date.now() < until - LAST_HISTORY_MS) {
      await sleep(COMPACT_EVERY_MS);
      try {
        const revision = await client.put('chaos-compaction-probe', String(Date.now()));
        await client.compact(revision - COMPACT_LAG);
        compacted++;
      } catch {
        // Unavailable, timed out, or already compacted that far: the next round tries again.
      }
    }
  } finally {
    client.close();
  }
  return compacted;
}

describe('chaos: kill -9, SIGSTOP and partitions under concurrent get/put/CAS', () => {
  it('every history is linearizable and no acknowledged write is lost', async () => {
    cluster = await TestCluster.start({ faultInjection: true, snapshotEvery: SNAPSHOT_EVERY });
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
    const [compactions] = await Promise.all([compactor(cluster, until), ...clients.map((c, i) => runClient(i, c, rec, until, seen)), nemesis(cluster, until, faults)]);

    // Heal, let every member recover, and read every key through every member.
    await cluster.healPartitions();
    for (const m of cluster.members) if (m.proc === undefined) cluster.restart(m.name);
    await cluster.waitLeader(20_000);
    // A last compaction, left in progress (nothing writes after it), so the comparison below also
    // covers how far each member got with it.
    await compactLeavingWork(cluster);
    await finalReads(cluster, rec);
    for (const c of clients) c.close();

    // Every member applies the same entries to the same state, compactions in progress included:
    // once all have applied the same index, their stores are the same byte for byte. (kill -9, so
    // that stopping appends nothing: a graceful stop hands leadership over, and a new leader
    // appends an entry.)
    let applied: number[] = [];
    for (const deadline = Date.now() + 20_000; Date.now() < deadline; await sleep(100)) {
      applied = (await Promise.all(cluster.members.map((m) => cluster!.status(m.name)))).map((st) => st?.applied ?? -1);
      if (applied[0]! > 0 && applied.every((a) => a === applied[0])) break;
    }
    await Promise.all(cluster.members.map((m) => cluster!.signal(m.name, 'SIGKILL')));
    const digests = await Promise.all(cluster.members.map((m) => stateDigest(m.dataDir)));
    expect(new Set(applied).size, `applied indexes ${applied.join(', ')}`).toBe(1);
    expect(new Set(digests).size, `state digests ${digests.join(', ')}`).toBe(1);

    const ops = rec.operations();
    const acked = ops.filter((o) => o.outcome.kind === 'ok').length;
    const result = checkLinearizable(kvModel, ops);
    console.log(`chaos: ${ops.length} operations (${acked} acknowledged), ${compactions} compactions, faults: ${faults.join(', ')}; verdict ${result.kind}`);
    if (result.kind === 'illegal') console.log(result.explanation);
    expect(faults.length).toBeGreaterThanOrEqual(5);
    expect(acked).toBeGreaterThan(200);
    expect(compactions).toBeGreaterThan(0);
    expect(result.kind).toBe('ok');
  }, 120_000);
});
