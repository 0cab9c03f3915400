// The newest entries of the Raft log, held in memory by the LMDB storage (see lmdb-storage.ts).

import { entrySize, type Entry } from '../core/types.js';

/**
 * Bounds of the in-memory tail cache, whichever is hit first. A follower lagging by fewer than
 * TAIL_CACHE_MAX_ENTRIES entries is replicated to from memory; TAIL_CACHE_MAX_BYTES caps what that
 * costs when entries are large. Older entries are read (and verified) from LMDB.
 */
export const TAIL_CACHE_MAX_ENTRIES = 4096;
export const TAIL_CACHE_MAX_BYTES = 16 * 1024 * 1024;

export interface TailCacheBounds {
  readonly maxEntries: number;
  readonly maxBytes: number;
}

/**
 * The newest entries of the log, so the core's hot reads (term() near the end, entries() for
 * followers that are nearly caught up) skip LMDB and decoding. Immutable as seen from outside: a
 * write builds a new one and installs it only once its transaction commits.
 *
 * Appending costs what is appended, not what is cached: caches share a backing array, and the cache
 * whose window ends at the array's end (the newest) appends in place. An older cache never sees
 * those entries (its window ends before them); one that appends after a newer one did (a failed
 * write's cache was dropped, or a truncation) copies its window first.
 * Invariant: the window ents[offset, offset + length) is contiguous from `start`; at most
 * bounds.maxEntries entries and bounds.maxBytes bytes (by entrySize, summed in `bytes`).
 */
export class TailCache {
  private constructor(
    readonly start: number,
    private readonly ents: Entry[],
    private readonly offset: number,
    private readonly length: number,
    private readonly bytes: number,
    private readonly bounds: TailCacheBounds,
  ) {}

  static empty(start: number, bounds: TailCacheBounds): TailCache {
    return new TailCache(start, [], 0, 0, 0, bounds);
  }

  /** Entries already verified, contiguous from start; trimmed from the front to the bounds. */
  static of(start: number, ents: readonly Entry[], bounds: TailCacheBounds): TailCache {
    return TailCache.empty(start, bounds).append(ents);
  }

  /** One past the newest cached index. */
  get end(): number {
    return this.start + this.length;
  }

  get(i: number): Entry | undefined {
    return i >= this.start && i < this.end ? this.ents[this.offset + i - this.start] : undefined;
  }

  /** Drops entries at and after `index`. */
  truncateFrom(index: number): TailCache {
    if (index >= this.end) return this;
    if (index <= this.start) return TailCache.empty(index, this.bounds);
    const keep = index - this.start;
    let bytes = this.bytes;
    for (let i = keep; i < this.length; i++) bytes -= entrySize(this.ents[this.offset + i]!);
    return new TailCache(this.start, this.ents, this.offset, keep, bytes, this.bounds);
  }

  /** Precondition: entries are contiguous from this.end. */
  append(entries: readonly Entry[]): TailCache {
    if (entries.length === 0) return this;
    let ents = this.ents;
    let offset = this.offset;
    if (offset + this.length !== ents.length || offset > this.bounds.maxEntries) {
      // Not the newest cache over this array (or its dropped front has grown large): copy the window.
      ents = ents.slice(offset, offset + this.length);
      offset = 0;
    }
    let length = this.length;
    let bytes = this.bytes;
    let start = this.start;
    for (const e of entries) {
      ents.push(e);
      length++;
      bytes += entrySize(e);
    }
    while (length > 0 && (length > this.bounds.maxEntries || bytes > this.bounds.maxBytes)) {
      bytes -= entrySize(ents[offset]!);
      offset++;
      start++;
      length--;
    }
    return new TailCache(start, ents, offset, length, bytes, this.bounds);
  }

  /** Drops entries at and before `index` (compaction). */
  dropThrough(index: number): TailCache {
    if (index < this.start) return this;
    if (index >= this.end) return TailCache.empty(index + 1, this.bounds);
    const drop = index + 1 - this.start;
    let bytes = this.bytes;
    for (let i = 0; i < drop; i++) bytes -= entrySize(this.ents[this.offset + i]!);
    return new TailCache(index + 1, this.ents, this.offset + drop, this.length - drop, bytes, this.bounds);
  }
}
