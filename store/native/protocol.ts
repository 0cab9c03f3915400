// The store's native client protocol: msgpack frames over one WebSocket per client, on the
// master's --listen port at NATIVE_STORE_PATH. It exists for speed: the etcd v3 face (gRPC over
// HTTP/2) spends more CPU per call, in the client and the master, than the Raft write itself, so
// tools and benchmarks that need the store's throughput speak this instead.
//
// A client frame is an array of requests, a server frame an array of answers; each side puts what
// one turn of its event loop produced into one frame, so a hundred concurrent writes cost a frame
// or two, not a hundred.
//   request: [id, kind, body]       id: 1..2^53-1, unique among the connection's pending requests
//     kind 'txn':   body is a command { type: 'txn' | 'put' | 'deleteRange', ... } in the log's own
//                   shape (store/mvcc/commands.ts), validated exactly as the log validates it
//     kind 'range': body is { request: RangeRequest, serializable: boolean }
//   answer:  [id, 0, response]      the mvcc response (TxnResponse, PutResponse, RangeResponse...)
//            [id, code, message]    code: a gRPC status code (store/etcd/errors.ts), never 0
// Every frame from either side is validated before anything in it is used.

import { Packr } from 'msgpackr';
import type { RawData } from 'ws';

/** The URL path of the native store protocol on --listen. */
export const NATIVE_STORE_PATH = '/store/v1';
/** Bound on one frame, either way (a request is at most 1.5 MiB; a range answer can be larger). */
export const MAX_NATIVE_FRAME_BYTES = 16 * 1024 * 1024;
/** Bound on the requests of one client frame, and on the answers of one server frame. */
export const MAX_REQUESTS_PER_FRAME = 4_096;
/** Bound on a connection's requests waiting for their answers at the master; past it, RESOURCE_EXHAUSTED. */
export const MAX_PENDING_PER_CONNECTION = 8_192;

export const RequestKind = { Txn: 'txn', Range: 'range' } as const;
export type RequestKind = (typeof RequestKind)[keyof typeof RequestKind];

/** 0 in an answer's second field: success. Anything else is a gRPC status code. */
export const ANSWER_OK = 0;

/** Plain msgpack (maps, arrays, binaries, numbers): the same codec as the log's commands. */
export const nativePackr = new Packr({ useRecords: false, moreTypes: false });

export class NativeProtocolError extends Error {
  override readonly name = 'NativeProtocolError';
}

export interface WireRequest {
  readonly id: number;
  readonly kind: RequestKind;
  readonly body: unknown;
}

export interface WireAnswer {
  readonly id: number;
  /** ANSWER_OK, or a gRPC status code. */
  readonly code: number;
  /** The response when code is ANSWER_OK, else the error message (a string). */
  readonly body: unknown;
}

function unpackFrame(data: Uint8Array, what: string): unknown[] {
  if (data.byteLength > MAX_NATIVE_FRAME_BYTES) throw new NativeProtocolError(`${what} frame of ${data.byteLength} bytes is over ${MAX_NATIVE_FRAME_BYTES}`);
  let decoded: unknown;
  try {
    decoded = nativePackr.unpack(data);
  } catch (err) {
    throw new NativeProtocolError(`${what} frame is not msgpack: ${(err as Error).message}`);
  }
  if (!Array.isArray(decoded)) throw new NativeProtocolError(`${what} frame must be an array`);
  if (decoded.length === 0 || decoded.length > MAX_REQUESTS_PER_FRAME) {
    throw new NativeProtocolError(`${what} frame holds ${decoded.length} items; 1..${MAX_REQUESTS_PER_FRAME} allowed`);
  }
  return decoded;
}

function requestId(v: unknown, at: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw new NativeProtocolError(`${at}: id must be an integer 1..2^53-1`);
  return v;
}

/** A client frame, checked for shape (each body is validated when it is served). Throws NativeProtocolError. */
export function decodeRequestFrame(data: Uint8Array): WireRequest[] {
  return unpackFrame(data, 'request').map((item, i) => {
    if (!Array.isArray(item) || item.length !== 3) throw new NativeProtocolError(`request[${i}] must be [id, kind, body]`);
    const [id, kind, body] = item as unknown[];
    if (kind !== RequestKind.Txn && kind !== RequestKind.Range) {
      throw new NativeProtocolError(`request[${i}]: kind must be '${RequestKind.Txn}' or '${RequestKind.Range}'`);
    }
    return { id: requestId(id, `request[${i}]`), kind, body };
  });
}

