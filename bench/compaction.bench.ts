// How long one compaction holds a master's event loop: `npm run build && node dist/bench/compaction.bench.js [KEYS] [VERSIONS]`.
// Builds a store of KEYS keys (default 150,000, the scheduling benchmark's pods) with VERSIONS
// versions each (default 3: create, bind, status) of ~1 KB, then:
//   1. applies one compact command at the current revision, then a few puts, timing each apply
//      (the compact entry and each put carry one step of the removal);
//   2. on a second such store, runs the whole removal step by step inside one transaction and
//      prints the steps' median and max (what each applied entry adds while a compaction runs).
// No pass/fail.

import { encodeCommand, putCommand } from '../store/mvcc/commands.js';
import { COMPACTION_START, COMPACTION_STEP_ENTRIES, compactionStep } from '../store/mvcc/compaction.js';
import { openTables } from '../store/mvcc/tables.js';
import { type TempStore, openTempStore, utf8 } from '../store/mvcc/testing.js';

const keys = Number(process.argv[2] ?? 150_000);
const versions = Number(process.argv[3] ?? 3);
const value = new Uint8Array(1024).fill(7);
/** Entries per applyBatch while building. */
const BUILD_BATCH = 500;

/** A store with `versions` versions of each of `keys` keys; returns it and the next log index. */
function buildStore(): { temp: TempStore; nextIndex: number } {
  const temp = openTempStore('flotilla-compaction-bench-');
  let index = 0;
  for (let v = 0; v < versions; v++) {
    for (let i = 0; i < keys; i += BUILD_BATCH) {
      const entries = [];
      for (let j = i; j < Math.min(keys, i + BUILD_BATCH); j++) {
        entries.push({ index: ++index, bytes: encodeCommand(putCommand(utf8(`/registry/pods/default/pod-${j}`), value)) });
      }
      temp.store.applyBatch(entries);
    }
  }
  return { temp, nextIndex: index + 1 };
}

const time = (label: string, fn: () => void): void => {
  const t = performance.now();
  fn();
  console.log(`${label}: ${(performance.now() - t).toFixed(1)} ms`);
};

const started = performance.now();
const first = buildStore();
console.log(`built ${keys} keys x ${versions} versions (${first.temp.store.currentRevision} revisions) in ${((performance.now() - started) / 1000).toFixed(1)} s`);
let index = first.nextIndex;
time('compact at the current revision (one apply)', () => {
  const outcome = first.temp.store.apply(index++, { type: 'compact', revision: first.temp.store.currentRevision });
  if (outcome.status !== 'applied') throw new Error(`compact ${outcome.status}`);
});
for (let i = 0; i < 5; i++) time(`put ${i + 1} after it`, () => first.temp.store.apply(index++, putCommand(utf8(`after-${i}`), value)));
console.log('history entries left', first.temp.store.stats().historyEntries);
await first.temp.dispose();

const second = buildStore();
const tables = openTables(second.temp.root);
const target = second.temp.store.currentRevision;
const stepMs: number[] = [];
let examined = 0;
let removed = 0;
const whole = performance.now();
tables.root.transactionSync(() => {
  for (let from: Uint8Array | undefined = COMPACTION_START; from !== undefined; ) {
    const t = performance.now();
    const step = compactionStep(tables, target, from);
    stepMs.push(performance.now() - t);
    examined += step.examined;
    removed += step.removed;
    from = step.next;
  }
});
stepMs.sort((a, b) => a - b);
console.log(
  `steps of ${COMPACTION_STEP_ENTRIES} entries, in one transaction: ${stepMs.length} steps, median ${stepMs[stepMs.length >> 1]!.toFixed(2)} ms, ` +
    `max ${stepMs[stepMs.length - 1]!.toFixed(2)} ms; ${examined} examined, ${removed} removed, ${(performance.now() - whole).toFixed(0)} ms with the commit`,
);
await second.temp.dispose();
