// A brand-new cluster's first entries: one committed AddNode conf change per initial voter, as
// etcd does. Membership then lives in the log from index 1 on, so a member that joins later and
// replays the log from the start learns the whole history of the configuration.

import { ConfChangeType, encodeConfChange } from './confchange.js';
import { RaftInvariantError } from './errors.js';
import type { WritableStorage } from './storage.js';
import { EntryType, NONE, type Entry, type NodeId } from './types.js';

export interface InitialMember {
  readonly id: NodeId;
  /** Opaque to the core; the store records the member's peer address here. */
  readonly context?: string;
}

/** Writes the bootstrap entries into empty storage; the application applies them like any other. */
export function bootstrapStorage(storage: WritableStorage, members: readonly InitialMember[]): void {
  if (storage.lastIndex() !== 0) throw new RaftInvariantError('bootstrap needs empty storage');
  if (members.length === 0) throw new RaftInvariantError('bootstrap needs at least one member');
  const ids = new Set(members.map((m) => m.id));
  if (ids.size !== members.length) throw new RaftInvariantError('bootstrap members must have distinct ids');
  const entries: Entry[] = members.map((m, i) => ({
    term: 1,
    index: i + 1,
    type: EntryType.ConfChange,
    data: encodeConfChange({ type: ConfChangeType.AddNode, nodeId: m.id, context: m.context ?? '' }),
  }));
  storage.append(entries);
  storage.setHardState({ term: 1, vote: NONE, commit: entries.length });
}
