// The Raft core's public API.
export * from './types.js';
export * from './errors.js';
export * from './storage.js';
export * from './state-machine-snapshots.js';
export * from './confchange.js';
export { ReadOnlyOption } from './readonly.js';
export { ProgressState } from './progress.js';
export { Raft, CAMPAIGN_TRANSFER, PEER_DOWN_CAMPAIGN_STAGGER_TICKS, type RaftConfig, type RandomSource, type TestingBugs } from './raft.js';
export { RawNode, type NodeStatus } from './rawnode.js';
export { bootstrapStorage, type InitialMember } from './bootstrap.js';
