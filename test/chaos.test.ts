// Chaos against three real masters: concurrent clients do get/put/CAS on a few keys while a nemesis
// kills (-9), pauses (SIGSTOP) and partitions masters. The whole history must be linearizable
// (Knossos/Porcupine checker in test/linearizability), which also means no acknowledged write was
// lost: every read after it, final reads included, must see it or a later write.

import { afterEach, describe, expect, it } from 'vitest';
import type { StoreClient } from '../store/client.js';
import { TestCluster } from './harness/cluster.js';
import { checkLinearizable } from './linearizability/checker.js';
import { HistoryRecorder, type KvInput, type KvOutput } from './linearizability/history.js';
import { kvModel } from './linearizability/model.js';

/** How long clients run under faults. */
const CHAOS_MS = 20_000;
const CLIENTS = 5;
const KEYS = ['k0', 'k1', 'k2'];
/** A client call that takes longer than this counts as an unknown outcome. */
const CALL_TIMEOUT_MS = 1_000;

let cluster: TestCluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

function pick<T>(items: readonly T[]): T {
  return items[Math.floor(Math.random() * items.length)]!;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function runClient(id: number, client: StoreClient, rec: HistoryRecorder<KvInput, KvOutput>, until: number, seen: Map<string, string[]>): Promise<void> {
  let n = 0;
  while (Date.now() < until) {
    const key = pick(KEYS);
    const r = Math.random();
    if (r < 0.4) {
      const op = rec.invoke(id, { type: 'get', key });
      try {
        const kv = await client.get(key);
        const value = kv?.value.toString() ?? null;
        rec.ok(op, { type: 'get', value });
        if (value !== null) seen.get(key)!.push(value);
      } catch {
        rec.unknown(op);
      }
    } else if (r < 0.75) {
      const value = `c${id}-${n++}`;
      const op = rec.invoke(id, { type: 'put', key, value });
      try {
        await client.put(key, value);
        rec.ok(op, { type: 'put' });
      } catch {
        rec.unknown(op);
      }
    } else {
      const values = seen.get(key)!;
      const expected = values.length === 0 || Math.random() < 0.2 ? null : values[values.length - 1]!;
      const value = `c${id}-${n++}`;
      const op = rec.invoke(id, { type: 'cas', key, expected, value });
      try {
        const ok = await client.compareAndSet(key, expected ?? undefined, value);
        rec.ok(op, { type: 'cas', succeeded: ok });
      } catch {
        rec.unknown(op);
      }
    }
  }
}

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
    for (const m of cluster.members) {
      const reader = cluster.client([m.name], 5_000);
      for (const key of KEYS) {
        for (let attempt = 0; ; attempt++) {
          const op = rec.invoke(`final-${m.name}`, { type: 'get', key });
          try {
            const kv = await reader.get(key);
            rec.ok(op, { type: 'get', value: kv?.value.toString() ?? null });
            break;
          } catch (err) {
            rec.unknown(op);
            if (attempt > 20) throw err;
            await sleep(250);
          }
        }
      }
      reader.close();
    }
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
