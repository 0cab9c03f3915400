// The cache's recent history: a fixed-capacity ring of changes in revision order, so a watcher can
// resume from a recent resourceVersion without the store.
//
// Invariant: every change with a revision above `floor` is in the ring. Evicting the oldest change
// raises floor to its revision, so a revision whose changes are partly evicted is below the floor
// and nobody resumes into the middle of it.

import type { ApiObject } from '../../proto/api/object.js';
import type { CacheChange } from './events.js';

export class EventRing<T extends ApiObject> {
  private readonly slots: (CacheChange<T> | undefined)[];
  /** Slot of the oldest change. */
  private start = 0;
  private length = 0;
  private floor_: number;

  constructor(
    readonly capacity: number,
    floor: number,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`ring capacity ${capacity} is not a positive integer`);
    this.slots = new Array<CacheChange<T> | undefined>(capacity);
    this.floor_ = floor;
  }

  /** A watch from any revision >= floor can be served from the ring. */
  get floor(): number {
    return this.floor_;
  }

  get size(): number {
    return this.length;
  }

  push(change: CacheChange<T>): void {
    if (this.length === this.capacity) {
      const evicted = this.slots[this.start]!;
      this.floor_ = Math.max(this.floor_, evicted.revision);
      this.slots[this.start] = change;
      this.start = (this.start + 1) % this.capacity;
      return;
    }
    this.slots[(this.start + this.length) % this.capacity] = change;
    this.length++;
  }

  private at(i: number): CacheChange<T> {
    return this.slots[(this.start + i) % this.capacity]!;
  }

  /** The changes with a revision above `revision`, oldest first. Requires revision >= floor. */
  after(revision: number): CacheChange<T>[] {
    let lo = 0;
    let hi = this.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.at(mid).revision <= revision) lo = mid + 1;
      else hi = mid;
    }
    const changes: CacheChange<T>[] = [];
    for (let i = lo; i < this.length; i++) changes.push(this.at(i));
    return changes;
  }
}
