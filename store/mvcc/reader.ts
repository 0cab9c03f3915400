// Reads of the MVCC tables: ranges at the current or a past revision (etcd's Range, including its
// count, limit, sort and filter rules), single-key lookups, and the history scan that feeds watchers.
// Inside a write transaction the same reader sees that transaction's own writes.

import { type RangeRequest, withRangeDefaults } from './commands.js';
import { CompactedError, CorruptStoreError, FutureRevisionError } from './errors.js';
import {
  type KeyRange,
  type Revision,
  bytesEqual,
  compareBytes,
  compareRevisions,
  decodeRevisionKey,
  indexKey,
  indexKeyEnd,
  indexKeyGroup,
  indexKeyPrefix,
  indexKeyRevision,
  keyRange,
  revisionKey,
} from './keyspace.js';
import type { EventType, KeyValue, RangeResponse, WatchEvent } from './responses.js';
import { EMPTY_BYTES, INDEX_TOMBSTONE, type MvccTables, type RevisionRecord, decodeRecord } from './tables.js';

/** How a range is read, beyond etcd's request. */
export interface RangeOptions {
  /**
   * Stop after the limit (plus one, for `more`) instead of counting every key in the range: the
   * response's count is then only the keys read. For pages of a list, which need `more`, not the
   * total; counting makes each page cost the whole rest of the range, and a list quadratic.
   */
  readonly skipCount?: boolean;
}

/** The revisions a read is checked against. */
export interface RevisionBounds {
  readonly currentRevision: number;
  readonly compactRevision: number;
}

/** A slice of history for a watcher; every revision below nextRevision has been considered. */
export interface HistoryBatch {
  readonly events: readonly WatchEvent[];
  readonly nextRevision: number;
}

export interface HistoryQuery {
  readonly fromRevision: number;
  /** Inclusive. */
  readonly toRevision: number;
  readonly accept: (key: Uint8Array, type: EventType) => boolean;
  readonly prevKv: boolean;
  /** Stop before a revision whose events would take the batch past this (the first revision always fits). */
  readonly maxEvents: number;
  /** Stop at the first revision boundary after reading this many history records. */
  readonly maxScanned: number;
}

export function toKeyValue(record: RevisionRecord & { tombstone: false }, modRevision: number): KeyValue {
  return {
    key: record.key,
    createRevision: record.createRevision,
    modRevision,
    version: record.version,
    value: record.value,
    lease: record.lease,
  };
}

/** etcd's tombstone event kv: only the key and the deletion's revision. */
export function tombstoneKeyValue(key: Uint8Array, modRevision: number): KeyValue {
  return { key, createRevision: 0, modRevision, version: 0, value: EMPTY_BYTES, lease: 0 };
}

export class MvccReader {
  constructor(private readonly tables: MvccTables) {}

  /** The record stored at a revision key (12 bytes); it must exist. */
  private record(revKey: Uint8Array): { record: RevisionRecord; revision: Revision } {
    const revision = decodeRevisionKey(revKey);
    const bytes = this.tables.revisions.get(revKey);
    if (bytes === undefined) throw new CorruptStoreError(`mvcc.revisions: missing record ${revision.main}.${revision.sub}`);
    return { record: decodeRecord(bytes, revision), revision };
  }

  /** The live key-value behind a revision key taken from `current` or from a put in `keyIndex`. */
  keyValueAt(revKey: Uint8Array): KeyValue {
    const { record, revision } = this.record(revKey);
    if (record.tombstone) throw new CorruptStoreError(`mvcc.revisions: ${revision.main}.${revision.sub} is a tombstone`);
    return toKeyValue(record, revision.main);
  }

  /** The key's live version, or undefined when it does not exist. */
  latest(key: Uint8Array): KeyValue | undefined {
    const revKey = this.tables.current.get(key);
    return revKey === undefined ? undefined : this.keyValueAt(revKey);
  }

  /** Revision keys of the live versions in a range, in key order. */
  *liveRevisions(range: KeyRange): Generator<Uint8Array> {
    if (range.kind === 'single') {
      const revKey = this.tables.current.get(range.key);
      if (revKey !== undefined) yield revKey;
      return;
    }
    if (range.kind === 'interval' && compareBytes(range.key, range.end) >= 0) return;
    const end = range.kind === 'interval' ? range.end : undefined;
    for (const entry of this.tables.current.getRange({ start: range.key, end })) yield entry.value;
  }

