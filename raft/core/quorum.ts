// Majority arithmetic for one voter set. Imports nothing: a leaf, as in etcd-io/raft's quorum/.

import type { NodeId } from './types.js';

export const VoteResult = {
  Pending: 'pending',
  Won: 'won',
  Lost: 'lost',
} as const;
export type VoteResult = (typeof VoteResult)[keyof typeof VoteResult];

export function quorumSize(voterCount: number): number {
  return Math.floor(voterCount / 2) + 1;
}

/**
 * The largest index that a majority of voters have acknowledged. `match` returns a voter's
 * acknowledged index (0 when unknown). With no voters there is nothing to commit: 0.
 */
export function majorityCommitted(voters: readonly NodeId[], match: (id: NodeId) => number): number {
  const n = voters.length;
  if (n === 0) return 0;
  // Small sets (the common case: 3 or 5) avoid allocating through a reused scratch array.
  const acked = scratch.length >= n ? scratch : (scratch = new Array<number>(n * 2));
  for (let i = 0; i < n; i++) acked[i] = match(voters[i]!);
  insertionSortDescending(acked, n);
  return acked[quorumSize(n) - 1]!;
}

let scratch: number[] = new Array<number>(16);

function insertionSortDescending(a: number[], n: number): void {
  for (let i = 1; i < n; i++) {
    const v = a[i]!;
    let j = i - 1;
    while (j >= 0 && a[j]! < v) {
      a[j + 1] = a[j]!;
      j--;
    }
    a[j + 1] = v;
  }
}

/** Tallies votes: `votes` maps a voter to its answer; voters that have not answered are pending. */
export function voteResult(voters: readonly NodeId[], votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  const q = quorumSize(voters.length);
  let granted = 0;
  let missing = 0;
  for (const id of voters) {
    const v = votes.get(id);
    if (v === undefined) missing++;
    else if (v) granted++;
  }
  if (granted >= q) return VoteResult.Won;
  if (granted + missing >= q) return VoteResult.Pending;
  return VoteResult.Lost;
}
