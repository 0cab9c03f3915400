// The codec of a watch event (WatchEvent in proto/api/service.proto), the message every watcher is
// sent for every change. protobufjs encodes it through fromObject, a Writer of linked operations
// and a copy; this writes the usual shape (a type, an object with its bytes and a resourceVersion)
// straight into one buffer, and reads that shape straight back. Anything else, a bookmark's empty
// object or any bytes not laid out exactly so, goes through protobufjs, so both paths give the
// same bytes and the same message (watch-event-codec.test.ts compares them on random events and
// mutated frames).
//
//   WatchEvent   { string type = 1; StoredObject object = 2; }
//   StoredObject { bytes raw = 1; uint64 resource_version = 2; }

import type { WatchEventMsg } from './api-methods.js';
import type { MessageCodec } from './rpc/typed.js';

const TYPE_TAG = 0x0a; // field 1, length-delimited
const OBJECT_TAG = 0x12; // field 2, length-delimited
const RAW_TAG = 0x0a; // field 1, length-delimited
const VERSION_TAG = 0x10; // field 2, varint

/** A resourceVersion the fast path writes: a decimal of at most 15 digits (below 2^53), no leading zero. */
const SMALL_DECIMAL = /^[1-9][0-9]{0,14}$/;

function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

function writeVarint(out: Uint8Array, at: number, n: number): number {
  while (n >= 0x80) {
    out[at++] = (n % 128) | 0x80;
    n = Math.floor(n / 128);
  }
  out[at++] = n;
  return at;
}

function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) >= 0x80) return false;
  return true;
}

function encodeFast(msg: WatchEventMsg): Uint8Array | undefined {
  const object = msg.object;
  if (object === undefined || object === null) return undefined;
  const { type } = msg;
  const { raw, resourceVersion } = object;
  if (type.length === 0 || !isAscii(type) || raw.length === 0 || !SMALL_DECIMAL.test(resourceVersion)) return undefined;
  const version = Number(resourceVersion);
  const objectSize = 1 + varintSize(raw.length) + raw.length + 1 + varintSize(version);
  // Every byte is written below; allocUnsafe takes small sizes from Node's pool (as protobufjs's
  // Writer does), where a fresh Uint8Array of a few KB costs a few µs here.
  const out = Buffer.allocUnsafe(1 + varintSize(type.length) + type.length + 1 + varintSize(objectSize) + objectSize);
  let at = 0;
  out[at++] = TYPE_TAG;
  at = writeVarint(out, at, type.length);
  for (let i = 0; i < type.length; i++) out[at++] = type.charCodeAt(i);
  out[at++] = OBJECT_TAG;
  at = writeVarint(out, at, objectSize);
  out[at++] = RAW_TAG;
  at = writeVarint(out, at, raw.length);
  out.set(raw, at);
  at += raw.length;
  out[at++] = VERSION_TAG;
  writeVarint(out, at, version);
  return out;
}

/** Reads the fast path's layout; undefined for anything else (protobufjs then decides). */
function decodeFast(bytes: Uint8Array): WatchEventMsg | undefined {
  let at = 0;
  // A varint of at most 7 bytes (below 2^49); -1 when not one.
  const varint = (): number => {
    let n = 0;
    let scale = 1;
    for (let i = 0; i < 7; i++) {
      if (at >= bytes.length) return -1;
      const b = bytes[at++]!;
      n += (b & 0x7f) * scale;
      if (b < 0x80) return n;
      scale *= 128;
    }
    return -1;
  };
  if (bytes[at++] !== TYPE_TAG) return undefined;
  const typeLength = varint();
  if (typeLength <= 0 || at + typeLength > bytes.length) return undefined;
  let type = '';
  for (let i = 0; i < typeLength; i++) {
    const c = bytes[at++]!;
    if (c >= 0x80) return undefined;
    type += String.fromCharCode(c);
  }
  if (bytes[at++] !== OBJECT_TAG) return undefined;
  const objectLength = varint();
  if (objectLength <= 0 || at + objectLength !== bytes.length) return undefined;
  if (bytes[at++] !== RAW_TAG) return undefined;
  const rawLength = varint();
  if (rawLength <= 0 || at + rawLength > bytes.length) return undefined;
  const raw = bytes.subarray(at, at + rawLength);
  at += rawLength;
  if (bytes[at++] !== VERSION_TAG) return undefined;
  const version = varint();
  if (version <= 0 || at !== bytes.length) return undefined;
  return { type, object: { raw, resourceVersion: String(version) } };
}

/** The watch event codec: the fast paths above, else `fallback` (protobufjs). */
export function watchEventCodec(fallback: MessageCodec<WatchEventMsg>): MessageCodec<WatchEventMsg> {
  return {
    encode: (msg) => encodeFast(msg) ?? fallback.encode(msg),
    decode: (bytes) => decodeFast(bytes) ?? fallback.decode(bytes),
  };
}