  /**
   * Revision keys of the versions live at `revision` in a range, in key order: for each key, its
   * newest history entry at or before the revision, unless that entry is a tombstone.
   */
  *revisionsAt(range: KeyRange, revision: number): Generator<Uint8Array> {
    let start: Uint8Array;
    let end: Uint8Array | undefined;
    switch (range.kind) {
      case 'single':
        start = indexKeyPrefix(range.key);
        end = indexKeyEnd(range.key);
        break;
      case 'fromKey':
        start = indexKeyPrefix(range.key);
        break;
      case 'interval':
        if (compareBytes(range.key, range.end) >= 0) return;
        start = indexKeyPrefix(range.key);
        end = indexKeyPrefix(range.end);
        break;
    }
    let group: Uint8Array | undefined;
    let best: { revision: Revision; tombstone: boolean } | undefined;
    for (const entry of this.tables.keyIndex.getRange({ start, end })) {
      const entryGroup = indexKeyGroup(entry.key);
      if (group === undefined || !bytesEqual(group, entryGroup)) {
        if (best !== undefined && !best.tombstone) yield revisionKey(best.revision.main, best.revision.sub);
        group = entryGroup;
        best = undefined;
      }
      const entryRevision = indexKeyRevision(entry.key);
      // Entries of a key ascend, so the last one at or before the revision wins.
      if (entryRevision.main <= revision) {
        best = { revision: entryRevision, tombstone: bytesEqual(entry.value, INDEX_TOMBSTONE) };
      }
    }
    if (best !== undefined && !best.tombstone) yield revisionKey(best.revision.main, best.revision.sub);
  }

  /** The live key-values in a range at the current state, in key order (compare and delete use this). */
  liveKeyValues(range: KeyRange): KeyValue[] {
    const kvs: KeyValue[] = [];
    for (const revKey of this.liveRevisions(range)) kvs.push(this.keyValueAt(revKey));
    return kvs;
  }

  /** etcd's Range, served at `bounds` (inside a txn, the txn's own revision). */
  range(rangeRequest: RangeRequest, bounds: RevisionBounds, options: RangeOptions = {}): RangeResponse {
    const request = withRangeDefaults(rangeRequest);
    const revision = request.revision > 0 ? request.revision : bounds.currentRevision;
    if (revision > bounds.currentRevision) throw new FutureRevisionError(revision, bounds.currentRevision);
    if (revision < bounds.compactRevision) throw new CompactedError(revision, bounds.compactRevision);

    const range = keyRange(request.key, request.rangeEnd);
    const revKeys =
      revision === bounds.currentRevision ? this.liveRevisions(range) : this.revisionsAt(range, revision);
    const header = { type: 'range', revision: bounds.currentRevision } as const;
    if (request.countOnly) {
      let count = 0;
      for (const _ of revKeys) count++;
      return { ...header, kvs: [], count, more: false };
    }

    // etcd (apply.go Range): sorting other than by ascending key, or any min/max filter, needs every
    // key-value; otherwise one more than the limit tells whether there is more.
    const sortOrder = effectiveSortOrder(request);
    const filtered =
      request.minModRevision > 0 ||
      request.maxModRevision > 0 ||
      request.minCreateRevision > 0 ||
      request.maxCreateRevision > 0;
    const fetchLimit = sortOrder !== 'none' || filtered || request.limit === 0 ? Infinity : request.limit + 1;
    let count = 0;
    let kvs: KeyValue[] = [];
    const stopAtLimit = options.skipCount === true && Number.isFinite(fetchLimit);
    for (const revKey of revKeys) {
      if (stopAtLimit && kvs.length >= fetchLimit) break;
      count++;
      if (kvs.length < fetchLimit) kvs.push(this.keyValueAt(revKey));
    }
    if (filtered) kvs = kvs.filter((kv) => passesFilters(kv, request));
    if (sortOrder !== 'none') sortKeyValues(kvs, request.sortTarget, sortOrder);
    let more = false;
    if (request.limit > 0 && kvs.length > request.limit) {
      kvs = kvs.slice(0, request.limit);
      more = true;
    }
    if (request.keysOnly) kvs = kvs.map((kv) => ({ ...kv, value: EMPTY_BYTES }));
    return { ...header, kvs, count, more };
  }

