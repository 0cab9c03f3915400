// One simulated Raft node: a "disk" (MemoryStorage, which survives crashes), the volatile RawNode,
// and a tiny key-value application applied from the log.
//
// The application models the MVCC store in the log's LMDB environment: its applies are committed
// at once but become durable only at the disk's next sync (a persisted Ready, or a recorded
// snapshot), and a crash keeps what was durable. Compaction snapshots carry no data (the state is
// the application's); a leader makes data from the application when a follower needs it, which
// takes SNAPSHOT_MAKING_TICKS, as the driver's SnapshotMaker does.

import { decodeConfChange } from '../core/confchange.js';
import { RawNode } from '../core/rawnode.js';
import type { RaftConfig, TestingBugs } from '../core/raft.js';
import { StateMachineSnapshotStorage, type SnapshotSource } from '../core/state-machine-snapshots.js';
import { MemoryStorage, SnapshotDataLocation } from '../core/storage.js';
import { EntryType, type ConfState, type Entry, type NodeId, type Snapshot } from '../core/types.js';
import { Violation, ViolationKind } from './checker.js';
import type { Rng } from './rng.js';

/** Ticks a leader takes to make a snapshot with data for a follower. */
export const SNAPSHOT_MAKING_TICKS = 3;

export interface KvWrite {
  readonly op: 'put';
  readonly id: number;
  readonly key: string;
  readonly value: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeWrite(w: KvWrite): Uint8Array {
  return encoder.encode(JSON.stringify(w));
}

export function decodeWrite(data: Uint8Array): KvWrite | undefined {
  if (data.byteLength === 0) return undefined;
  return JSON.parse(decoder.decode(data)) as KvWrite;
}

/** A value in the application, with the log index of the write that set it. */
export interface KvValue {
  readonly value: string;
  readonly index: number;
  readonly opId: number;
}

interface AppSnapshot {
  readonly kv: [string, KvValue][];
}

/** What of the application survives a crash. */
interface DurableApp {
  readonly kv: ReadonlyMap<string, KvValue>;
  readonly applied: number;
}

/** The leader side of snapshots without data: made at a point the simulation picks, ready later. */
class SimSnapshotSource implements SnapshotSource {
  requested = false;
  private making: { readonly snapshot: Snapshot; readonly readyAt: number } | undefined = undefined;
  private made: Snapshot | undefined = undefined;

  ready(minIndex: number): Snapshot | undefined {
    if (this.made !== undefined && this.made.metadata.index < minIndex) this.made = undefined;
    return this.made;
  }

  request(): void {
    this.requested = true;
  }

  start(snapshot: Snapshot, now: number): void {
    this.requested = false;
    if (this.making === undefined) this.making = { snapshot, readyAt: now + SNAPSHOT_MAKING_TICKS };
  }

  advance(now: number): void {
    if (this.making === undefined || now < this.making.readyAt) return;
    this.made = this.making.snapshot;
    this.making = undefined;
  }
}

export interface NodeOptions {
  readonly electionTick: number;
  readonly heartbeatTick: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  readonly leaseReads: boolean;
  readonly maxSizePerMsg: number;
  readonly maxInflightMsgs: number;
  readonly maxUncommittedEntriesSize: number;
  readonly bugs: TestingBugs;
}

export class SimNode {
  /** Survives crashes: exactly what the driver persisted. */
  readonly disk: MemoryStorage;
  raw: RawNode | undefined = undefined;
  paused = false;
  /** The tick at which the node was paused (its clock keeps running meanwhile). */
  pausedAt = 0;
  kv = new Map<string, KvValue>();
  /** The driver's applied index: restarts at the snapshot's and replays the log from there. */
  applied = 0;
  /** The application's own applied index; >= applied while a restarted node replays entries it has. */
  appApplied = 0;
  confState: ConfState = { voters: [], learners: [] };
  private durable: DurableApp = { kv: new Map(), applied: 0 };
  /** Volatile: a new one per incarnation. */
  snapshots = new SimSnapshotSource();
  /** Incarnation counter: bumps on every restart, so stale callbacks are recognised. */
  incarnation = 0;

