// Membership changes, one server at a time (Raft thesis §4.1): a ConfChange entry is proposed
// through the log and takes effect when the application applies it (RawNode.applyConfChange).
// Safety comes from allowing at most one unapplied change at a time (the leader's pendingConfIndex).

import type { ConfState, NodeId } from './types.js';

export const ConfChangeType = {
  AddNode: 'add-node', // add a voter, or promote a learner
  AddLearner: 'add-learner',
  RemoveNode: 'remove-node',
} as const;
export type ConfChangeType = (typeof ConfChangeType)[keyof typeof ConfChangeType];

export interface ConfChange {
  readonly type: ConfChangeType;
  readonly nodeId: NodeId;
  /** Opaque to the core (the store puts the member's peer URL here). Bounded by MAX_CONF_CHANGE_CONTEXT_BYTES. */
  readonly context: string;
}

export const MAX_CONF_CHANGE_CONTEXT_BYTES = 4096;

export class InvalidConfChangeError extends Error {
  override readonly name = 'InvalidConfChangeError';
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export function encodeConfChange(cc: ConfChange): Uint8Array {
  validateConfChange(cc);
  return encoder.encode(JSON.stringify({ type: cc.type, nodeId: cc.nodeId, context: cc.context }));
}

/** Decodes and validates; throws InvalidConfChangeError naming what is wrong. */
export function decodeConfChange(data: Uint8Array): ConfChange {
  let raw: unknown;
  try {
    raw = JSON.parse(decoder.decode(data));
  } catch (err) {
    throw new InvalidConfChangeError(`conf change entry is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null) throw new InvalidConfChangeError('conf change entry is not an object');
  const r = raw as Record<string, unknown>;
  const cc = { type: r['type'], nodeId: r['nodeId'], context: r['context'] ?? '' };
  if (typeof cc.type !== 'string' || typeof cc.nodeId !== 'number' || typeof cc.context !== 'string') {
    throw new InvalidConfChangeError('conf change entry needs type (string), nodeId (number), context (string)');
  }
  const typed: ConfChange = { type: cc.type as ConfChangeType, nodeId: cc.nodeId, context: cc.context };
  validateConfChange(typed);
  return typed;
}

function validateConfChange(cc: ConfChange): void {
  if (!Object.values(ConfChangeType).includes(cc.type)) {
    throw new InvalidConfChangeError(`conf change type '${cc.type}' is not one of ${Object.values(ConfChangeType).join(', ')}`);
  }
  if (!Number.isSafeInteger(cc.nodeId) || cc.nodeId <= 0) {
    throw new InvalidConfChangeError(`conf change nodeId ${cc.nodeId} is not a positive integer`);
  }
  if (encoder.encode(cc.context).byteLength > MAX_CONF_CHANGE_CONTEXT_BYTES) {
    throw new InvalidConfChangeError(`conf change context exceeds ${MAX_CONF_CHANGE_CONTEXT_BYTES} bytes`);
  }
}

/** The membership after applying cc to cs. Voter and learner lists stay sorted. */
export function applyToConfState(cs: ConfState, cc: ConfChange): ConfState {
  const voters = new Set(cs.voters);
  const learners = new Set(cs.learners);
  switch (cc.type) {
    case ConfChangeType.AddNode:
      learners.delete(cc.nodeId);
      voters.add(cc.nodeId);
      break;
    case ConfChangeType.AddLearner:
      // Demoting a voter is not supported: it would need joint consensus to be safe here.
      if (!voters.has(cc.nodeId)) learners.add(cc.nodeId);
      break;
    case ConfChangeType.RemoveNode:
      voters.delete(cc.nodeId);
      learners.delete(cc.nodeId);
      break;
  }
  const byId = (a: number, b: number): number => a - b;
  return { voters: [...voters].sort(byId), learners: [...learners].sort(byId) };
}