/** A server frame, checked for shape (each response is validated by the call that awaits it). Throws NativeProtocolError. */
export function decodeAnswerFrame(data: Uint8Array): WireAnswer[] {
  return unpackFrame(data, 'answer').map((item, i) => {
    if (!Array.isArray(item) || item.length !== 3) throw new NativeProtocolError(`answer[${i}] must be [id, code, body]`);
    const [id, code, body] = item as unknown[];
    if (typeof code !== 'number' || !Number.isInteger(code) || code < 0 || code > 16) throw new NativeProtocolError(`answer[${i}]: code must be a gRPC status code`);
    if (code !== ANSWER_OK && typeof body !== 'string') throw new NativeProtocolError(`answer[${i}]: an error's body must be its message`);
    return { id: requestId(id, `answer[${i}]`), code, body };
  });
}

/** The bytes of a frame as ws hands it over (a Buffer, fragments, or an ArrayBuffer). */
export function frameBytes(data: RawData): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return data;
}

export function encodeFrame(items: readonly (readonly unknown[])[]): Uint8Array {
  // A copy: msgpackr hands out views of a buffer it reuses on the next pack.
  return new Uint8Array(nativePackr.pack(items));
}

// ---- responses, as the client checks them ----------------------------------------------------

/** What a client reads of a key-value in an answer. */
export interface WireKeyValue {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
  readonly createRevision: number;
  readonly modRevision: number;
  readonly version: number;
  readonly lease: number;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

function count(v: unknown, at: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new NativeProtocolError(`${at} must be a non-negative integer`);
  return v;
}

function bytes(v: unknown, at: string): Uint8Array {
  if (!(v instanceof Uint8Array)) throw new NativeProtocolError(`${at} must be bytes`);
  return v;
}

export function readKeyValue(v: unknown, at: string): WireKeyValue {
  if (!isRecord(v)) throw new NativeProtocolError(`${at} must be a key-value`);
  return {
    key: bytes(v['key'], `${at}.key`),
    value: bytes(v['value'], `${at}.value`),
    createRevision: count(v['createRevision'], `${at}.createRevision`),
    modRevision: count(v['modRevision'], `${at}.modRevision`),
    version: count(v['version'], `${at}.version`),
    lease: count(v['lease'], `${at}.lease`),
  };
}

/** The fields of a txn answer a client uses: the header revision and which branch ran. */
export function readTxnAnswer(v: unknown): { revision: number; succeeded: boolean } {
  if (!isRecord(v) || v['type'] !== 'txn') throw new NativeProtocolError('a txn answer must be a txn response');
  if (typeof v['succeeded'] !== 'boolean') throw new NativeProtocolError('txn answer: succeeded must be a boolean');
  return { revision: count(v['revision'], 'txn answer: revision'), succeeded: v['succeeded'] };
}

/** A write's single-op answer (put or deleteRange): its revision and, for a delete, how many keys went. */
export function readWriteAnswer(v: unknown, type: 'put' | 'deleteRange'): { revision: number; deleted: number } {
  if (!isRecord(v) || v['type'] !== type) throw new NativeProtocolError(`a ${type} answer must be a ${type} response`);
  return { revision: count(v['revision'], `${type} answer: revision`), deleted: type === 'deleteRange' ? count(v['deleted'], 'deleteRange answer: deleted') : 0 };
}

export function readRangeAnswer(v: unknown): { revision: number; kvs: WireKeyValue[]; count: number; more: boolean } {
  if (!isRecord(v) || v['type'] !== 'range') throw new NativeProtocolError('a range answer must be a range response');
  const kvs = v['kvs'];
  if (!Array.isArray(kvs)) throw new NativeProtocolError('range answer: kvs must be an array');
  if (typeof v['more'] !== 'boolean') throw new NativeProtocolError('range answer: more must be a boolean');
  return {
    revision: count(v['revision'], 'range answer: revision'),
    kvs: kvs.map((kv, i) => readKeyValue(kv, `range answer: kvs[${i}]`)),
    count: count(v['count'], 'range answer: count'),
    more: v['more'],
  };
}
