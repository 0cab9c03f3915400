// tinybench figures for the Raft core's hot paths: `npm run bench:raft`.
// Prints medians (and p99) per operation; no pass/fail — compare runs on the same machine.

import { Bench } from 'tinybench';
import { majorityCommitted } from '../raft/core/quorum.js';
import { RawNode } from '../raft/core/rawnode.js';
import { MemoryStorage } from '../raft/core/storage.js';
import { EntryType, MessageType, message, type Entry } from '../raft/core/types.js';

const ENTRIES_PER_APPEND = 64;
const ENTRY_BYTES = 256;

function follower(): { node: RawNode; storage: MemoryStorage } {
  const storage = MemoryStorage.withMembers([1, 2, 3]);
  const node = new RawNode({ id: 2, storage, electionTick: 10, heartbeatTick: 1, random: { int: () => 0 } });
  return { node, storage };
}

/** A follower receiving appends of 64 entries each, handling the Ready like a driver would. */
function appendStepper(): () => void {
  let { node, storage } = follower();
  let next = 1;
  const data = new Uint8Array(ENTRY_BYTES);
  return () => {
    if (next > 1_000_000) ({ node, storage } = follower(), (next = 1));
    const entries: Entry[] = [];
    for (let i = 0; i < ENTRIES_PER_APPEND; i++) entries.push({ term: 1, index: next + i, type: EntryType.Normal, data });
    node.step(message({ type: MessageType.App, from: 1, to: 2, term: 1, index: next - 1, logTerm: next === 1 ? 0 : 1, entries, commit: next - 1 }));
    const rd = node.ready();
    storage.append(rd.entries);
    if (rd.hardState) storage.setHardState(rd.hardState);
    node.advance(rd);
    next += ENTRIES_PER_APPEND;
  };
}

const voters = [1, 2, 3, 4, 5];
const matches = new Map<number, number>([[1, 1000], [2, 998], [3, 1003], [4, 990], [5, 1001]]);

const bench = new Bench({ time: 1000, warmup: true });
bench
  .add(`step an append of ${ENTRIES_PER_APPEND} x ${ENTRY_BYTES} B entries (follower, with Ready/advance)`, appendStepper())
  .add('commit index with 5 voters (majority of match indexes)', () => {
    majorityCommitted(voters, (id) => matches.get(id)!);
  });

await bench.run();
const rows = bench.tasks.map((t) => {
  const r = t.result;
  if (r === undefined || !('latency' in r)) return { task: t.name, error: 'no result' };
  return {
    task: t.name,
    'median (µs)': (r.latency.p50! * 1000).toFixed(3),
    'p99 (µs)': (r.latency.p99! * 1000).toFixed(3),
    'ops/s (median)': Math.round(r.throughput.p50 ?? 0).toLocaleString('en-US'),
    samples: r.latency.samplesCount,
  };
});
console.table(rows);
const append = bench.tasks[0]?.result;
if (append !== undefined && 'latency' in append && append.latency.p50 !== undefined) {
  console.log(`entries/s through a follower's step (median): ${Math.round((ENTRIES_PER_APPEND * 1000) / append.latency.p50).toLocaleString('en-US')}`);
}
