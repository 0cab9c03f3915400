// The peer wire format: one msgpack value per WebSocket binary message ("frame"), and a decoder
// that trusts nothing. Three kinds of frame travel from a dialer to the node it dialed:
//
//   { kind: 'msgs', messages: WireMessage[] }                        regular Raft messages, in order
//   { kind: 'snap-begin', stream, message: WireMessage,              a 'snap' message without its data,
//     snapshot: { metadata, totalBytes } }                           announcing a stream of chunks
//   { kind: 'snap-chunk', stream, offset, data }                     the next piece of that stream
//
// A WireMessage is a Message with every field present and no `snapshot` (snapshot data only ever
// travels in chunks, so a single frame stays small and heartbeats can pass between chunks).
// Decoding never throws: it yields the frame, or an InvalidFrameError naming the offending field.
// Every value handed to the Raft core is freshly built from checked fields, so nothing the peer
// added (extra keys, prototypes, msgpack extensions) reaches it.

import { Packr, Unpackr } from 'msgpackr';
import {
  EntryType,
  isLocalMessage,
  MessageType,
  type ConfState,
  type Entry,
  type Message,
  type NodeId,
  type Snapshot,
  type SnapshotMetadata,
} from '../core/types.js';
import { InvalidFrameError } from './transport-errors.js';

export const FrameKind = {
  Messages: 'msgs',
  SnapshotBegin: 'snap-begin',
  SnapshotChunk: 'snap-chunk',
} as const;
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];

/** Estimated per-message wire overhead (field names and fixed-size fields), for queue and batch accounting. */
export const MESSAGE_OVERHEAD_BYTES = 160;
/** Estimated per-entry wire overhead beside its data. */
export const ENTRY_OVERHEAD_BYTES = 40;

/** An upper estimate of a message's encoded size (snapshot data excluded: it is streamed). */
export function estimateMessageBytes(m: Message): number {
  let n = MESSAGE_OVERHEAD_BYTES + m.context.byteLength;
  for (const e of m.entries) n += ENTRY_OVERHEAD_BYTES + e.data.byteLength;
  return n;
}

export type MessageWithSnapshot = Message & { readonly snapshot: Snapshot };

/** What the decoder needs to know about the connection a frame arrived on. */
export interface FrameContext {
  /** Our node id: every message must be addressed to it. */
  readonly self: NodeId;
  /** The authenticated dialer: every message must come from it (TransferLeader aside, see below). */
  readonly peer: NodeId;
  readonly isMember: (id: NodeId) => boolean;
  readonly maxSnapshotBytes: number;
}

export type DecodedFrame =
  | { readonly kind: typeof FrameKind.Messages; readonly messages: readonly Message[] }
  | {
      readonly kind: typeof FrameKind.SnapshotBegin;
      readonly stream: number;
      /** The 'snap' message, without `snapshot`. */
      readonly message: Message;
      readonly metadata: SnapshotMetadata;
      readonly totalBytes: number;
    }
  | {
      readonly kind: typeof FrameKind.SnapshotChunk;
      readonly stream: number;
      readonly offset: number;
      /** A view into the received frame: copy it before the frame's buffer may be reused. */
      readonly data: Uint8Array;
    };

export type DecodeResult = { readonly ok: true; readonly frame: DecodedFrame } | { readonly ok: false; readonly error: InvalidFrameError };