  /** The key's version just before `revision`, or undefined if it did not exist then. */
  prevKeyValue(key: Uint8Array, revision: Revision): KeyValue | undefined {
    const entries = this.tables.keyIndex.getRange({
      start: indexKey(key, revision.main, revision.sub),
      end: indexKeyPrefix(key),
      reverse: true,
      limit: 2,
    });
    for (const entry of entries) {
      const entryRevision = indexKeyRevision(entry.key);
      if (compareRevisions(entryRevision, revision) >= 0) continue;
      if (bytesEqual(entry.value, INDEX_TOMBSTONE)) return undefined;
      return this.keyValueAt(revisionKey(entryRevision.main, entryRevision.sub));
    }
    return undefined;
  }

  /**
   * Events of the history from fromRevision, whole revisions at a time. The caller checks that
   * fromRevision is past the compact revision (earlier history is incomplete).
   */
  readEvents(query: HistoryQuery): HistoryBatch {
    const events: WatchEvent[] = [];
    let group: WatchEvent[] = [];
    let groupMain = -1;
    let scanned = 0;
    const admitGroup = (): boolean => {
      if (events.length > 0 && events.length + group.length > query.maxEvents) return false;
      for (const event of group) events.push(event);
      group = [];
      return true;
    };
    const entries = this.tables.revisions.getRange({
      start: revisionKey(query.fromRevision, 0),
      end: revisionKey(query.toRevision + 1, 0),
    });
    for (const entry of entries) {
      const revision = decodeRevisionKey(entry.key);
      if (revision.main !== groupMain) {
        if (groupMain !== -1) {
          if (!admitGroup()) return { events, nextRevision: groupMain };
          if (scanned >= query.maxScanned) return { events, nextRevision: revision.main };
        }
        groupMain = revision.main;
      }
      scanned++;
      const record = decodeRecord(entry.value, revision);
      const type: EventType = record.tombstone ? 'delete' : 'put';
      if (!query.accept(record.key, type)) continue;
      const kv = record.tombstone ? tombstoneKeyValue(record.key, revision.main) : toKeyValue(record, revision.main);
      const prevKv = query.prevKv ? this.prevKeyValue(record.key, revision) : undefined;
      group.push(prevKv === undefined ? { type, kv } : { type, kv, prevKv });
    }
    if (groupMain !== -1 && !admitGroup()) return { events, nextRevision: groupMain };
    return { events, nextRevision: query.toRevision + 1 };
  }
}

/**
 * etcd sorts ascending by default when the target is not the key, and skips sorting ascending by
 * key because ranges already come in key order.
 */
function effectiveSortOrder(request: Required<RangeRequest>): 'none' | 'ascend' | 'descend' {
  if (request.sortTarget !== 'key' && request.sortOrder === 'none') return 'ascend';
  if (request.sortTarget === 'key' && request.sortOrder === 'ascend') return 'none';
  return request.sortOrder;
}

function passesFilters(kv: KeyValue, request: Required<RangeRequest>): boolean {
  if (request.maxModRevision > 0 && kv.modRevision > request.maxModRevision) return false;
  if (request.minModRevision > 0 && kv.modRevision < request.minModRevision) return false;
  if (request.maxCreateRevision > 0 && kv.createRevision > request.maxCreateRevision) return false;
  if (request.minCreateRevision > 0 && kv.createRevision < request.minCreateRevision) return false;
  return true;
}

/** A stable sort of key-ordered input, so ties stay in key order on every master. */
function sortKeyValues(kvs: KeyValue[], target: Required<RangeRequest>['sortTarget'], order: 'ascend' | 'descend'): void {
  const sign = order === 'ascend' ? 1 : -1;
  const byTarget = (a: KeyValue, b: KeyValue): number => {
    switch (target) {
      case 'key':
        return compareBytes(a.key, b.key);
      case 'version':
        return a.version - b.version;
      case 'create':
        return a.createRevision - b.createRevision;
      case 'mod':
        return a.modRevision - b.modRevision;
      case 'value':
        return compareBytes(a.value, b.value);
    }
  };
  kvs.sort((a, b) => sign * byTarget(a, b));
}
