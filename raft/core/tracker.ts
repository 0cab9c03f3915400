// The leader's bookkeeping of the configuration: who votes, who learns, and each one's Progress.

import { Progress } from './progress.js';
import { majorityCommitted, quorumSize, voteResult, type VoteResult } from './quorum.js';
import type { ConfState, NodeId } from './types.js';

export class ProgressTracker {
  voters: NodeId[] = [];
  learners: NodeId[] = [];
  progress = new Map<NodeId, Progress>();
  votes = new Map<NodeId, boolean>();

  constructor(readonly maxInflight: number) {}

  confState(): ConfState {
    return { voters: [...this.voters], learners: [...this.learners] };
  }

  /** Replaces the configuration; keeps the Progress of members that stay, creates the rest. */
  applyConfState(cs: ConfState, nextIndex: number): void {
    const keep = new Map<NodeId, Progress>();
    const add = (id: NodeId, isLearner: boolean): void => {
      const old = this.progress.get(id);
      if (old !== undefined && old.isLearner === isLearner) {
        keep.set(id, old);
        return;
      }
      const pr = new Progress(nextIndex, this.maxInflight, isLearner);
      if (old !== undefined) {
        // A learner promoted to voter keeps what it has acknowledged.
        pr.match = old.match;
        pr.next = old.next;
      }
      // A new member counts as active, so the leader does not step down right after adding it.
      pr.recentActive = true;
      keep.set(id, pr);
    };
    for (const id of cs.voters) add(id, false);
    for (const id of cs.learners) add(id, true);
    this.voters = [...cs.voters].sort((a, b) => a - b);
    this.learners = [...cs.learners].sort((a, b) => a - b);
    this.progress = keep;
  }

  isVoter(id: NodeId): boolean {
    return this.voters.includes(id);
  }

  /** The highest index acknowledged by a majority of voters. */
  committed(): number {
    return majorityCommitted(this.voters, (id) => this.progress.get(id)?.match ?? 0);
  }

  /** Whether a majority of voters were heard from recently (the leader counts itself via recentActive). */
  quorumActive(): boolean {
    let active = 0;
    for (const id of this.voters) if (this.progress.get(id)?.recentActive === true) active++;
    return active >= quorumSize(this.voters.length);
  }

  resetVotes(): void {
    this.votes = new Map();
  }

  recordVote(id: NodeId, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted);
  }

  tallyVotes(): VoteResult {
    return voteResult(this.voters, this.votes);
  }
}