// Plain maps, no records: a record's structure would be state shared across frames, and one
// corrupt frame could then poison the decoding of the next ones.
const packr = new Packr({ useRecords: false, moreTypes: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

interface WireEntry {
  readonly term: number;
  readonly index: number;
  readonly type: EntryType;
  readonly data: Uint8Array;
}

interface WireMessage {
  readonly type: MessageType;
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
  readonly logTerm: number;
  readonly index: number;
  readonly entries: readonly WireEntry[];
  readonly commit: number;
  readonly reject: boolean;
  readonly rejectHint: number;
  readonly context: Uint8Array;
}

// Built field by field, so extra properties of the caller's objects never reach the wire.
function toWire(m: Message): WireMessage {
  return {
    type: m.type,
    from: m.from,
    to: m.to,
    term: m.term,
    logTerm: m.logTerm,
    index: m.index,
    entries: m.entries.map((e) => ({ term: e.term, index: e.index, type: e.type, data: e.data })),
    commit: m.commit,
    reject: m.reject,
    rejectHint: m.rejectHint,
    context: m.context,
  };
}

export function encodeMessagesFrame(messages: readonly Message[]): Uint8Array {
  return packr.pack({ kind: FrameKind.Messages, messages: messages.map(toWire) });
}

export function encodeSnapshotBeginFrame(stream: number, m: MessageWithSnapshot): Uint8Array {
  const { metadata } = m.snapshot;
  return packr.pack({
    kind: FrameKind.SnapshotBegin,
    stream,
    message: toWire(m),
    snapshot: {
      metadata: {
        index: metadata.index,
        term: metadata.term,
        confState: { voters: [...metadata.confState.voters], learners: [...metadata.confState.learners] },
      },
      totalBytes: m.snapshot.data.byteLength,
    },
  });
}

export function encodeSnapshotChunkFrame(stream: number, offset: number, data: Uint8Array): Uint8Array {
  return packr.pack({ kind: FrameKind.SnapshotChunk, stream, offset, data });
}

/** Decodes and validates one frame from the peer `ctx.peer`. Never throws. */
export function decodePeerFrame(bytes: Uint8Array, ctx: FrameContext): DecodeResult {
  let value: unknown;
  try {
    value = unpackr.unpack(bytes);
  } catch (err) {
    return { ok: false, error: new InvalidFrameError('frame', `is not valid msgpack (${(err as Error).message})`) };
  }
  try {
    return { ok: true, frame: checkFrame(value, ctx) };
  } catch (err) {
    if (err instanceof InvalidFrameError) return { ok: false, error: err };
    // A RangeError from a pathological structure (e.g. nesting), or a getter we did not expect.
    return { ok: false, error: new InvalidFrameError('frame', `could not be validated (${(err as Error).message})`) };
  }
}

// ---- validation: each checker returns a fresh, typed value or throws InvalidFrameError -------------

const NETWORK_MESSAGE_TYPES: ReadonlySet<string> = new Set(Object.values(MessageType).filter((t) => !isLocalMessage(t)));
const ALL_MESSAGE_TYPES: ReadonlySet<string> = new Set(Object.values(MessageType));

function fail(field: string, reason: string): never {
  throw new InvalidFrameError(field, reason);
}

type Fields = Readonly<Record<string, unknown>>;

function map(value: unknown, field: string): Fields {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || ArrayBuffer.isView(value)) fail(field, 'must be a map');
  return value as Fields;
}

/** Only own properties: a missing key must not be answered by Object.prototype. */
function get(fields: Fields, key: string): unknown {
  return Object.hasOwn(fields, key) ? fields[key] : undefined;
}

function nonNegativeInt(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) fail(field, `must be a non-negative safe integer, got ${describe(value)}`);
  return value;
}

function positiveInt(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) fail(field, `must be a positive safe integer, got ${describe(value)}`);
  return value;
}

function nodeId(value: unknown, field: string): NodeId {
  return positiveInt(value, field);
}

function bool(value: unknown, field: string): boolean {
  if (typeof value !== 'boolean') fail(field, `must be a boolean, got ${describe(value)}`);
  return value;
}

function bytesView(value: unknown, field: string): Uint8Array {
  if (!(value instanceof Uint8Array)) fail(field, `must be binary, got ${describe(value)}`);
  return value;
}

/** A copy as a plain Uint8Array: the core may keep it long after the frame's buffer is gone. */
function bytesCopy(value: unknown, field: string): Uint8Array {
  return new Uint8Array(bytesView(value, field));
}

function array(value: unknown, field: string): readonly unknown[] {
  if (!Array.isArray(value)) fail(field, `must be an array, got ${describe(value)}`);
  return value;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value instanceof Uint8Array) return `binary(${value.byteLength})`;
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'string') return value.length <= 32 ? JSON.stringify(value) : 'a long string';
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return `${typeof value} ${String(value)}`;
  return typeof value;
}

function checkFrame(value: unknown, ctx: FrameContext): DecodedFrame {
  const frame = map(value, 'frame');
  const kind = get(frame, 'kind');
  switch (kind) {
    case FrameKind.Messages: {
      const list = array(get(frame, 'messages'), 'messages');
      if (list.length === 0) fail('messages', 'must not be empty');
      const messages = list.map((m, i) => checkMessage(m, `messages[${i}]`, ctx, false));
      return { kind, messages };
    }
    case FrameKind.SnapshotBegin: {
      const stream = positiveInt(get(frame, 'stream'), 'stream');
      const message = checkMessage(get(frame, 'message'), 'message', ctx, true);
      const snapshot = map(get(frame, 'snapshot'), 'snapshot');
      const metadata = checkSnapshotMetadata(get(snapshot, 'metadata'), 'snapshot.metadata');
      const totalBytes = nonNegativeInt(get(snapshot, 'totalBytes'), 'snapshot.totalBytes');
      if (totalBytes > ctx.maxSnapshotBytes) fail('snapshot.totalBytes', `${totalBytes} exceeds the limit of ${ctx.maxSnapshotBytes} bytes`);
      return { kind, stream, message, metadata, totalBytes };
    }
    case FrameKind.SnapshotChunk: {
      const stream = positiveInt(get(frame, 'stream'), 'stream');
      const offset = nonNegativeInt(get(frame, 'offset'), 'offset');
      const data = bytesView(get(frame, 'data'), 'data');
      if (data.byteLength === 0) fail('data', 'must not be empty');
      return { kind, stream, offset, data };
    }
    default:
      return fail('kind', `must be one of ${Object.values(FrameKind).join(', ')}, got ${describe(kind)}`);
  }
}

