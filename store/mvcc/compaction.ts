// Compaction at revision C (etcd's keyIndex.compact): of each key's history entries at or before C,
// only the newest survives, and not even that one when it is a tombstone. Reads at C or later are
// unchanged; reads before C become impossible. Entries after C are untouched, so the current state
// (the newest entry of every key) never changes.

import { decodeRevisionKey, indexKey, revisionKey } from './keyspace.js';
import { type MvccTables, decodeRecord } from './tables.js';

/** History entries examined per batch; bounds the deletions a batch holds in memory. */
export const COMPACTION_BATCH_ENTRIES = 1024;

/**
 * Removes the history that compaction at `revision` makes unreachable. Runs inside the caller's
 * write transaction. Returns the number of history entries removed.
 */
export function compactHistory(tables: MvccTables, revision: number): number {
  const end = revisionKey(revision + 1, 0);
  let start: Uint8Array = revisionKey(0, 0);
  let exclusiveStart = false;
  let removed = 0;
  for (;;) {
    const doomed: { revKey: Uint8Array; indexKey: Uint8Array }[] = [];
    let last: Uint8Array | undefined;
    let examined = 0;
    for (const entry of tables.revisions.getRange({ start, end, exclusiveStart, limit: COMPACTION_BATCH_ENTRIES })) {
      examined++;
      last = entry.key;
      const at = decodeRevisionKey(entry.key);
      const record = decodeRecord(entry.value, at);
      const entryIndexKey = indexKey(record.key, at.main, at.sub);
      if (record.tombstone || supersededBy(tables, entryIndexKey, record.key, revision)) {
        doomed.push({ revKey: entry.key, indexKey: entryIndexKey });
      }
    }
    // Deleting only entries already passed keeps the next batch's start valid; later entries still
    // exist when an earlier one asks whether it is superseded, so every decision sees the full history.
    for (const { revKey, indexKey: doomedIndexKey } of doomed) {
      tables.revisions.removeSync(revKey);
      tables.keyIndex.removeSync(doomedIndexKey);
    }
    removed += doomed.length;
    if (last === undefined || examined < COMPACTION_BATCH_ENTRIES) return removed;
    start = last;
    exclusiveStart = true;
  }
}

/** Whether the key has a newer history entry at or before `revision` than the one at entryIndexKey. */
function supersededBy(tables: MvccTables, entryIndexKey: Uint8Array, key: Uint8Array, revision: number): boolean {
  const newer = tables.keyIndex.getKeys({
    start: entryIndexKey,
    end: indexKey(key, revision + 1, 0),
    exclusiveStart: true,
    limit: 1,
  });
  for (const _ of newer) return true;
  return false;
}
