// Compaction at revision C (etcd's keyIndex.compact): of each key's history entries at or before C,
// only the newest survives, and not even that one when it is a tombstone. Reads at C or later are
// unchanged; reads before C become impossible. Entries after C are untouched, so the current state
// (the newest entry of every key) never changes.
//
// The compact command only moves the compact revision (reads before it are refused at once); the
// unreachable entries are removed afterwards, a bounded step at a time: the compact entry and then
// every applied command entry examine up to COMPACTION_STEP_ENTRIES history entries in key order,
// inside their own transaction, and record where the next step starts in the store's meta. One
// compaction of 150,000 revisions used to run in one apply that held every master's event loop for
// 3.7 s (`node dist/bench/compaction.bench.js`), long enough to lose the leader. The steps depend
// only on the state and the log, so every master removes the same entries at the same log index,
// and snapshots carry the position.
//
// Why removing part of a key's history at a time is safe: entries are examined in (key, revision)
// order, and an entry goes only when a newer one at or before C exists (it is superseded) or when it
// is a tombstone (the key is absent at C either way), so after any step every read at C or later
// still finds the same newest entry, or none.

import { bytesEqual, indexKeyGroup, indexKeyRevision, revisionKey } from './keyspace.js';
import { INDEX_TOMBSTONE, type MvccTables } from './tables.js';

/**
 * History entries one applied entry examines for a pending compaction: bounds the work an apply
 * adds (about 5 µs per entry examined, removals included, so about 1.2 ms a step; see
 * bench/compaction.bench.ts), while a compaction of N entries still finishes within
 * N / COMPACTION_STEP_ENTRIES applied entries.
 */
export const COMPACTION_STEP_ENTRIES = 256;

/** Where a new compaction's first step starts: the first history index key. */
export const COMPACTION_START = new Uint8Array(0);

export interface CompactionStep {
  /** Where the next step starts; undefined when the compaction is complete. */
  readonly next: Uint8Array | undefined;
  readonly examined: number;
  readonly removed: number;
}

/**
 * Examines up to `budget` history entries from index key `from` (inclusive) and removes those that
 * compaction at `revision` makes unreachable. Runs inside the caller's write transaction.
 */
export function compactionStep(tables: MvccTables, revision: number, from: Uint8Array, budget: number = COMPACTION_STEP_ENTRIES): CompactionStep {
  if (!Number.isSafeInteger(budget) || budget < 1) throw new RangeError(`compaction step budget ${budget} is not a positive integer`);
  // One entry more than the budget: whether the last examined one is superseded depends on the next.
  const entries: { key: Uint8Array; tombstone: boolean }[] = [];
  for (const { key, value } of tables.keyIndex.getRange(from.length > 0 ? { start: from, limit: budget + 1 } : { limit: budget + 1 })) {
    entries.push({ key: Uint8Array.prototype.slice.call(key), tombstone: bytesEqual(value, INDEX_TOMBSTONE) });
  }
  const examined = Math.min(budget, entries.length);
  let removed = 0;
  for (let i = 0; i < examined; i++) {
    const entry = entries[i]!;
    const at = indexKeyRevision(entry.key);
    if (at.main > revision) continue;
    const next = entries[i + 1];
    const superseded = next !== undefined && indexKeyRevision(next.key).main <= revision && bytesEqual(indexKeyGroup(next.key), indexKeyGroup(entry.key));
    if (!superseded && !entry.tombstone) continue;
    tables.keyIndex.removeSync(entry.key);
    tables.revisions.removeSync(revisionKey(at.main, at.sub));
    removed++;
  }
  return { next: entries.length > budget ? entries[budget]!.key : undefined, examined, removed };
}

/** Runs a whole compaction at once (tests and tools; the store itself goes a step per entry). */
export function compactHistory(tables: MvccTables, revision: number, budget: number = COMPACTION_STEP_ENTRIES): number {
  let removed = 0;
  let from: Uint8Array | undefined = COMPACTION_START;
  while (from !== undefined) {
    const step = compactionStep(tables, revision, from, budget);
    removed += step.removed;
    from = step.next;
  }
  return removed;
}
