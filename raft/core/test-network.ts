// A scripted network of RawNodes for the core's unit tests (etcd-io/raft's `network`): messages
// are delivered synchronously until the network is quiet, unless cut, isolated or dropped.

import { decodeConfChange } from './confchange.js';
import { RawNode } from './rawnode.js';
import type { RaftConfig, TestingBugs } from './raft.js';
import { MemoryStorage } from './storage.js';
import { EntryType, MessageType, type Entry, type Message, type MessageType as MsgType, type NodeId } from './types.js';

/** Deterministic "randomness" for tests: a fixed sequence. */
export class FixedRandom {
  private i = 0;
  constructor(private readonly values: readonly number[] = [0]) {}
  int(n: number): number {
    const v = this.values[this.i++ % this.values.length]!;
    return v % n;
  }
}

export interface TestNodeOptions {
  readonly electionTick?: number;
  readonly heartbeatTick?: number;
  readonly preVote?: boolean;
  readonly checkQuorum?: boolean;
  readonly maxSizePerMsg?: number;
  readonly maxInflightMsgs?: number;
  readonly maxUncommittedEntriesSize?: number;
  readonly leaseReads?: boolean;
  readonly bugs?: TestingBugs;
  /** Per-node randomized election timeout offsets (index = id - 1). */
  readonly randomOffsets?: readonly number[];
}

/** Bound on delivery rounds in one `deliverAll`, so a message storm fails the test instead of hanging. */
const MAX_DELIVERY_ROUNDS = 10_000;

export class TestNetwork {
  readonly nodes = new Map<NodeId, RawNode>();
  readonly storages = new Map<NodeId, MemoryStorage>();
  readonly applied = new Map<NodeId, Entry[]>();
  private readonly cuts = new Set<string>();
  private readonly dropTypes = new Set<MsgType>();
  private readonly isolated = new Set<NodeId>();
  /** Every message that was delivered, for assertions. */
  readonly delivered: Message[] = [];
  private queue: Message[] = [];

  constructor(readonly ids: readonly NodeId[], private readonly opts: TestNodeOptions = {}) {
    for (const id of ids) this.storages.set(id, MemoryStorage.withMembers(ids));
    for (const id of ids) this.start(id);
  }

  config(id: NodeId, storage: MemoryStorage): RaftConfig {
    const o = this.opts;
    return {
      id,
      storage,
      electionTick: o.electionTick ?? 10,
      heartbeatTick: o.heartbeatTick ?? 1,
      random: new FixedRandom([o.randomOffsets?.[id - 1] ?? id - 1]),
      preVote: o.preVote ?? false,
      checkQuorum: o.checkQuorum ?? false,
      maxSizePerMsg: o.maxSizePerMsg ?? 1024 * 1024,
      maxInflightMsgs: o.maxInflightMsgs ?? 256,
      maxUncommittedEntriesSize: o.maxUncommittedEntriesSize ?? 0,
      readOnlyOption: o.leaseReads === true ? 'lease-based' : 'safe',
      testingBugs: o.bugs ?? {},
      applied: storage.snapshot().metadata.index,
    };
  }

  /** (Re)starts a node from its storage, as after a crash. */
  start(id: NodeId): RawNode {
    const node = new RawNode(this.config(id, this.storages.get(id)!));
    this.nodes.set(id, node);
    if (!this.applied.has(id)) this.applied.set(id, []);
    return node;
  }

  /** Loses the node's volatile state; its storage stays. */
  crash(id: NodeId): void {
    this.nodes.delete(id);
    this.queue = this.queue.filter((m) => m.to !== id);
  }

  node(id: NodeId): RawNode {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`node ${id} is down`);
    return n;
  }

  cut(a: NodeId, b: NodeId): void {
    this.cuts.add(`${a}>${b}`);
    this.cuts.add(`${b}>${a}`);
  }

  cutOneWay(from: NodeId, to: NodeId): void {
    this.cuts.add(`${from}>${to}`);
  }

  isolate(id: NodeId): void {
    this.isolated.add(id);
  }

  drop(type: MsgType): void {
    this.dropTypes.add(type);
  }

  recover(): void {
    this.cuts.clear();
    this.isolated.clear();
    this.dropTypes.clear();
  }

  private blocked(m: Message): boolean {
    return this.cuts.has(`${m.from}>${m.to}`) || this.isolated.has(m.from) || this.isolated.has(m.to) || this.dropTypes.has(m.type);
  }

  /** Handles every node's Ready (persist, queue messages, apply) once. */
  private collect(): void {
    for (const [id, node] of this.nodes) {
      while (node.hasReady()) {
        const rd = node.ready();
        const st = this.storages.get(id)!;
        if (rd.snapshot !== undefined) st.applySnapshot(rd.snapshot);
        st.append(rd.entries);
        if (rd.hardState !== undefined) st.setHardState(rd.hardState);
        this.queue.push(...rd.messages);
        for (const e of rd.committedEntries) {
          this.applied.get(id)!.push(e);
          if (e.type === EntryType.ConfChange) node.applyConfChange(decodeConfChange(e.data));
        }
        node.advance(rd);
        const reads = this.readStates.get(id) ?? [];
        reads.push(...rd.readStates);
        this.readStates.set(id, reads);
      }
    }
  }

  readonly readStates = new Map<NodeId, { index: number; context: Uint8Array }[]>();

  /** Delivers messages until the network is quiet. */
  deliverAll(): void {
    for (let round = 0; round < MAX_DELIVERY_ROUNDS; round++) {
      this.collect();
      if (this.queue.length === 0) return;
      const batch = this.queue;
      this.queue = [];
      for (const m of batch) {
        if (this.blocked(m)) continue;
        const to = this.nodes.get(m.to);
        if (to === undefined) continue;
        this.delivered.push(m);
        to.step(m);
      }
    }
    throw new Error(`network did not quiesce within ${MAX_DELIVERY_ROUNDS} rounds`);
  }

  /** Ticks every live node n times, delivering after each tick. */
  tick(n = 1, only?: readonly NodeId[]): void {
    for (let i = 0; i < n; i++) {
      for (const [id, node] of this.nodes) if (only === undefined || only.includes(id)) node.tick();
      this.deliverAll();
    }
  }

  campaign(id: NodeId): void {
    this.node(id).campaign();
    this.deliverAll();
  }

  propose(id: NodeId, text: string): void {
    this.node(id).propose(new TextEncoder().encode(text));
    this.deliverAll();
  }

  leader(): NodeId | undefined {
    for (const [id, node] of this.nodes) if (node.raft.role === 'leader') return id;
    return undefined;
  }

  /** The texts of the normal, non-empty entries node `id` applied. */
  appliedTexts(id: NodeId): string[] {
    return this.applied.get(id)!.filter((e) => e.type === EntryType.Normal && e.data.byteLength > 0).map((e) => new TextDecoder().decode(e.data));
  }

  messagesOfType(type: MsgType): Message[] {
    return this.delivered.filter((m) => m.type === type);
  }
}

export { MessageType };
