import { describe, expect, it } from 'vitest';
import { EntryType, entrySize, type Entry } from '../core/types.js';
import { TailCache } from './log-tail-cache.js';

const entry = (index: number, bytes: number): Entry => ({ term: 1, index, type: EntryType.Normal, data: new Uint8Array(bytes) });

/** The cache as a plain array, trimmed from the front the way the cache must trim. */
class Model {
  constructor(
    public start: number,
    public ents: Entry[],
    private readonly maxEntries: number,
    private readonly maxBytes: number,
  ) {}
  trim(): void {
    const bytes = (): number => this.ents.reduce((n, e) => n + entrySize(e), 0);
    while (this.ents.length > 0 && (this.ents.length > this.maxEntries || bytes() > this.maxBytes)) {
      this.ents.shift();
      this.start++;
    }
  }
}

function same(cache: TailCache, model: Model): void {
  expect(cache.start).toBe(model.start);
  expect(cache.end).toBe(model.start + model.ents.length);
  for (let i = model.start - 2; i < model.start + model.ents.length + 2; i++) {
    expect(cache.get(i)).toBe(model.ents[i - model.start]);
  }
}

describe('TailCache', () => {
  it('agrees with a plain array over random appends, truncations, compactions and abandoned versions', () => {
    let seed = 7;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const bounds = { maxEntries: 16, maxBytes: 24 * 16 + 200 };
    let cache = TailCache.empty(1, bounds);
    let model = new Model(1, [], bounds.maxEntries, bounds.maxBytes);
    for (let step = 0; step < 5_000; step++) {
      const op = rand(10);
      if (op < 6) {
        const n = 1 + rand(5);
        const added = Array.from({ length: n }, (_, i) => entry(cache.end + i, rand(3) === 0 ? rand(120) : 0));
        const next = cache.append(added);
        if (rand(5) === 0) {
          // A write that failed: its cache is dropped, and the old one must not have changed.
          same(cache, model);
          continue;
        }
        cache = next;
        model.ents.push(...added);
        model.trim();
      } else if (op < 8 && cache.end > cache.start) {
        const at = cache.start + rand(cache.end - cache.start + 1);
        cache = cache.truncateFrom(at);
        if (at <= model.start) model = new Model(at, [], bounds.maxEntries, bounds.maxBytes);
        else model.ents = model.ents.slice(0, at - model.start);
      } else if (cache.end > cache.start) {
        const through = cache.start - 1 + rand(cache.end - cache.start + 2);
        cache = cache.dropThrough(through);
        if (through >= model.start + model.ents.length) model = new Model(through + 1, [], bounds.maxEntries, bounds.maxBytes);
        else if (through >= model.start) {
          model.ents = model.ents.slice(through + 1 - model.start);
          model.start = through + 1;
        }
      }
      same(cache, model);
    }
  });

  it('keeps older versions intact while a newer one appends in place', () => {
    const bounds = { maxEntries: 100, maxBytes: 1 << 20 };
    const a = TailCache.of(1, [entry(1, 0), entry(2, 0)], bounds);
    const b = a.append([entry(3, 0)]);
    const c = b.append([entry(4, 0)]);
    expect([a.end, b.end, c.end]).toEqual([3, 4, 5]);
    expect(a.get(3)).toBeUndefined();
    // a appends again after b did: it must not see (or clobber) b's entry 3.
    const a2 = a.append([entry(3, 7)]);
    expect(a2.get(3)!.data.byteLength).toBe(7);
    expect(b.get(3)!.data.byteLength).toBe(0);
    expect(c.get(4)).toBeDefined();
  });

  it('trims by bytes as well as by count', () => {
    const cache = TailCache.of(1, [entry(1, 1000), entry(2, 10), entry(3, 10)], { maxEntries: 10, maxBytes: 100 });
    expect(cache.start).toBe(2);
    expect(cache.end).toBe(4);
  });
});
