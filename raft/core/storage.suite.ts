// The Storage contract, as one suite every implementation runs (MemoryStorage here, LmdbStorage in
// raft/driver). Semantics follow etcd-io/raft's storage_test.go: a dummy head entry at the
// compaction point, CompactedError below it, UnavailableError past the end, and entries() always
// returning at least one entry when the range is not empty.
//
// When the fixture can reopen its storage, every test also checks its final state after a reopen:
// whatever a write method returned from must have been persisted.

import { afterEach, describe, expect, it } from 'vitest';

import { CompactedError, RaftInvariantError, SnapshotDataInStateMachineError, SnapshotOutOfDateError, UnavailableError } from './errors.js';
import { EMPTY_CONF_STATE, SnapshotDataLocation, type WritableStorage } from './storage.js';
import {
  EMPTY_HARD_STATE,
  EntryType,
  entrySize,
  limitSize,
  type ConfState,
  type Entry,
  type HardState,
  type Snapshot,
} from './types.js';

export interface StorageFixture {
  readonly storage: WritableStorage;
  /** Closes the storage and opens the same durable state again; absent for in-memory storages. */
  readonly reopen?: () => Promise<WritableStorage>;
  /** Releases everything the fixture opened, including storages returned by reopen. */
  readonly cleanup: () => Promise<void>;
}

export function entry(index: number, term: number, data: string | Uint8Array = `e${index}`, type: EntryType = EntryType.Normal): Entry {
  return { index, term, type, data: typeof data === 'string' ? new TextEncoder().encode(data) : data };
}

/** Entries from `first` on, one per term given. */
export function entriesWithTerms(first: number, terms: readonly number[]): Entry[] {
  return terms.map((term, k) => entry(first + k, term));
}

/** Comparable form: implementations may return Buffers or views, which toEqual treats differently. */
export function plainEntries(entries: readonly Entry[]): { index: number; term: number; type: number; data: number[] }[] {
  return entries.map((e) => ({ index: e.index, term: e.term, type: e.type, data: Array.from(e.data) }));
}

function plainSnapshot(s: Snapshot): { index: number; term: number; confState: ConfState; data: number[] } {
  return {
    index: s.metadata.index,
    term: s.metadata.term,
    confState: { voters: [...s.metadata.confState.voters], learners: [...s.metadata.confState.learners] },
    data: Array.from(s.data),
  };
}

/** The state a Storage exposes, read through its public interface only. */
function observe(s: WritableStorage): unknown {
  const first = s.firstIndex();
  const last = s.lastIndex();
  return {
    firstIndex: first,
    lastIndex: last,
    headTerm: s.term(first - 1),
    entries: plainEntries(s.entries(first, last + 1, Number.POSITIVE_INFINITY)),
    initialState: s.initialState(),
    recordedSnapshot: s.recordedSnapshot(),
    snapshot: s.recordedSnapshot().dataLocation === SnapshotDataLocation.Inline ? plainSnapshot(s.snapshot()) : 'in the state machine',
  };
}

function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