function checkMessageType(value: unknown, field: string, inSnapshotStream: boolean): MessageType {
  if (typeof value !== 'string' || !ALL_MESSAGE_TYPES.has(value)) fail(field, `must be a known message type, got ${describe(value)}`);
  if (!NETWORK_MESSAGE_TYPES.has(value)) fail(field, `'${value}' is a local message type, never accepted from a peer`);
  const type = value as MessageType;
  if (inSnapshotStream && type !== MessageType.Snap) fail(field, `must be '${MessageType.Snap}' in a snapshot stream, got '${type}'`);
  if (!inSnapshotStream && type === MessageType.Snap) fail(field, `'${MessageType.Snap}' messages travel only as snapshot streams`);
  return type;
}

function checkMessage(value: unknown, path: string, ctx: FrameContext, inSnapshotStream: boolean): Message {
  const m = map(value, path);
  const type = checkMessageType(get(m, 'type'), `${path}.type`, inSnapshotStream);
  const from = nodeId(get(m, 'from'), `${path}.from`);
  if (type === MessageType.TransferLeader) {
    // A follower forwards a TransferLeader unchanged (as etcd does), and its `from` names the
    // transferee, not the sender: it need only be a member.
    if (!ctx.isMember(from)) fail(`${path}.from`, `${from} is not a cluster member`);
  } else if (from !== ctx.peer) {
    fail(`${path}.from`, `${from} is not the authenticated peer ${ctx.peer}`);
  }
  const to = nodeId(get(m, 'to'), `${path}.to`);
  if (to !== ctx.self) fail(`${path}.to`, `${to} is not this node (${ctx.self})`);
  const term = nonNegativeInt(get(m, 'term'), `${path}.term`);
  const logTerm = nonNegativeInt(get(m, 'logTerm'), `${path}.logTerm`);
  const index = nonNegativeInt(get(m, 'index'), `${path}.index`);
  const commit = nonNegativeInt(get(m, 'commit'), `${path}.commit`);
  const reject = bool(get(m, 'reject'), `${path}.reject`);
  const rejectHint = nonNegativeInt(get(m, 'rejectHint'), `${path}.rejectHint`);
  const context = bytesCopy(get(m, 'context'), `${path}.context`);
  const entries = array(get(m, 'entries'), `${path}.entries`).map((e, i) => checkEntry(e, `${path}.entries[${i}]`));
  if (get(m, 'snapshot') !== undefined) fail(`${path}.snapshot`, 'must be absent: snapshot data travels only as chunks');
  return { type, from, to, term, logTerm, index, entries, commit, reject, rejectHint, context };
}

function checkEntry(value: unknown, path: string): Entry {
  const e = map(value, path);
  const term = nonNegativeInt(get(e, 'term'), `${path}.term`);
  const index = nonNegativeInt(get(e, 'index'), `${path}.index`);
  const rawType = get(e, 'type');
  if (rawType !== EntryType.Normal && rawType !== EntryType.ConfChange) fail(`${path}.type`, `must be an entry type (0 or 1), got ${describe(rawType)}`);
  const data = bytesCopy(get(e, 'data'), `${path}.data`);
  return { term, index, type: rawType, data };
}

function checkNodeIdList(value: unknown, path: string): NodeId[] {
  return array(value, path).map((id, i) => nodeId(id, `${path}[${i}]`));
}

function checkSnapshotMetadata(value: unknown, path: string): SnapshotMetadata {
  const md = map(value, path);
  const index = nonNegativeInt(get(md, 'index'), `${path}.index`);
  const term = nonNegativeInt(get(md, 'term'), `${path}.term`);
  const cs = map(get(md, 'confState'), `${path}.confState`);
  const voters = checkNodeIdList(get(cs, 'voters'), `${path}.confState.voters`);
  const learners = checkNodeIdList(get(cs, 'learners'), `${path}.confState.learners`);
  // A node is a voter or a learner, once: the core's tracker assumes it.
  const seen = new Set<NodeId>();
  for (const id of [...voters, ...learners]) {
    if (seen.has(id)) fail(`${path}.confState`, `lists node ${id} twice`);
    seen.add(id);
  }
  const confState: ConfState = { voters, learners };
  return { index, term, confState };
}
