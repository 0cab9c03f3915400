// The chaos tests' workload: concurrent clients doing get/put/CAS on a few keys, recorded into one
// history for the linearizability checker, and the final reads through every member once healed.
// The nemesis (which faults, and how they are made) belongs to each test.

import type { StoreClient } from '../../store/client.js';
import type { HistoryRecorder, KvInput, KvOutput } from '../linearizability/history.js';
import type { TestCluster } from './cluster.js';

export const CHAOS_KEYS = ['k0', 'k1', 'k2'];

export function pick<T>(items: readonly T[]): T {
  return items[Math.floor(Math.random() * items.length)]!;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** One client's loop until `until`: 40% get, 35% put, 25% CAS from a value it has seen. */
export async function runChaosClient(id: number, client: StoreClient, rec: HistoryRecorder<KvInput, KvOutput>, until: number, seen: Map<string, string[]>): Promise<void> {
  let n = 0;
  while (Date.now() < until) {
    const key = pick(CHAOS_KEYS);
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

/** Reads every key through every member (retrying while the cluster recovers), into the history. */
export async function finalReads(cluster: TestCluster, rec: HistoryRecorder<KvInput, KvOutput>): Promise<void> {
  for (const m of cluster.members) {
    const reader = cluster.client([m.name], 5_000);
    for (const key of CHAOS_KEYS) {
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
}
