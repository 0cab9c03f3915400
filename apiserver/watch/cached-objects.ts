// The current objects of a watch cache, by key, with one inverted index per configured index
// (value → keys), so a node agent's list of its own pods costs O(its pods), not O(all pods).

import type { ApiObject } from '../../proto/api/object.js';
import { type CachedObject, type CompiledFilter, filterMatches } from './events.js';

export class CachedObjects<T extends ApiObject> {
  private readonly objects = new Map<string, CachedObject<T>>();
  /** Every key, sorted; rebuilt on demand after a key comes or goes (not when one changes). */
  private sortedKeys: string[] | undefined;
  /** Per index position: value → keys of the objects with that value. */
  private readonly indexes: Map<string, Set<string>>[];

  constructor(indexCount: number) {
    this.indexes = Array.from({ length: indexCount }, () => new Map<string, Set<string>>());
  }

  get size(): number {
    return this.objects.size;
  }

  get(key: string): CachedObject<T> | undefined {
    return this.objects.get(key);
  }

  clear(): void {
    this.objects.clear();
    this.sortedKeys = undefined;
    for (const index of this.indexes) index.clear();
  }

  /** Stores `current`, replacing `previous` (the version held for the same key, if any). */
  set(current: CachedObject<T>, previous: CachedObject<T> | undefined): void {
    if (previous !== undefined) this.unindex(previous);
    else this.sortedKeys = undefined;
    this.objects.set(current.key, current);
    current.indexValues.forEach((value, i) => {
      if (value === undefined) return;
      const index = this.indexes[i]!;
      let keys = index.get(value);
      if (keys === undefined) index.set(value, (keys = new Set()));
      keys.add(current.key);
    });
  }

  delete(previous: CachedObject<T>): void {
    this.unindex(previous);
    this.objects.delete(previous.key);
    this.sortedKeys = undefined;
  }

  private unindex(previous: CachedObject<T>): void {
    previous.indexValues.forEach((value, i) => {
      if (value === undefined) return;
      const index = this.indexes[i]!;
      const keys = index.get(value);
      keys?.delete(previous.key);
      if (keys?.size === 0) index.delete(value);
    });
  }

  /** The objects matching `filter`, in key order. */
  matching(filter: CompiledFilter): CachedObject<T>[] {
    let keys: readonly string[];
    if (filter.indexPosition >= 0) {
      keys = [...(this.indexes[filter.indexPosition]!.get(filter.indexValue) ?? [])].sort();
    } else {
      this.sortedKeys ??= [...this.objects.keys()].sort();
      keys = this.sortedKeys;
    }
    const matching: CachedObject<T>[] = [];
    for (const key of keys) {
      const cached = this.objects.get(key)!;
      if (filterMatches(filter, cached)) matching.push(cached);
    }
    return matching;
  }
}
