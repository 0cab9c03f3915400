import { describe, expect, it } from 'vitest';
import { RaftInvariantError } from './errors.js';
import { RaftLog } from './log.js';
import { MemoryStorage } from './storage.js';
import { EntryType, type Entry } from './types.js';

const ent = (index: number, term: number): Entry => ({ index, term, type: EntryType.Normal, data: new Uint8Array([index]) });

function logWith(terms: number[]): RaftLog {
  const s = new MemoryStorage();
  s.append(terms.map((t, i) => ent(i + 1, t)));
  return new RaftLog(s);
}

describe('RaftLog', () => {
  it('appends after a matching entry and truncates a conflicting suffix', () => {
    const log = logWith([1, 1, 2, 2]);
    expect(log.maybeAppend(2, 1, 0, [ent(3, 3), ent(4, 3), ent(5, 3)])).toBe(5);
    expect([3, 4, 5].map((i) => log.term(i))).toEqual([3, 3, 3]);
  });

  it('refuses an append whose previous entry does not match', () => {
    const log = logWith([1, 1, 2]);
    expect(log.maybeAppend(3, 1, 0, [ent(4, 3)])).toBeUndefined();
    expect(log.maybeAppend(7, 2, 0, [ent(8, 3)])).toBeUndefined();
  });

  it('never overwrites a committed entry', () => {
    const log = logWith([1, 1, 2]);
    log.commitTo(3);
    expect(() => log.maybeAppend(1, 1, 3, [ent(2, 5)])).toThrow(RaftInvariantError);
  });

  it('commits by counting only entries of the current term (§5.4.2)', () => {
    const log = logWith([1, 2, 2, 3]);
    expect(log.maybeCommit(3, 3)).toBe(false);
    expect(log.committed).toBe(0);
    expect(log.maybeCommit(4, 3)).toBe(true);
    expect(log.committed).toBe(4);
  });

  it('findConflictByTerm skips to the last index with term <= the given term', () => {
    const log = logWith([1, 1, 2, 2, 2, 5, 5]);
    expect(log.findConflictByTerm(7, 4)).toBe(5);
    expect(log.findConflictByTerm(7, 1)).toBe(2);
    expect(log.findConflictByTerm(7, 0)).toBe(0);
    expect(log.findConflictByTerm(100, 5)).toBe(7);
  });

  it('slices across the stable and unstable parts, within a byte bound', () => {
    const log = logWith([1, 1, 1]);
    log.append([ent(4, 2), ent(5, 2)]);
    expect(log.slice(2, 6, Number.MAX_SAFE_INTEGER).map((e) => e.index)).toEqual([2, 3, 4, 5]);
    expect(log.slice(2, 6, 30).map((e) => e.index)).toEqual([2]);
    expect(log.isUpToDate(5, 2)).toBe(true);
    expect(log.isUpToDate(9, 1)).toBe(false);
  });
});
