// The wire form of proto/rpc.proto: decoding and validating what a peer sent, encoding what we send.
// Nothing a peer sends can throw out of the decoders; a bad frame comes back as a FrameError.

import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import type { FieldViolation, WireStatus } from './status.js';

export const RPC_PROTO_FILE = 'proto/rpc.proto';
export const RPC_PROTO_PACKAGE = 'flotilla.rpc.v1';

/** The HTTP path clients upgrade on. */
export const RPC_PATH = '/rpc';

/**
 * The repository (or installed package) root: the nearest ancestor of this module holding
 * package.json. Works from the sources (apiserver/rpc/) and from the build (dist/apiserver/rpc/),
 * whose depths differ.
 */
export function packageRoot(from: string = import.meta.url): string {
  let dir = dirname(fileURLToPath(from));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${fileURLToPath(from)}`);
    dir = parent;
  }
}

interface RpcTypes {
  readonly clientFrame: protobuf.Type;
  readonly serverFrame: protobuf.Type;
}

let types: RpcTypes | undefined;

function rpcTypes(): RpcTypes {
  if (types === undefined) {
    const root = protobuf.loadSync(join(packageRoot(), RPC_PROTO_FILE));
    types = {
      clientFrame: root.lookupType(`${RPC_PROTO_PACKAGE}.ClientFrame`),
      serverFrame: root.lookupType(`${RPC_PROTO_PACKAGE}.ServerFrame`),
    };
  }
  return types;
}

export type ClientFrame =
  | { readonly kind: 'call'; readonly streamId: number; readonly method: string; readonly payload: Uint8Array; readonly timeoutMs: number }
  | { readonly kind: 'cancel'; readonly streamId: number };

export type ServerFrame =
  | { readonly kind: 'message'; readonly streamId: number; readonly payload: Uint8Array }
  | { readonly kind: 'end'; readonly streamId: number; readonly status: WireStatus };

/** Why a frame was refused; the connection that sent it is closed (the stream ids can no longer be trusted). */
export class FrameError extends Error {
  override readonly name = 'FrameError';
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(`bad frame: ${field} ${reason}`);
  }
}

export type Decoded<F> = { readonly ok: true; readonly frame: F } | { readonly ok: false; readonly error: FrameError };

/** Longest method name accepted: names are "package.Service/Method", and they end up in logs. */
export const MAX_METHOD_NAME_LENGTH = 256;

const CONVERSION: protobuf.IConversionOptions = { longs: Number, defaults: true, oneofs: true };

type Fields = Record<string, unknown>;

function decodeFields(type: protobuf.Type, bytes: Uint8Array): Fields | FrameError {
  try {
    return type.toObject(type.decode(bytes), CONVERSION);
  } catch (err) {
    return new FrameError('frame', `does not decode as ${type.name}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function asBytes(v: unknown): Uint8Array {
  return v instanceof Uint8Array ? v : new Uint8Array(0);
}

function asString(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

function asNumber(v: unknown): number {
  return typeof v === 'number' ? v : 0;
}

function fail<F>(field: string, reason: string): Decoded<F> {
  return { ok: false, error: new FrameError(field, reason) };
}

export function decodeClientFrame(bytes: Uint8Array): Decoded<ClientFrame> {
  const f = decodeFields(rpcTypes().clientFrame, bytes);
  if (f instanceof FrameError) return { ok: false, error: f };
  const streamId = asNumber(f['streamId']);
  if (streamId === 0) return fail('stream_id', 'is 0; stream ids start at 1');
  switch (f['kind']) {
    case 'call': {
      const call = (f['call'] ?? {}) as Fields;
      const method = asString(call['method']);
      if (method === '') return fail('call.method', 'is empty');
      if (method.length > MAX_METHOD_NAME_LENGTH) return fail('call.method', `is longer than ${MAX_METHOD_NAME_LENGTH} characters`);
      return { ok: true, frame: { kind: 'call', streamId, method, payload: asBytes(call['payload']), timeoutMs: asNumber(call['timeoutMs']) } };
    }
    case 'cancel':
      return { ok: true, frame: { kind: 'cancel', streamId } };
    default:
      return fail('kind', 'is neither call nor cancel');
  }
}

function decodeStatus(s: Fields): WireStatus {
  const violations: FieldViolation[] = [];
  for (const v of Array.isArray(s['violations']) ? (s['violations'] as Fields[]) : []) {
    violations.push({ field: asString(v['field']), description: asString(v['description']) });
  }
  const metadata: Record<string, string> = {};
  const m = s['metadata'];
  if (typeof m === 'object' && m !== null) for (const [k, v] of Object.entries(m)) metadata[k] = asString(v);
  return { code: asNumber(s['code']), message: asString(s['message']), reason: asString(s['reason']), violations, metadata };
}

export function decodeServerFrame(bytes: Uint8Array): Decoded<ServerFrame> {
  const f = decodeFields(rpcTypes().serverFrame, bytes);
  if (f instanceof FrameError) return { ok: false, error: f };
  const streamId = asNumber(f['streamId']);
  if (streamId === 0) return fail('stream_id', 'is 0; stream ids start at 1');
  switch (f['kind']) {
    case 'message':
      return { ok: true, frame: { kind: 'message', streamId, payload: asBytes(f['message']) } };
    case 'end':
      return { ok: true, frame: { kind: 'end', streamId, status: decodeStatus((f['end'] ?? {}) as Fields) } };
    default:
      return fail('kind', 'is neither message nor end');
  }
}

export function encodeCall(streamId: number, method: string, payload: Uint8Array, timeoutMs: number): Uint8Array {
  return rpcTypes().clientFrame.encode({ streamId, call: { method, payload, timeoutMs } }).finish();
}

export function encodeCancel(streamId: number): Uint8Array {
  return rpcTypes().clientFrame.encode({ streamId, cancel: {} }).finish();
}

export function encodeMessage(streamId: number, payload: Uint8Array): Uint8Array {
  return rpcTypes().serverFrame.encode({ streamId, message: payload }).finish();
}

export function encodeEnd(streamId: number, status: WireStatus): Uint8Array {
  return rpcTypes().serverFrame
    .encode({
      streamId,
      end: { code: status.code, message: status.message, reason: status.reason, violations: status.violations, metadata: status.metadata },
    })
    .finish();
}

/** The bytes of a ws 'message' event, however ws chose to deliver them. */
export function rawBytes(data: Buffer | ArrayBuffer | Buffer[]): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return data;
}
