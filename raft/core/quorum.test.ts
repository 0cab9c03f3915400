import { describe, expect, it } from 'vitest';
import { majorityCommitted, quorumSize, voteResult } from './quorum.js';

describe('quorum', () => {
  it('sizes majorities', () => {
    expect([1, 2, 3, 4, 5, 6, 7].map(quorumSize)).toEqual([1, 2, 2, 3, 3, 4, 4]);
  });

  it.each([
    { match: [5], want: 5 },
    { match: [5, 3], want: 3 },
    { match: [5, 3, 9], want: 5 },
    { match: [1, 2, 3, 4], want: 2 },
    { match: [10, 8, 8, 2, 1], want: 8 },
    { match: [0, 0, 7, 7, 7], want: 7 },
    { match: [], want: 0 },
  ])('commits the index a majority acknowledged: $match -> $want', ({ match, want }) => {
    const voters = match.map((_, i) => i + 1);
    expect(majorityCommitted(voters, (id) => match[id - 1]!)).toBe(want);
  });

  it('counts votes: won, lost, pending', () => {
    const v = [1, 2, 3, 4, 5];
    expect(voteResult(v, new Map([[1, true], [2, true], [3, true]]))).toBe('won');
    expect(voteResult(v, new Map([[1, true], [2, false], [3, false], [4, false]]))).toBe('lost');
    expect(voteResult(v, new Map([[1, true], [2, false]]))).toBe('pending');
    // Votes from non-voters do not count.
    expect(voteResult([1, 2, 3], new Map([[1, true], [9, true], [8, true]]))).toBe('pending');
  });
});
