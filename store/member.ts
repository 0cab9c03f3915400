// One member of the replicated store: its LMDB environment (Raft log, hard state, snapshots and
// the MVCC state in one file), the Raft node that drives it, and the store it serves. The peer
// transport is injected: WebSockets in a master, an in-memory router in tests.

import { mkdirSync } from 'node:fs';
import { open, type RootDatabase } from 'lmdb';
import { bootstrapStorage, type InitialMember } from '../raft/core/bootstrap.js';
import type { ConfChange } from '../raft/core/confchange.js';
import type { RandomSource } from '../raft/core/raft.js';
import type { ConfState, NodeId } from '../raft/core/types.js';
import { LmdbStorage } from '../raft/driver/lmdb-storage.js';
import { RaftNode, cryptoRandom, type Clock, type PeerSender, type RaftNodeLogger } from '../raft/driver/raft-node.js';
import { MvccStore } from './mvcc/kv-store.js';
import { MVCC_DATABASE_NAMES } from './mvcc/tables.js';
import { MvccStateMachine, ReplicatedStore } from './replicated-store.js';

/** Sub-databases in one environment: the store's, the Raft log's two, and room to grow. */
export const MAX_LMDB_DATABASES = MVCC_DATABASE_NAMES.length + 8;
/** LMDB map size: the largest the environment may grow to (address space, not disk, until used). */
export const LMDB_MAP_SIZE_BYTES = 8 * 1024 * 1024 * 1024;

export interface MemberOptions {
  readonly id: NodeId;
  readonly dataDir: string;
  /** The cluster's founding members; used only when the data directory is new. */
  readonly initialMembers: readonly InitialMember[];
  /** A member joining an existing cluster starts empty and learns everything from the leader. */
  readonly join?: boolean;
  readonly transport: PeerSender;
  readonly logger: RaftNodeLogger;
  readonly clock?: Clock;
  readonly random?: RandomSource;
  readonly tickMs?: number;
  readonly electionTicks?: number;
  readonly snapshotEvery?: number;
  readonly compactionMargin?: number;
  readonly onConfChange?: (cs: ConfState, cc: ConfChange) => void;
}

export class StoreMember {
  private constructor(
    readonly id: NodeId,
    readonly root: RootDatabase,
    readonly storage: LmdbStorage,
    readonly raft: RaftNode,
    readonly store: ReplicatedStore,
  ) {}

  static open(opts: MemberOptions): StoreMember {
    mkdirSync(opts.dataDir, { recursive: true });
    const root = open({ path: opts.dataDir, maxDbs: MAX_LMDB_DATABASES, mapSize: LMDB_MAP_SIZE_BYTES, overlappingSync: false });
    const storage = LmdbStorage.open(root);
    if (storage.lastIndex() === 0 && storage.snapshot().metadata.index === 0 && opts.join !== true) {
      bootstrapStorage(storage, opts.initialMembers);
      opts.logger.info('bootstrapped a new cluster member', { members: opts.initialMembers.map((m) => m.id) });
    }
    const mvcc = MvccStore.open(root);
    const machine = new MvccStateMachine(mvcc, opts.id, opts.logger);
    // The store proposes through the node, and the node asks the store for gathered txns each turn.
    let store: ReplicatedStore | undefined = undefined;
    const raft = new RaftNode({
      id: opts.id,
      storage,
      stateMachine: machine,
      transport: opts.transport,
      logger: opts.logger,
      random: opts.random ?? cryptoRandom,
      ...(opts.clock ? { clock: opts.clock } : {}),
      ...(opts.tickMs !== undefined ? { tickMs: opts.tickMs } : {}),
      ...(opts.electionTicks !== undefined ? { electionTicks: opts.electionTicks } : {}),
      ...(opts.snapshotEvery !== undefined ? { snapshotEvery: opts.snapshotEvery } : {}),
      ...(opts.compactionMargin !== undefined ? { compactionMargin: opts.compactionMargin } : {}),
      ...(opts.onConfChange ? { onConfChange: opts.onConfChange } : {}),
      onLeaderChange: () => machine.failWaiting(),
      beforeTakingProposals: () => store?.gatherProposals(),
    });
    store = new ReplicatedStore(raft, machine);
    return new StoreMember(opts.id, root, storage, raft, store);
  }

  start(): void {
    this.raft.start();
  }

  async close(): Promise<void> {
    await this.raft.stop();
    this.store.machine.failAll(new Error('member stopped'));
    await this.root.close();
  }
}
