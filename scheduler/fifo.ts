// A first-in-first-out queue with removal by key, for activeQ's pods of one priority. Removal and
// replacement leave a stale entry behind that pop skips (an entry is live while the index still
// points at it); the array is compacted once half of it is behind the head.
//
// Why not a heap: every pod enters activeQ with timestamp = now, so within one priority the FIFO
// order is the insertion order, and a pop costs O(1) instead of O(log n) index updates.

export class KeyedFifo<T> {
  private items: T[] = [];
  private head = 0;
  private readonly index = new Map<string, T>();

  constructor(private readonly keyOf: (item: T) => string) {}

  get size(): number {
    return this.index.size;
  }

  has(key: string): boolean {
    return this.index.has(key);
  }

  get(key: string): T | undefined {
    return this.index.get(key);
  }

  /** Appends; an item with the same key already queued is replaced and moves to the back. */
  push(item: T): void {
    this.index.set(this.keyOf(item), item);
    this.items.push(item);
  }

  pop(): T | undefined {
    while (this.head < this.items.length) {
      const item = this.items[this.head++] as T;
      const key = this.keyOf(item);
      if (this.index.get(key) === item) {
        this.index.delete(key);
        this.compact();
        return item;
      }
    }
    this.compact();
    return undefined;
  }

  delete(key: string): T | undefined {
    const item = this.index.get(key);
    if (item !== undefined) this.index.delete(key);
    return item;
  }

  *values(): IterableIterator<T> {
    yield* this.index.values();
  }

  private compact(): void {
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 1_024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}

/** Highest priority first; FIFO within a priority. */
export class PriorityFifo<T> {
  private readonly buckets = new Map<number, KeyedFifo<T>>();
  /** Priorities with a bucket, highest first. */
  private priorities: number[] = [];
  private readonly priorityOf = new Map<string, number>();

  constructor(
    private readonly keyOf: (item: T) => string,
    private readonly priority: (item: T) => number,
  ) {}

  get size(): number {
    return this.priorityOf.size;
  }

  has(key: string): boolean {
    return this.priorityOf.has(key);
  }

  get(key: string): T | undefined {
    const p = this.priorityOf.get(key);
    return p === undefined ? undefined : this.buckets.get(p)?.get(key);
  }

  push(item: T): void {
    const key = this.keyOf(item);
    const p = this.priority(item);
    const old = this.priorityOf.get(key);
    if (old !== undefined && old !== p) this.buckets.get(old)?.delete(key);
    let bucket = this.buckets.get(p);
    if (bucket === undefined) {
      bucket = new KeyedFifo(this.keyOf);
      this.buckets.set(p, bucket);
      this.priorities.push(p);
      this.priorities.sort((a, b) => b - a);
    }
    bucket.push(item);
    this.priorityOf.set(key, p);
  }

  pop(): T | undefined {
    for (const p of this.priorities) {
      const item = this.buckets.get(p)?.pop();
      if (item !== undefined) {
        this.priorityOf.delete(this.keyOf(item));
        return item;
      }
    }
    return undefined;
  }

  delete(key: string): T | undefined {
    const p = this.priorityOf.get(key);
    if (p === undefined) return undefined;
    this.priorityOf.delete(key);
    return this.buckets.get(p)?.delete(key);
  }
}
