// The simulator's safety checks (Raft paper, Figure 3), fed by the simulation as things happen.
//
// - Election safety: at most one leader per term, over the whole run.
// - Log matching: two entries with the same index and term hold the same data and follow the same
//   history. Checked as every entry is persisted: (index, term) -> (data, term at index-1) must be
//   unique across all nodes; by induction on the index, equal prefixes follow.
// - Leader completeness: a new leader's log holds the highest entry committed anywhere so far.
// - State-machine safety: no two nodes apply different entries at one index, and each node applies
//   indexes in order without gaps.
// - Linearizable reads: every read sees the last write to its key acknowledged before it began.

import type { Entry, NodeId, Ready, Snapshot } from '../core/types.js';
import type { SimNode } from './node.js';

export const ViolationKind = {
  ElectionSafety: 'election-safety',
  LogMatching: 'log-matching',
  LeaderCompleteness: 'leader-completeness',
  StateMachineSafety: 'state-machine-safety',
  StaleRead: 'stale-read',
  Liveness: 'liveness',
  Convergence: 'convergence',
  /** A restart found the application behind a snapshot recorded without data. */
  Durability: 'durability',
} as const;
export type ViolationKind = (typeof ViolationKind)[keyof typeof ViolationKind];

export class Violation extends Error {
  override readonly name = 'Violation';
  constructor(readonly kind: ViolationKind, detail: string) {
    super(`${kind}: ${detail}`);
  }
}

interface EntryRecord {
  readonly data: string;
  /** Term of the entry before it in the log that holds it, or -1 when that was compacted away. */
  readonly prevTerm: number;
  readonly node: NodeId;
}

function dataKey(e: Entry): string {
  let s = `${e.type}:`;
  for (const b of e.data) s += String.fromCharCode(b);
  return s;
}

export class Checker {
  private readonly leaders = new Map<number, NodeId>();
  private readonly entries = new Map<string, EntryRecord>();
  private readonly applied = new Map<number, { term: number; data: string; node: NodeId }>();
  private highestCommitted = { index: 0, term: 0, node: 0 };

  checkTick(nodes: readonly SimNode[], now: number): void {
    for (const n of nodes) {
      const r = n.raw!.raft;
      if (r.role === 'leader') {
        const other = this.leaders.get(r.term);
        if (other !== undefined && other !== n.id) {
          throw new Violation(ViolationKind.ElectionSafety, `nodes ${other} and ${n.id} are both leaders of term ${r.term} (t=${now})`);
        }
        this.leaders.set(r.term, n.id);
      }
      const c = r.raftLog.committed;
      if (c > this.highestCommitted.index) this.highestCommitted = { index: c, term: r.raftLog.term(c), node: n.id };
    }
  }

  onLeader(n: SimNode, nodes: readonly SimNode[]): void {
    this.checkTick(nodes, -1);
    const log = n.raw!.raft.raftLog;
    const { index, term, node } = this.highestCommitted;
    if (index === 0) return;
    if (index < log.firstIndex() - 1) return; // inside the leader's snapshot, hence committed there
    if (index > log.lastIndex() || log.term(index) !== term) {
      throw new Violation(
        ViolationKind.LeaderCompleteness,
        `new leader ${n.id} (term ${n.raw!.raft.term}) lacks entry ${index}@${term} committed at node ${node}; its log ends at ${log.lastIndex()}@${log.lastTerm()}`,
      );
    }
  }

  onPersist(n: SimNode, rd: Ready): void {
    const log = n.raw!.raft.raftLog;
    for (const e of rd.entries) {
      let prevTerm = -1;
      if (e.index - 1 >= log.firstIndex() - 1) prevTerm = log.term(e.index - 1);
      const key = `${e.index}:${e.term}`;
      const rec: EntryRecord = { data: dataKey(e), prevTerm, node: n.id };
      const seen = this.entries.get(key);
      if (seen === undefined) {
        this.entries.set(key, rec);
        continue;
      }
      if (seen.data !== rec.data) {
        throw new Violation(ViolationKind.LogMatching, `entry ${key} differs between nodes ${seen.node} and ${n.id}`);
      }
      if (seen.prevTerm !== -1 && rec.prevTerm !== -1 && seen.prevTerm !== rec.prevTerm) {
        throw new Violation(
          ViolationKind.LogMatching,
          `entry ${key} follows term ${seen.prevTerm} at node ${seen.node} but term ${rec.prevTerm} at node ${n.id}`,
        );
      }
    }
  }

  onApply(n: SimNode, e: Entry): void {
    if (e.index !== n.applied + 1) {
      throw new Violation(ViolationKind.StateMachineSafety, `node ${n.id} applies ${e.index} after ${n.applied}`);
    }
    const seen = this.applied.get(e.index);
    const data = dataKey(e);
    if (seen === undefined) {
      this.applied.set(e.index, { term: e.term, data, node: n.id });
      return;
    }
    if (seen.term !== e.term || seen.data !== data) {
      throw new Violation(
        ViolationKind.StateMachineSafety,
        `node ${n.id} applies entry ${e.index}@${e.term} but node ${seen.node} applied ${e.index}@${seen.term} with other data`,
      );
    }
  }

  onSnapshotApplied(n: SimNode, snap: Snapshot): void {
    const seen = this.applied.get(snap.metadata.index);
    if (seen !== undefined && seen.term !== snap.metadata.term) {
      throw new Violation(
        ViolationKind.StateMachineSafety,
        `node ${n.id} installs a snapshot at ${snap.metadata.index}@${snap.metadata.term} but that index was applied with term ${seen.term}`,
      );
    }
  }

  /** `saw` is the log index of the write the read returned (0 for none). */
  onRead(key: string, mustSee: number, saw: number, what: string): void {
    if (saw < mustSee) {
      throw new Violation(
        ViolationKind.StaleRead,
        `${what} returned the write at index ${saw}, but the write at ${mustSee} to '${key}' was acknowledged before the read began`,
      );
    }
  }

  /** After the final heal: every live member has applied the same state. */
  checkConvergence(nodes: readonly SimNode[]): void {
    const ref = nodes.reduce<SimNode | undefined>((best, n) => (best === undefined || n.applied > best.applied ? n : best), undefined);
    if (ref === undefined) return;
    for (const n of nodes) {
      if (n.applied !== ref.applied || n.appApplied !== n.applied) continue; // still catching up: state-machine safety covers it
      const a = JSON.stringify([...n.kv.entries()].sort());
      const b = JSON.stringify([...ref.kv.entries()].sort());
      if (a !== b) throw new Violation(ViolationKind.Convergence, `nodes ${n.id} and ${ref.id} applied up to ${n.applied} but hold different states`);
    }
  }
}
