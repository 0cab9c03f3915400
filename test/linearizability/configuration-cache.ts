// The memo table of the linearizability search (search.ts): which configurations it has reached,
// and sets of operations as bitsets. A configuration is (known operations linearized, unknown
// operations linearized, model state); one reached before prunes any with the same known set and
// state and a superset of its unknown set.

/** Approximate per-entry overhead of the cache besides its bitsets (object, array slot, Map entry). */
const CACHE_ENTRY_OVERHEAD_BYTES = 96;

/** A set of operation indexes (known or unknown ones, each numbered from 0 in a partition). */
export class OperationSet {
  private constructor(private readonly words: Uint32Array) {}

  static empty(size: number): OperationSet {
    return new OperationSet(new Uint32Array((size + 31) >>> 5));
  }

  has(index: number): boolean {
    return (((this.words[index >>> 5] ?? 0) >>> (index & 31)) & 1) === 1;
  }

  add(index: number): void {
    const w = index >>> 5;
    this.words[w] = (this.words[w] ?? 0) | (1 << (index & 31));
  }

  delete(index: number): void {
    const w = index >>> 5;
    this.words[w] = (this.words[w] ?? 0) & ~(1 << (index & 31));
  }

  equals(other: OperationSet): boolean {
    const a = this.words;
    const b = other.words;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }

  isSubsetOf(other: OperationSet): boolean {
    const a = this.words;
    const b = other.words;
    for (let i = 0; i < a.length; i++) {
      const w = a[i] ?? 0;
      if ((w & (b[i] ?? 0)) !== w) return false;
    }
    return true;
  }

  clone(): OperationSet {
    return new OperationSet(this.words.slice());
  }

  get byteLength(): number {
    return this.words.byteLength;
  }
}

/**
 * 'exploring' while the configuration is on the search path; then 'failed' (no completion), or
 * 'incomplete' if the limit on unknown operations cut its subtree (it may have one).
 */
export type ConfigurationStatus = 'exploring' | 'failed' | 'incomplete';

/** A configuration's unknown set and status; its known set and state are its group's. */
export interface Configuration {
  readonly unknown: OperationSet;
  status: ConfigurationStatus;
}

/** The configurations reached with one known set and state: they differ only in unknown sets. */
interface ConfigurationGroup<State> {
  readonly known: OperationSet;
  readonly state: State;
  members: Configuration[];
}

/** The configurations the search has reached, bucketed by a hash of (known set, state). */
export class ConfigurationCache<State> {
  private buckets = new Map<number, ConfigurationGroup<State>[]>();
  private bytes = 0;

  constructor(
    private readonly equal: (a: State, b: State) => boolean,
    private readonly maxBytes: number,
  ) {}

  /**
   * A configuration reached before that subsumes this one (same known set and state, a subset of
   * its unknown set), preferring one whose status is not 'incomplete'; null if none.
   */
  findSubsuming(hash: number, known: OperationSet, unknown: OperationSet, state: State): Configuration | null {
    const group = this.group(hash, known, state);
    if (group === undefined) return null;
    let incomplete: Configuration | null = null;
    for (const c of group.members) {
      if (!c.unknown.isSubsetOf(unknown)) continue;
      if (c.status !== 'incomplete') return c;
      incomplete = c;
    }
    return incomplete;
  }

  /** Remembers a configuration; null past the memory bound (pruning then merely weakens). */
  add(hash: number, known: OperationSet, unknown: OperationSet, state: State): Configuration | null {
    let group = this.group(hash, known, state);
    const cost = unknown.byteLength + CACHE_ENTRY_OVERHEAD_BYTES + (group === undefined ? known.byteLength : 0);
    if (this.bytes + cost > this.maxBytes) return null;
    this.bytes += cost;
    if (group === undefined) {
      group = { known: known.clone(), state, members: [] };
      const bucket = this.buckets.get(hash);
      if (bucket === undefined) this.buckets.set(hash, [group]);
      else bucket.push(group);
    }
    const configuration: Configuration = { unknown: unknown.clone(), status: 'exploring' };
    group.members.push(configuration);
    return configuration;
  }

  /** Between passes: only failures the limit did not cut short hold for any limit. */
  retainFailed(): void {
    const kept = new Map<number, ConfigurationGroup<State>[]>();
    this.bytes = 0;
    for (const [hash, bucket] of this.buckets) {
      const groups: ConfigurationGroup<State>[] = [];
      for (const group of bucket) {
        group.members = group.members.filter((c) => c.status === 'failed');
        if (group.members.length === 0) continue;
        groups.push(group);
        this.bytes += group.known.byteLength;
        for (const c of group.members) this.bytes += c.unknown.byteLength + CACHE_ENTRY_OVERHEAD_BYTES;
      }
      if (groups.length > 0) kept.set(hash, groups);
    }
    this.buckets = kept;
  }

  private group(hash: number, known: OperationSet, state: State): ConfigurationGroup<State> | undefined {
    return this.buckets.get(hash)?.find((g) => g.known.equals(known) && this.equal(g.state, state));
  }
}
