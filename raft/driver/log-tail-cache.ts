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
 * followers that are nearly caught up) skip LMDB and decoding. Immutable: a write builds a new one
 * and installs it only once its transaction commits.
 * Invariant: contiguous from `start`; at most bounds.maxEntries entries and bounds.maxBytes bytes
 * (by entrySize), possibly none.
 */
export class TailCache {
  private constructor(
    readonly start: number,
    private readonly ents: readonly Entry[],
    private readonly bounds: TailCacheBounds,
  ) {}

  static empty(start: number, bounds: TailCacheBounds): TailCache {
    return new TailCache(start, [], bounds);
  }

  /** Entries already verified, contiguous from start; trimmed from the front to the bounds. */
  static of(start: number, ents: readonly Entry[], bounds: TailCacheBounds): TailCache {
    let bytes = 0;
    for (const e of ents) bytes += entrySize(e);
    let drop = 0;
    while (drop < ents.length && (ents.length - drop > bounds.maxEntries || bytes > bounds.maxBytes)) {
      bytes -= entrySize(ents[drop]!);
      drop++;
    }
    return new TailCache(start + drop, drop === 0 ? ents : ents.slice(drop), bounds);
  }

  /** One past the newest cached index. */
  get end(): number {
    return this.start + this.ents.length;
  }

  get(i: number): Entry | undefined {
    return i >= this.start && i < this.end ? this.ents[i - this.start] : undefined;
  }

  /** Drops entries at and after `index`. */
  truncateFrom(index: number): TailCache {
    if (index >= this.end) return this;
    if (index <= this.start) return TailCache.empty(index, this.bounds);
    return TailCache.of(this.start, this.ents.slice(0, index - this.start), this.bounds);
  }

  /** Precondition: entries are contiguous from this.end. */
  append(entries: readonly Entry[]): TailCache {
    return TailCache.of(this.start, [...this.ents, ...entries], this.bounds);
  }

  /** Drops entries at and before `index` (compaction). */
  dropThrough(index: number): TailCache {
    if (index < this.start) return this;
    if (index >= this.end) return TailCache.empty(index + 1, this.bounds);
    return TailCache.of(index + 1, this.ents.slice(index + 1 - this.start), this.bounds);
  }
}
