// The vocabulary of the Raft core: entries, messages, persistent state and the Ready batch.
// Nothing here does I/O; the driver (raft/driver) moves these values to disk and over the wire.

/** A member of the Raft group. Positive integer; 0 means "none" (no leader, no vote). */
export type NodeId = number;
export const NONE: NodeId = 0;

export const EntryType = {
  Normal: 0,
  /** data is an encoded ConfChange (see confchange.ts). */
  ConfChange: 1,
} as const;
export type EntryType = (typeof EntryType)[keyof typeof EntryType];

export interface Entry {
  readonly term: number;
  readonly index: number;
  readonly type: EntryType;
  /** Opaque to the core. An empty Normal entry is the no-op a new leader appends. */
  readonly data: Uint8Array;
}

/**
 * The state that must be durable before any message that depends on it leaves the node.
 * Invariant: term never decreases; vote is for `term` only; commit never decreases.
 */
export interface HardState {
  readonly term: number;
  readonly vote: NodeId;
  readonly commit: number;
}

export const EMPTY_HARD_STATE: HardState = { term: 0, vote: NONE, commit: 0 };

export function hardStateEqual(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

/** Membership: voters decide elections and commits; learners only receive the log. */
export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

export interface SnapshotMetadata {
  /** The last entry the snapshot covers, and its term. */
  readonly index: number;
  readonly term: number;
  readonly confState: ConfState;
}

export interface Snapshot {
  readonly metadata: SnapshotMetadata;
  /** The application's state machine at metadata.index; opaque to the core. */
  readonly data: Uint8Array;
}

export const Role = {
  Follower: 'follower',
  PreCandidate: 'pre-candidate',
  Candidate: 'candidate',
  Leader: 'leader',
} as const;
export type Role = (typeof Role)[keyof typeof Role];

/** Volatile state, for observers (the driver's status page, the simulator's checks). */
export interface SoftState {
  readonly lead: NodeId;
  readonly role: Role;
}

export const MessageType = {
  // Local messages: created inside a node, never accepted from the network.
  Hup: 'hup', // start an election
  Beat: 'beat', // leader: send heartbeats now
  Prop: 'prop', // a proposal (local; followers forward it to the leader, so it also crosses the wire)
  Unreachable: 'unreachable', // the driver could not deliver to msg.from
  SnapStatus: 'snap-status', // the driver finished (or failed) sending a snapshot to msg.from
  CheckQuorum: 'check-quorum',
  PeerDown: 'peer-down', // the driver saw msg.from's process gone (its port refused a connection)
  // Network messages.
  App: 'app',
  AppResp: 'app-resp',
  Vote: 'vote',
  VoteResp: 'vote-resp',
  PreVote: 'pre-vote',
  PreVoteResp: 'pre-vote-resp',
  Snap: 'snap',
  Heartbeat: 'heartbeat',
  HeartbeatResp: 'heartbeat-resp',
  TransferLeader: 'transfer-leader',
  TimeoutNow: 'timeout-now',
  ReadIndex: 'read-index',
  ReadIndexResp: 'read-index-resp',
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

const LOCAL_MESSAGES: ReadonlySet<MessageType> = new Set<MessageType>([
  MessageType.Hup,
  MessageType.Beat,
  MessageType.Unreachable,
  MessageType.SnapStatus,
  MessageType.CheckQuorum,
  MessageType.PeerDown,
]);

/** A driver must drop these when they arrive from a peer. */
export function isLocalMessage(type: MessageType): boolean {
  return LOCAL_MESSAGES.has(type);
}

export function isResponseMessage(type: MessageType): boolean {
  return (
    type === MessageType.AppResp ||
    type === MessageType.VoteResp ||
    type === MessageType.PreVoteResp ||
    type === MessageType.HeartbeatResp ||
    type === MessageType.ReadIndexResp ||
    type === MessageType.Unreachable
  );
}

/**
 * One message between Raft nodes. A flat shape (as in etcd's raftpb.Message): each type uses the
 * fields it needs and leaves the rest at their zero values.
 */
export interface Message {
  readonly type: MessageType;
  readonly from: NodeId;
  readonly to: NodeId;
  /** The sender's term; 0 for local messages. */
  readonly term: number;
  /** App: term of the entry at `index` (the one before `entries`). Vote: the candidate's last log term. AppResp reject: the follower's term at rejectHint. */
  readonly logTerm: number;
  /** App: index before `entries`. AppResp: the index acknowledged, or the rejected one. Vote: the candidate's last index. ReadIndexResp: the read index. */
  readonly index: number;
  readonly entries: readonly Entry[];
  /** The sender's commit index (App, Heartbeat). */
  readonly commit: number;
  readonly snapshot?: Snapshot;
  readonly reject: boolean;
  /** AppResp reject: the follower's guess of where the logs may match (fast backtracking). */
  readonly rejectHint: number;
  /** ReadIndex and heartbeats: the read request's context; TimeoutNow/Vote: campaign reason. */
  readonly context: Uint8Array;
}

const EMPTY_BYTES = new Uint8Array(0);

/** A message with every field at its zero value except the ones given. */
export function message(fields: Partial<Message> & Pick<Message, 'type'>): Message {
  return {
    from: NONE,
    to: NONE,
    term: 0,
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    context: EMPTY_BYTES,
    ...fields,
  };
}

const SENDABLE_BEFORE_PERSIST: ReadonlySet<MessageType> = new Set<MessageType>([
  MessageType.App,
  MessageType.Heartbeat,
  MessageType.Snap,
  MessageType.Prop,
  MessageType.ReadIndex,
  MessageType.TimeoutNow,
  MessageType.TransferLeader,
]);

/**
 * Whether a message in a Ready may leave before that Ready is persisted (Raft thesis §10.2.1).
 * A leader's appends, heartbeats and snapshots, and forwarded requests, assert nothing about the
 * sender's durable state; an entry's commit can only be announced in a later Ready, after the
 * driver has persisted this one. Answers (append acknowledgements, votes) and vote requests (the
 * candidate's own vote) must wait for the persist.
 */
export function sendableBeforePersist(m: Message): boolean {
  return SENDABLE_BEFORE_PERSIST.has(m.type);
}

/** A linearizable read that the leader has confirmed: the caller may serve it once applied >= index. */
export interface ReadState {
  readonly index: number;
  readonly context: Uint8Array;
}

/**
 * Everything one round of the core produced. The driver handles it in this order, then calls
 * `advance(ready)`:
 * 1. persist `snapshot` (if any), then `entries`, then `hardState` (if any) — durably, fsync;
 *    messages for which sendableBeforePersist() holds may be sent before or during this step;
 * 2. only then send the other `messages` (votes and append acknowledgements depend on step 1);
 * 3. apply `snapshot` to the state machine (if any), then `committedEntries` in order;
 * 4. serve `readStates` once the state machine has applied up to each one's index.
 */
export interface Ready {
  readonly softState: SoftState | undefined;
  /** Undefined when unchanged since the last Ready. */
  readonly hardState: HardState | undefined;
  readonly readStates: readonly ReadState[];
  /** Entries to append to stable storage; they may overwrite a conflicting stable suffix. */
  readonly entries: readonly Entry[];
  readonly snapshot: Snapshot | undefined;
  /** Entries to apply, all committed and all persisted once step 1 is done. */
  readonly committedEntries: readonly Entry[];
  /** To send after step 1. */
  readonly messages: readonly Message[];
  /** Whether step 1 needs an fsync (new entries, or a changed term or vote). */
  readonly mustSync: boolean;
}

export function entrySize(e: Entry): number {
  // Fixed overhead approximates term, index and type on the wire.
  return e.data.byteLength + 24;
}

export function entriesSize(entries: readonly Entry[]): number {
  let n = 0;
  for (const e of entries) n += entrySize(e);
  return n;
}

/** Entries from the front of `entries` whose total size stays within maxBytes; always at least one. */
export function limitSize(entries: readonly Entry[], maxBytes: number): readonly Entry[] {
  if (entries.length === 0) return entries;
  let size = entrySize(entries[0]!);
  let n = 1;
  for (; n < entries.length; n++) {
    size += entrySize(entries[n]!);
    if (size > maxBytes) break;
  }
  return n === entries.length ? entries : entries.slice(0, n);
}
