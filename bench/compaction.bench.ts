// How long one compaction holds a master's event loop: `npm run build && node dist/bench/compaction.bench.js [KEYS] [VERSIONS]`.
// Builds a store of KEYS keys (default 150,000, the scheduling benchmark's pods) with VERSIONS
// versions each (default 3: create, bind, status), ~1 KB values, then applies one compact command
// at the current revision, then a few ordinary puts, and prints how long each apply took, and
// the history left. No pass/fail.

import { putCommand } from '../store/mvcc/commands.js';
import { COMPACTION_START, COMPACTION_STEP_ENTRIES, compactionStep } from '../store/mvcc/compaction.js';
import type { MvccTables } from '../store/mvcc/tables.js';
import { openTempStore, utf8 } from '../store/mvcc/testing.js';

const keys = Number(process.argv[2] ?? 150_000);
const versions = Number(process.argv[3] ?? 3);
const temp = openTempStore('flotilla-compaction-bench-');
let index = 0;
const value = new Uint8Array(1024).fill(7);
const started = performance.now();
for (let v = 0; v < versions; v++) {
  for (let i = 0; i < keys; i += 500) {
    const entries = [];
    for (let j = i; j < Math.min(keys, i + 500); j++) entries.push({ index: ++index, bytes: encode(j) });
    temp.store.applyBatch(entries);
  }
}
function encode(j: number): Uint8Array {
  return encodeCommandBytes(putCommand(utf8(`/registry/pods/default/pod-${j}`), value));
}
import { encodeCommand as encodeCommandBytes } from '../store/mvcc/commands.js';
console.log(`built ${keys} keys x ${versions} versions (${temp.store.currentRevision} revisions) in ${((performance.now() - started) / 1000).toFixed(1)} s`);

const time = (label: string, fn: () => void): void => {
  const t = performance.now();
  fn();
  console.log(`${label}: ${(performance.now() - t).toFixed(1)} ms`);
};
time('compact at the current revision (one apply)', () => {
  const outcome = temp.store.apply(++index, { type: 'compact', revision: temp.store.currentRevision });
  if (outcome.status !== 'applied') throw new Error(`compact ${outcome.status}`);
});
for (let i = 0; i < 5; i++) time(`put ${i + 1} after it`, () => temp.store.apply(++index, putCommand(utf8(`after-${i}`), value)));
console.log('history entries left', temp.store.stats().historyEntries);

// The steps alone, without a commit per apply: 20 steps inside one transaction, on a second store.
const second = openTempStore('flotilla-compaction-bench-');
let idx = 0;
for (let v = 0; v < versions; v++) {
  for (let i = 0; i < keys; i += 500) {
    const entries = [];
    for (let j = i; j < Math.min(keys, i + 500); j++) entries.push({ index: ++idx, bytes: encode(j) });
    second.store.applyBatch(entries);
  }
}
const tables = (second.store as unknown as { tables: MvccTables }).tables;
const target = second.store.currentRevision;
let from: Uint8Array | undefined = COMPACTION_START;
const stepMs: number[] = [];
let examined = 0;
let removedTotal = 0;
const whole = performance.now();
tables.root.transactionSync(() => {
  while (from !== undefined) {
    const t = performance.now();
    const step = compactionStep(tables, target, from);
    stepMs.push(performance.now() - t);
    examined += step.examined;
    removedTotal += step.removed;
    from = step.next;
  }
});
stepMs.sort((a, b) => a - b);
console.log(`steps of ${COMPACTION_STEP_ENTRIES} entries, in one transaction: ${stepMs.length} steps, median ${stepMs[stepMs.length >> 1]!.toFixed(2)} ms, max ${stepMs[stepMs.length - 1]!.toFixed(2)} ms; ${examined} examined, ${removedTotal} removed, ${(performance.now() - whole).toFixed(0)} ms with the commit`);
await second.dispose();
await temp.dispose();