export function storageSuite(name: string, makeStorage: () => Promise<StorageFixture>): void {
  describe(`Storage contract: ${name}`, () => {
    let fixture: StorageFixture | undefined;
    let storage: WritableStorage;

    async function setUp(): Promise<WritableStorage> {
      fixture = await makeStorage();
      storage = fixture.storage;
      return storage;
    }

    /** Runs `check` on the live storage, then again on a reopened one when the fixture can reopen. */
    async function checkDurably(check: (s: WritableStorage) => void): Promise<void> {
      check(storage);
      const before = observe(storage);
      if (fixture?.reopen === undefined) return;
      storage = await fixture.reopen();
      expect(observe(storage)).toEqual(before);
      check(storage);
    }

    afterEach(async () => {
      await fixture?.cleanup();
      fixture = undefined;
    });

    describe('initial state', () => {
      it('is an empty log after a dummy entry at index 0, term 0', async () => {
        await setUp();
        await checkDurably((s2) => {
          expect(s2.firstIndex()).toBe(1);
          expect(s2.lastIndex()).toBe(0);
          expect(s2.term(0)).toBe(0);
          expect(s2.entries(1, 1, Number.POSITIVE_INFINITY)).toEqual([]);
          expect(s2.initialState()).toEqual({ hardState: EMPTY_HARD_STATE, confState: EMPTY_CONF_STATE });
          expect(plainSnapshot(s2.snapshot())).toEqual({ index: 0, term: 0, confState: EMPTY_CONF_STATE, data: [] });
          expect(() => s2.term(1)).toThrow(UnavailableError);
          expect(() => s2.entries(0, 1, 100)).toThrow(CompactedError);
          expect(() => s2.entries(1, 2, 100)).toThrow(UnavailableError);
        });
      });
    });

    describe('append', () => {
      it('appends contiguous entries and serves them back', async () => {
        const s = await setUp();
        s.append(entriesWithTerms(1, [1, 1, 2]));
        s.append([entry(4, 2)]);
        s.append([]);
        await checkDurably((s2) => {
          expect(s2.firstIndex()).toBe(1);
          expect(s2.lastIndex()).toBe(4);
          expect(plainEntries(s2.entries(1, 5, Number.POSITIVE_INFINITY))).toEqual(plainEntries(entriesWithTerms(1, [1, 1, 2, 2])));
          expect([0, 1, 2, 3, 4].map((i) => s2.term(i))).toEqual([0, 1, 1, 2, 2]);
        });
      });

      it('keeps entry types and arbitrary bytes, including empty data', async () => {
        const s = await setUp();
        const binary = new Uint8Array([0, 255, 0, 1, 128, 0]);
        const big = new Uint8Array(70_000).map((_, k) => (k * 31) & 0xff);
        const written = [entry(1, 1, new Uint8Array(0)), entry(2, 1, binary, EntryType.ConfChange), entry(3, 2, big)];
        s.append(written);
        await checkDurably((s2) => {
          const read = s2.entries(1, 4, Number.POSITIVE_INFINITY);
          expect(read.map((e) => e.type)).toEqual([EntryType.Normal, EntryType.ConfChange, EntryType.Normal]);
          expect(Array.from(read[0]!.data)).toEqual([]);
          expect(Array.from(read[1]!.data)).toEqual([0, 255, 0, 1, 128, 0]);
          expect(Buffer.from(read[2]!.data).equals(Buffer.from(big))).toBe(true);
        });
      });

      it('overwrites a conflicting suffix, dropping entries past the new end', async () => {
        const s = await setUp();
        s.append(entriesWithTerms(1, [1, 1, 1, 1, 1]));
        s.append([entry(3, 2, 'new3'), entry(4, 2, 'new4')]);
        await checkDurably((s2) => {
          expect(s2.lastIndex()).toBe(4);
          expect(plainEntries(s2.entries(1, 5, Number.POSITIVE_INFINITY))).toEqual(
            plainEntries([entry(1, 1), entry(2, 1), entry(3, 2, 'new3'), entry(4, 2, 'new4')]),
          );
          expect(() => s2.term(5)).toThrow(UnavailableError);
          expect(() => s2.entries(1, 6, Number.POSITIVE_INFINITY)).toThrow(UnavailableError);
        });
      });

      it('overwrites a suffix with a longer one', async () => {
        const s = await setUp();
        s.append(entriesWithTerms(1, [1, 1, 1]));
        s.append(entriesWithTerms(2, [2, 2, 2, 3, 3]));
        await checkDurably((s2) => {
          expect(s2.lastIndex()).toBe(6);
          expect([1, 2, 3, 4, 5, 6].map((i) => s2.term(i))).toEqual([1, 2, 2, 2, 3, 3]);
        });
      });

      it('overwrites from the very first index', async () => {
        const s = await setUp();
        s.append(entriesWithTerms(1, [1, 1, 1]));
        s.append([entry(1, 2, 'x')]);
        await checkDurably((s2) => {
          expect(s2.lastIndex()).toBe(1);
          expect(plainEntries(s2.entries(1, 2, Number.POSITIVE_INFINITY))).toEqual(plainEntries([entry(1, 2, 'x')]));
        });
      });

      it('rejects a gap and leaves the log unchanged', async () => {
        const s = await setUp();
        s.append(entriesWithTerms(1, [1, 1, 1]));
        expect(() => s.append([entry(5, 1)])).toThrow(RaftInvariantError);
        await checkDurably((s2) => {
          expect(s2.lastIndex()).toBe(3);
          expect(plainEntries(s2.entries(1, 4, Number.POSITIVE_INFINITY))).toEqual(plainEntries(entriesWithTerms(1, [1, 1, 1])));
        });
      });

      it('drops the part of an append that is already compacted', async () => {
        const s = await setUp();
        s.append(entriesWithTerms(1, [1, 1, 1, 1, 1]));
        s.compact(3);
        s.append([entry(2, 1, 'old2'), entry(3, 1, 'old3'), entry(4, 2, 'n4'), entry(5, 2, 'n5'), entry(6, 2, 'n6')]);
        await checkDurably((s2) => {
          expect(s2.firstIndex()).toBe(4);
          expect(s2.lastIndex()).toBe(6);
          expect(s2.term(3)).toBe(1);
          expect(plainEntries(s2.entries(4, 7, Number.POSITIVE_INFINITY))).toEqual(
            plainEntries([entry(4, 2, 'n4'), entry(5, 2, 'n5'), entry(6, 2, 'n6')]),
          );
        });
      });

      it('ignores an append that is entirely compacted', async () => {
        const s = await setUp();
        s.append(entriesWithTerms(1, [1, 1, 1, 1]));
        s.compact(3);
        s.append([entry(1, 1, 'x'), entry(2, 1, 'y')]);
        await checkDurably((s2) => {
          expect(s2.firstIndex()).toBe(4);
          expect(s2.lastIndex()).toBe(4);
          expect(plainEntries(s2.entries(4, 5, Number.POSITIVE_INFINITY))).toEqual(plainEntries([entry(4, 1)]));
        });
      });
    });

    describe('entries', () => {
      const terms = [1, 1, 2, 2, 3, 3, 3];
      const all = entriesWithTerms(1, terms).map((e, k) => ({ ...e, data: new Uint8Array(10 * (k + 1)) }));

      it('limits the total size but always returns at least one entry', async () => {
        const s = await setUp();
        s.append(all);
        await checkDurably((s2) => {
          const s1 = entrySize(all[0]!);
          const s12 = s1 + entrySize(all[1]!);
          expect(s2.entries(1, 8, 0)).toHaveLength(1);
          expect(s2.entries(1, 8, s1 - 1)).toHaveLength(1);
          expect(s2.entries(1, 8, s1)).toHaveLength(1);
          expect(s2.entries(1, 8, s12 - 1)).toHaveLength(1);
          expect(s2.entries(1, 8, s12)).toHaveLength(2);
          expect(s2.entries(5, 8, 0)).toHaveLength(1);
          for (const lo of [1, 3, 6]) {
            for (const hi of [lo + 1, 8]) {
              for (const max of [0, 1, 40, 100, 200, 1_000, Number.POSITIVE_INFINITY]) {
                expect(plainEntries(s2.entries(lo, hi, max))).toEqual(plainEntries(limitSize(all.slice(lo - 1, hi - 1), max)));
              }
            }
          }
        });
      });

      it('returns nothing for an empty range', async () => {
        const s = await setUp();
        s.append(all);
        expect(s.entries(3, 3, Number.POSITIVE_INFINITY)).toEqual([]);
        expect(s.entries(8, 8, Number.POSITIVE_INFINITY)).toEqual([]);
      });

      it('throws CompactedError below firstIndex and UnavailableError past lastIndex + 1', async () => {
        const s = await setUp();
        s.append(all);
        s.compact(3);
        const compacted = thrown(() => s.entries(3, 5, 100));
        expect(compacted).toBeInstanceOf(CompactedError);
        expect(compacted).toMatchObject({ index: 3, firstIndex: 4 });
        const unavailable = thrown(() => s.entries(4, 9, 100));
        expect(unavailable).toBeInstanceOf(UnavailableError);
        expect(unavailable).toMatchObject({ index: 8, lastIndex: 7 });
        expect(plainEntries(s.entries(4, 8, Number.POSITIVE_INFINITY))).toEqual(plainEntries(all.slice(3)));
      });
    });

    describe('term', () => {
      it('answers from firstIndex - 1 through lastIndex, and throws outside', async () => {
        const s = await setUp();
        s.append(entriesWithTerms(1, [1, 1, 2, 2, 3]));
        s.compact(3);
        await checkDurably((s2) => {
          expect(s2.term(3)).toBe(2); // the dummy head keeps the compacted entry's term
          expect(s2.term(4)).toBe(2);
          expect(s2.term(5)).toBe(3);
          const compacted = thrown(() => s2.term(2));
          expect(compacted).toBeInstanceOf(CompactedError);
          expect(compacted).toMatchObject({ index: 2, firstIndex: 4 });
          const unavailable = thrown(() => s2.term(6));
          expect(unavailable).toBeInstanceOf(UnavailableError);
          expect(unavailable).toMatchObject({ index: 6, lastIndex: 5 });
        });
      });
    });

    describe('compact', () => {
      it('discards entries before the compaction index, keeping it as the dummy head', async () => {
        const s = await setUp();
        s.append(entriesWithTerms(1, [1, 1, 2, 2, 3]));
        s.compact(2);
        s.compact(4);
        await checkDurably((s2) => {
          expect(s2.firstIndex()).toBe(5);
          expect(s2.lastIndex()).toBe(5);
          expect(s2.term(4)).toBe(2);
          expect(plainEntries(s2.entries(5, 6, Number.POSITIVE_INFINITY))).toEqual(plainEntries([entry(5, 3)]));
          // compact does not touch the snapshot.
          expect(s2.snapshot().metadata.index).toBe(0);
        });
      });

      it('can compact the whole log, and appending continues after it', async () => {
        const s = await setUp();
        s.append(entriesWithTerms(1, [1, 2, 3]));
        s.compact(3);
        expect(s.firstIndex()).toBe(4);
        expect(s.lastIndex()).toBe(3);
        expect(s.entries(4, 4, 100)).toEqual([]);
        s.append([entry(4, 3)]);
        await checkDurably((s2) => {
          expect(s2.firstIndex()).toBe(4);
          expect(s2.lastIndex()).toBe(4);
          expect(s2.term(3)).toBe(3);
        });
      });

      it('rejects compacting at or before the head, or past the end', async () => {
        const s = await setUp();
        s.append(entriesWithTerms(1, [1, 1, 1]));
        s.compact(2);
        expect(thrown(() => s.compact(2))).toBeInstanceOf(CompactedError);
        expect(thrown(() => s.compact(1))).toMatchObject({ name: 'CompactedError', index: 1, firstIndex: 3 });
        expect(thrown(() => s.compact(4))).toMatchObject({ name: 'UnavailableError', index: 4, lastIndex: 3 });
        expect(s.firstIndex()).toBe(3);
      });
    });

    describe('createSnapshot', () => {
      const confState: ConfState = { voters: [1, 2, 3], learners: [4] };

      it('records a snapshot at an applied index without compacting the log', async () => {
        const s = await setUp();
        s.append(entriesWithTerms(1, [1, 1, 2, 2, 3]));
        const snap = s.createSnapshot(3, confState, new Uint8Array([9, 8, 7]));
        expect(plainSnapshot(snap)).toEqual({ index: 3, term: 2, confState, data: [9, 8, 7] });
        await checkDurably((s2) => {
          expect(plainSnapshot(s2.snapshot())).toEqual({ index: 3, term: 2, confState, data: [9, 8, 7] });
          expect(s2.initialState().confState).toEqual(confState);
          expect(s2.firstIndex()).toBe(1);
          expect(s2.lastIndex()).toBe(5);
        });
      });

      it('replaces an older snapshot, then compacting up to it is the usual sequence', async () => {
        const s = await setUp();
        s.append(entriesWithTerms(1, [1, 1, 2, 2, 3]));
        s.createSnapshot(2, confState, new Uint8Array([1]));
        s.createSnapshot(4, { voters: [1, 2], learners: [] }, new Uint8Array([2, 2]));
        s.compact(4);
        await checkDurably((s2) => {
          expect(plainSnapshot(s2.snapshot())).toEqual({ index: 4, term: 2, confState: { voters: [1, 2], learners: [] }, data: [2, 2] });
          expect(s2.firstIndex()).toBe(5);
          expect(s2.term(4)).toBe(2);
        });
      });

      it('rejects an index at or before the current snapshot, past the log, or compacted', async () => {
        const s = await setUp();
        s.append(entriesWithTerms(1, [1, 1, 2, 2, 3]));
        s.createSnapshot(3, confState, new Uint8Array([1]));
        expect(thrown(() => s.createSnapshot(3, confState, new Uint8Array()))).toMatchObject({
          name: 'SnapshotOutOfDateError',
          index: 3,
          currentIndex: 3,
        });
        expect(thrown(() => s.createSnapshot(2, confState, new Uint8Array()))).toBeInstanceOf(SnapshotOutOfDateError);
        expect(thrown(() => s.createSnapshot(6, confState, new Uint8Array()))).toMatchObject({ name: 'UnavailableError', index: 6, lastIndex: 5 });
        s.compact(5);
        expect(thrown(() => s.createSnapshot(4, confState, new Uint8Array()))).toBeInstanceOf(CompactedError);
        await checkDurably((s2) => {
          expect(s2.snapshot().metadata.index).toBe(3);
        });
      });
    });

    describe('recordSnapshot (without data)', () => {
      const confState: ConfState = { voters: [1, 2, 3], learners: [4] };

      it('records the metadata only; snapshot() refuses to invent data', async () => {
        const s = await setUp();
        s.append(entriesWithTerms(1, [1, 1, 2, 2, 3]));
        s.createSnapshot(2, confState, new Uint8Array([5, 5]));
        expect(s.recordSnapshot(4, confState)).toEqual({ index: 4, term: 2, confState });
        s.compact(3);
        await checkDurably((s2) => {
          expect(s2.recordedSnapshot()).toEqual({ metadata: { index: 4, term: 2, confState }, dataLocation: 'state-machine' });
          expect(thrown(() => s2.snapshot())).toMatchObject({ name: 'SnapshotDataInStateMachineError', index: 4 });
          expect(thrown(() => s2.snapshot())).toBeInstanceOf(SnapshotDataInStateMachineError);
          expect(s2.initialState().confState).toEqual(confState);
          expect(s2.firstIndex()).toBe(4);
          expect(s2.lastIndex()).toBe(5);
        });
      });

      it('is replaced by a snapshot from a leader, which carries its data again', async () => {
        const s = await setUp();
        s.append(entriesWithTerms(1, [1, 1, 2]));
        s.recordSnapshot(3, confState);
        s.applySnapshot({ metadata: { index: 9, term: 4, confState }, data: new Uint8Array([1, 2]) });
        await checkDurably((s2) => {
          expect(s2.recordedSnapshot().dataLocation).toBe('inline');
          expect(plainSnapshot(s2.snapshot())).toEqual({ index: 9, term: 4, confState, data: [1, 2] });
        });
      });

      it('follows the createSnapshot rules: newer than the current snapshot, within the log', async () => {
        const s = await setUp();
        s.append(entriesWithTerms(1, [1, 1, 2, 2, 3]));
        s.recordSnapshot(3, confState);
        expect(thrown(() => s.recordSnapshot(3, confState))).toMatchObject({ name: 'SnapshotOutOfDateError', index: 3, currentIndex: 3 });
        expect(thrown(() => s.createSnapshot(2, confState, new Uint8Array()))).toBeInstanceOf(SnapshotOutOfDateError);
        expect(thrown(() => s.recordSnapshot(6, confState))).toMatchObject({ name: 'UnavailableError', index: 6, lastIndex: 5 });
        s.createSnapshot(5, confState, new Uint8Array([7]));
        await checkDurably((s2) => {
          expect(plainSnapshot(s2.snapshot())).toEqual({ index: 5, term: 3, confState, data: [7] });
        });
      });
    });

    describe('applySnapshot', () => {
      const snapshot = (index: number, term: number, data: number[] = [index]): Snapshot => ({
        metadata: { index, term, confState: { voters: [1, 2, 3], learners: [] } },
        data: new Uint8Array(data),
      });

      it('replaces the whole log with the snapshot', async () => {
        const s = await setUp();
        s.append(entriesWithTerms(1, [1, 1, 2, 2, 3]));
        s.applySnapshot(snapshot(10, 4, [1, 2, 3]));
        await checkDurably((s2) => {
          expect(s2.firstIndex()).toBe(11);
          expect(s2.lastIndex()).toBe(10);
          expect(s2.term(10)).toBe(4);
          expect(s2.entries(11, 11, 100)).toEqual([]);
          expect(thrown(() => s2.term(5))).toBeInstanceOf(CompactedError);
          expect(plainSnapshot(s2.snapshot())).toEqual(plainSnapshot(snapshot(10, 4, [1, 2, 3])));
          expect(s2.initialState().confState).toEqual({ voters: [1, 2, 3], learners: [] });
        });
      });

      it('replaces the log even when the snapshot is inside it', async () => {
        const s = await setUp();
        s.append(entriesWithTerms(1, [1, 1, 2, 2, 3]));
        s.applySnapshot(snapshot(3, 2));
        await checkDurably((s2) => {
          expect(s2.firstIndex()).toBe(4);
          expect(s2.lastIndex()).toBe(3);
          expect(s2.term(3)).toBe(2);
        });
      });

      it('lets the log continue right after the snapshot, and nowhere else', async () => {
        const s = await setUp();
        s.applySnapshot(snapshot(10, 4));
        expect(thrown(() => s.append([entry(12, 4)]))).toBeInstanceOf(RaftInvariantError);
        s.append(entriesWithTerms(11, [4, 5]));
        await checkDurably((s2) => {
          expect(s2.firstIndex()).toBe(11);
          expect(s2.lastIndex()).toBe(12);
          expect(plainEntries(s2.entries(11, 13, Number.POSITIVE_INFINITY))).toEqual(plainEntries(entriesWithTerms(11, [4, 5])));
        });
      });

      it('rejects a snapshot no newer than the current one, changing nothing', async () => {
        const s = await setUp();
        s.applySnapshot(snapshot(10, 4, [7]));
        s.append(entriesWithTerms(11, [4, 4]));
        expect(thrown(() => s.applySnapshot(snapshot(10, 4)))).toMatchObject({ name: 'SnapshotOutOfDateError', index: 10, currentIndex: 10 });
        expect(thrown(() => s.applySnapshot(snapshot(5, 3)))).toBeInstanceOf(SnapshotOutOfDateError);
        await checkDurably((s2) => {
          expect(s2.lastIndex()).toBe(12);
          expect(Array.from(s2.snapshot().data)).toEqual([7]);
        });
      });
    });

    describe('hard state', () => {
      it('stores the latest hard state', async () => {
        const s = await setUp();
        s.append(entriesWithTerms(1, [1, 2, 2]));
        const hs: HardState = { term: 2, vote: 3, commit: 2 };
        s.setHardState({ term: 1, vote: 1, commit: 1 });
        s.setHardState(hs);
        await checkDurably((s2) => {
          expect(s2.initialState().hardState).toEqual(hs);
        });
      });

      it('is independent of log writes', async () => {
        const s = await setUp();
        s.append(entriesWithTerms(1, [1, 1, 1]));
        s.setHardState({ term: 1, vote: 2, commit: 1 });
        s.compact(2);
        s.applySnapshot({ metadata: { index: 5, term: 1, confState: EMPTY_CONF_STATE }, data: new Uint8Array() });
        await checkDurably((s2) => {
          expect(s2.initialState().hardState).toEqual({ term: 1, vote: 2, commit: 1 });
        });
      });
    });
  });
}