  constructor(readonly id: NodeId, disk: MemoryStorage) {
    this.disk = disk;
  }

  get up(): boolean {
    return this.raw !== undefined;
  }

  /** Starts (or restarts) the node from its disk, as a real master does after a crash. */
  start(opts: NodeOptions, rng: Rng): void {
    const recorded = this.disk.recordedSnapshot();
    this.kv = new Map(this.durable.kv);
    this.appApplied = this.durable.applied;
    if (this.appApplied < recorded.metadata.index) {
      // As RaftNode's constructor: a snapshot from a leader restores a state left behind it; one
      // recorded without data must never be ahead of the durable state.
      if (recorded.dataLocation === SnapshotDataLocation.StateMachine) {
        throw new Violation(
          ViolationKind.Durability,
          `node ${this.id} restarts with its state at ${this.appApplied}, behind the snapshot at ${recorded.metadata.index} recorded without data`,
        );
      }
      this.restoreApp(this.disk.snapshot());
    }
    const snap = recorded;
    this.applied = snap.metadata.index;
    this.confState = snap.metadata.confState;
    this.snapshots = new SimSnapshotSource();
    const cfg: RaftConfig = {
      id: this.id,
      storage: new StateMachineSnapshotStorage(this.disk, this.snapshots),
      electionTick: opts.electionTick,
      heartbeatTick: opts.heartbeatTick,
      random: rng,
      applied: snap.metadata.index,
      preVote: opts.preVote,
      checkQuorum: opts.checkQuorum,
      readOnlyOption: opts.leaseReads ? 'lease-based' : 'safe',
      maxSizePerMsg: opts.maxSizePerMsg,
      maxInflightMsgs: opts.maxInflightMsgs,
      maxUncommittedEntriesSize: opts.maxUncommittedEntriesSize,
      testingBugs: opts.bugs,
    };
    this.raw = new RawNode(cfg);
    this.paused = false;
    this.incarnation++;
  }

  /** Loses everything volatile; the disk stays. */
  crash(): void {
    this.raw = undefined;
    this.paused = false;
    this.kv = new Map();
    this.applied = 0;
    this.appApplied = 0;
  }

  /** The disk synced: the application's commits so far are durable. */
  syncApp(): void {
    if (this.durable.applied === this.appApplied) return;
    this.durable = { kv: new Map(this.kv), applied: this.appApplied };
  }

  /**
   * Where the driver starts a requested snapshot: the application must be exactly at the applied
   * index (not ahead, replaying), and confState is the membership there.
   */
  makeRequestedSnapshot(now: number): void {
    if (!this.snapshots.requested || this.appApplied !== this.applied) return;
    const metadata = { index: this.applied, term: this.disk.term(this.applied), confState: this.confState };
    this.snapshots.start({ metadata, data: this.appSnapshotData() }, now);
  }

  restoreApp(snap: Snapshot): void {
    this.kv = new Map();
    if (snap.data.byteLength > 0) {
      const app = JSON.parse(decoder.decode(snap.data)) as AppSnapshot;
      for (const [k, v] of app.kv) this.kv.set(k, v);
    }
    this.applied = snap.metadata.index;
    this.appApplied = snap.metadata.index;
    this.confState = snap.metadata.confState;
  }

  appSnapshotData(): Uint8Array {
    const kv = [...this.kv.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1));
    return encoder.encode(JSON.stringify({ kv } satisfies AppSnapshot));
  }

  /** Applies one committed entry; returns the write it carried, if any. */
  applyEntry(e: Entry): KvWrite | undefined {
    this.applied = e.index;
    if (e.type === EntryType.ConfChange) {
      // Replayed or not, the core rebuilds its membership from it.
      this.confState = this.raw!.applyConfChange(decodeConfChange(e.data));
      this.appApplied = Math.max(this.appApplied, e.index);
      return undefined;
    }
    // Entries the application already holds are no-ops, as for the MVCC store.
    if (e.index <= this.appApplied) return undefined;
    this.appApplied = e.index;
    const w = decodeWrite(e.data);
    if (w !== undefined) this.kv.set(w.key, { value: w.value, index: e.index, opId: w.id });
    return w;
  }
}
