// One simulated Raft node: a "disk" (MemoryStorage, which survives crashes), the volatile RawNode,
// and a tiny key-value application applied from the log.

import { decodeConfChange } from '../core/confchange.js';
import { RawNode } from '../core/rawnode.js';
import type { RaftConfig, TestingBugs } from '../core/raft.js';
import { MemoryStorage } from '../core/storage.js';
import { EntryType, type ConfState, type Entry, type NodeId, type Snapshot } from '../core/types.js';
import type { Rng } from './rng.js';

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
  applied = 0;
  confState: ConfState = { voters: [], learners: [] };
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
    const snap = this.disk.snapshot();
    this.restoreApp(snap);
    const cfg: RaftConfig = {
      id: this.id,
      storage: this.disk,
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
  }

  restoreApp(snap: Snapshot): void {
    this.kv = new Map();
    if (snap.data.byteLength > 0) {
      const app = JSON.parse(decoder.decode(snap.data)) as AppSnapshot;
      for (const [k, v] of app.kv) this.kv.set(k, v);
    }
    this.applied = snap.metadata.index;
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
      this.confState = this.raw!.applyConfChange(decodeConfChange(e.data));
      return undefined;
    }
    const w = decodeWrite(e.data);
    if (w !== undefined) this.kv.set(w.key, { value: w.value, index: e.index, opId: w.id });
    return w;
  }
}
