// The stored and wire form of API objects: protobuf messages defined in proto/api/*.proto, loaded
// with protobufjs reflection when this module loads. Conversion walks the reflection, so a field
// added to a .proto file needs no code here, only a matching field in types.ts.
//
// JSON form ↔ message rules:
// - field names: protobufjs' camelCase of the proto name, unless the field has a json_name;
// - IntOrString: a number or a string in JSON, the IntOrString message (one of int_val/str_val) in proto;
// - int64: a plain JS number in JSON (exact up to 2^53, which no Kubernetes counter reaches);
// - bytes: base64 strings in JSON;
// - decoding omits zero values, empty lists, maps and messages, so the JSON form stays minimal;
//   `optional` fields (presence tracked) keep their zero, because for them 0 is not "unset".

import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import type { ApiObject } from './object.js';
import { API_VERSION_OF_KIND, isKind } from './types.js';

export const API_PROTO_PACKAGE = 'flotilla.api.v1';
export const API_PROTO_FILES = ['meta.proto', 'core.proto', 'apps.proto', 'coordination.proto'] as const;
/** Relative to the directory that holds package.json; the build copies no .proto files into dist/. */
const API_PROTO_DIR = join('proto', 'api');
const INT_OR_STRING_TYPE = `${API_PROTO_PACKAGE}.IntOrString`;
/** Custom field option listing the strings a field accepts, '|'-separated (see meta.proto). */
const ENUM_VALUES_OPTION = '(enum_values)';

export class CodecError extends Error {
  override readonly name: string = 'CodecError';
}

/** The kind has no message in proto/api (or the object names no kind). */
export class UnknownKindError extends CodecError {
  override readonly name = 'UnknownKindError';
  constructor(readonly kind: string) {
    super(`unknown kind ${JSON.stringify(kind)}: no message ${API_PROTO_PACKAGE}.${kind} in ${API_PROTO_DIR}`);
  }
}

/** The bytes are not a valid encoding of the kind's message. */
export class DecodeError extends CodecError {
  override readonly name = 'DecodeError';
  constructor(readonly kind: string, reason: string, options?: { cause?: unknown }) {
    super(`cannot decode ${kind}: ${reason}`, options);
  }
}

/**
 * The directory holding the API's .proto files: proto/api/ under the nearest directory above
 * `from` (by default this module's) that holds package.json, so it is found both from the sources
 * (proto/api/codec.ts) and from the build (dist/proto/api/codec.js).
 */
export function apiProtoDir(from: string = dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return join(dir, API_PROTO_DIR);
    const parent = dirname(dir);
    if (parent === dir) throw new CodecError(`no package.json above ${from}: cannot find ${API_PROTO_DIR}`);
    dir = parent;
  }
}

function loadRoot(): protobuf.Root {
  const dir = apiProtoDir();
  const root = new protobuf.Root();
  root.loadSync(API_PROTO_FILES.map((f) => join(dir, f)), { keepCase: false });
  root.resolveAll();
  return root;
}

const root = loadRoot();
const intOrStringType = root.lookupType(INT_OR_STRING_TYPE);

/** The message type of a kind ("Pod" → flotilla.api.v1.Pod), or undefined when there is none. */
export function findMessageType(kind: string): protobuf.Type | undefined {
  // Only kinds, which carry api_version/kind/metadata, not every message (e.g. "PodSpec").
  if (!/^[A-Z][A-Za-z]*$/.test(kind)) return undefined;
  const found = root.lookup(`${API_PROTO_PACKAGE}.${kind}`);
  if (!(found instanceof protobuf.Type)) return undefined;
  const isKindMessage = found.fields['kind'] !== undefined && found.fields['metadata'] !== undefined;
  return isKindMessage ? found : undefined;
}

/** Kind → its message type, filled on first use: a name lookup per encode and decode shows in profiles. */
const typesByKind = new Map<string, protobuf.Type>();

export function messageTypeOf(kind: string): protobuf.Type {
  const cached = typesByKind.get(kind);
  if (cached !== undefined) return cached;
  const type = findMessageType(kind);
  if (type === undefined) throw new UnknownKindError(kind);
  typesByKind.set(kind, type);
  return type;
}

/**
 * What the conversions ask of a field, computed once per field: protobufjs recomputes some of it on
 * every access (`fullName` walks the parents and joins them), and the walks ask per value.
 */
interface FieldFacts {
  readonly jsonName: string;
  readonly messageType: protobuf.Type | undefined;
}
const fieldFacts = new WeakMap<protobuf.Field, FieldFacts>();

function factsOf(field: protobuf.Field): FieldFacts {
  let facts = fieldFacts.get(field);
  if (facts === undefined) {
    const explicit: unknown = field.options?.['json_name'];
    field.resolve();
    facts = {
      jsonName: typeof explicit === 'string' ? explicit : field.name,
      messageType: field.resolvedType instanceof protobuf.Type ? field.resolvedType : undefined,
    };
    fieldFacts.set(field, facts);
  }
  return facts;
}

/** The field's name in the JSON form. */
export function jsonNameOf(field: protobuf.Field): string {
  return factsOf(field).jsonName;
}

/** The strings the field accepts, or undefined when any string goes. */
export function enumValuesOf(field: protobuf.Field): readonly string[] | undefined {
  const values: unknown = field.options?.[ENUM_VALUES_OPTION];
  return typeof values === 'string' ? values.split('|') : undefined;
}

/** The field's message type, when it is a message (for maps: the value's message type). */
export function messageTypeOfField(field: protobuf.Field): protobuf.Type | undefined {
  return factsOf(field).messageType;
}

export function isIntOrString(type: protobuf.Type): boolean {
  return type === intOrStringType;
}

/** Fields declared `optional` in proto3: their zero value is a value, not "unset". */
export function tracksPresence(field: protobuf.Field): boolean {
  return field.options?.['proto3_optional'] === true;
}


// ---- Compiled converters ----
//
// Each message type gets a MessagePlan once, on first use: its fields with everything the
// conversions ask precomputed (JSON name, wire tag, what kind of value, the nested plan). encodeObject
// walks the JSON form once, writing straight into a protobufjs Writer; decodeObject reads the bytes
// once with a protobufjs Reader, building the JSON form as it goes. No protobufjs message objects,
// no fromObject/toObject, no reflection per value.
//
// Invariant: the results are exactly those of the earlier three-walk codec, kept as
// codec-reference.ts and compared against it by codec-differential.test.ts:
// - encode makes the same Writer calls, in the same order, with the same coerced values as
//   "JSON walk → Type.fromObject → Type.encode" did: fields in field-number order; a present value
//   (not undefined or null) is written even when it is zero or empty; String()/Boolean()/`|0`/
//   Long.fromValue coercions; a non-object where a message goes is written as an empty message;
//   a map or list of the wrong shape is skipped; the map key "__proto__" is dropped (the old JSON
//   walk assigned it into a plain object, which sets no key).
// - decode makes the same Reader calls, in the same order, with the same bounds checks as the
//   generated Type.decode, so bad bytes fail with the same errors, and it keeps the JSON rules of
//   the old walk: zero scalars omitted unless `optional`, empty messages omitted, maps and lists
//   omitted only when absent (elements and map values are kept even when empty), IntOrString as
//   its int_val when one was read, else its str_val; keys in declaration order.
//
// Only the field shapes the API's .proto files use are compiled; another shape (an enum, a double,
// a repeated number, a map of messages, a recursive message) is a CodecError when the plan is built,
// so it shows up in the tests, not as a silent difference.

type Plain = Record<string, unknown>;

function isPlain(value: unknown): value is Plain {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

const EMPTY: Plain = Object.freeze({});

/**
 * What a field holds. Singular shapes come first: a field of a shape below Shape.repeatedString
 * that arrives twice replaces its value.
 */
const Shape = {
  string: 0,
  bool: 1,
  int32: 2,
  int64: 3,
  message: 4,
  repeatedString: 5,
  repeatedMessage: 6,
  stringMap: 7,
  bytesMap: 8,
} as const;
type Shape = (typeof Shape)[keyof typeof Shape];

interface FieldPlan {
  readonly shape: Shape;
  readonly jsonName: string;
  /** Position in the message's declaration order, which is also the JSON key order. */
  readonly index: number;
  /** The wire tag written before each value (for maps: before each entry), and its varint size. */
  readonly tag: number;
  readonly tagSize: number;
  /** proto3 `optional`: a zero is kept when decoding. */
  readonly keepsZero: boolean;
  /** The nested message, for Shape.message and Shape.repeatedMessage. */
  readonly message: MessagePlan | undefined;
  /** `.flotilla.api.v1.Type.field` (fullName has the leading dot), as protobufjs names a field in its TypeErrors. */
  readonly path: string;
}

interface MessagePlan {
  readonly intOrString: boolean;
  /** Declaration order. */
  readonly fields: readonly FieldPlan[];
  /** Field-number order, the order Type.encode writes in. */
  readonly encodeOrder: readonly FieldPlan[];
  /** Field number → field; holes for numbers the message does not have. */
  readonly byNumber: readonly (FieldPlan | undefined)[];
  /** Nesting levels below and including this message; kept under protobufjs' recursion limit. */
  readonly depth: number;
}

const WIRE_VARINT = 0;
const WIRE_LENGTH_DELIMITED = 2;
const SCALAR_SHAPES: Readonly<Record<string, Shape>> = { string: Shape.string, bool: Shape.bool, int32: Shape.int32, int64: Shape.int64 };

const plans = new Map<protobuf.Type, MessagePlan>();
/** Types whose plan is being built, to refuse recursive messages. */
const planning = new Set<protobuf.Type>();

function unsupported(type: protobuf.Type, field: protobuf.Field, what: string): CodecError {
  return new CodecError(`${type.fullName}.${field.name}: ${what} is not supported by the compiled codec (proto/api/codec.ts)`);
}

function planOf(type: protobuf.Type): MessagePlan {
  const cached = plans.get(type);
  if (cached !== undefined) return cached;
  if (planning.has(type)) throw new CodecError(`${type.fullName} is recursive: the compiled codec needs an acyclic schema`);
  planning.add(type);
  try {
    const fields = type.fieldsArray.map((field, index) => planField(type, field, index));
    const encodeOrder = [...fields].sort((a, b) => (a.tag >>> 3) - (b.tag >>> 3));
    const byNumber: (FieldPlan | undefined)[] = [];
    for (const f of fields) byNumber[f.tag >>> 3] = f;
    for (let i = 0; i < byNumber.length; i++) byNumber[i] ??= undefined; // dense, so lookups stay fast
    const depth = 1 + Math.max(0, ...fields.map((f) => f.message?.depth ?? 0));
    if (depth >= protobuf.util.recursionLimit) throw new CodecError(`${type.fullName} nests ${depth} deep, past protobufjs' recursion limit`);
    const plan: MessagePlan = { intOrString: isIntOrString(type), fields, encodeOrder, byNumber, depth };
    plans.set(type, plan);
    return plan;
  } finally {
    planning.delete(type);
  }
}

function planField(type: protobuf.Type, field: protobuf.Field, index: number): FieldPlan {
  field.resolve();
  const messageType = messageTypeOfField(field);
  if (field.resolvedType !== null && messageType === undefined) throw unsupported(type, field, 'an enum');
  let shape: Shape | undefined;
  let wireType = WIRE_LENGTH_DELIMITED;
  if (field.map) {
    if (field instanceof protobuf.MapField && field.keyType !== 'string') throw unsupported(type, field, `a map keyed by ${field.keyType}`);
    if (messageType !== undefined) throw unsupported(type, field, 'a map of messages');
    if (field.type === 'string') shape = Shape.stringMap;
    else if (field.type === 'bytes') shape = Shape.bytesMap;
  } else if (field.repeated) {
    if (messageType !== undefined) shape = Shape.repeatedMessage;
    else if (field.type === 'string') shape = Shape.repeatedString;
  } else if (messageType !== undefined) {
    shape = Shape.message;
  } else {
    shape = SCALAR_SHAPES[field.type];
    if (shape !== Shape.string) wireType = WIRE_VARINT;
  }
  // decodeMessage reads a field's value back from the object it builds by name.
  if (jsonNameOf(field) in Object.prototype) throw unsupported(type, field, `the JSON name ${jsonNameOf(field)}`);
  if (shape === undefined) throw unsupported(type, field, `a${field.map ? ' map of' : field.repeated ? ' repeated' : ''} ${field.type}`);
  return {
    shape,
    jsonName: jsonNameOf(field),
    index,
    tag: ((field.id << 3) | wireType) >>> 0,
    tagSize: varint32Size(((field.id << 3) | wireType) >>> 0),
    keepsZero: tracksPresence(field),
    message: messageType === undefined ? undefined : planOf(messageType),
    path: `${type.fullName}.${field.name}`,
  };
}

/** The plan of a kind's message: kind → plan without a type lookup on the hot path. */
const plansByKind = new Map<string, MessagePlan>();

function planOfKind(kind: string): MessagePlan {
  let plan = plansByKind.get(kind);
  if (plan === undefined) {
    plan = planOf(messageTypeOf(kind));
    plansByKind.set(kind, plan);
  }
  return plan;
}

// ---- JSON form → bytes ----

type Int64Value = Parameters<protobuf.Writer['int64']>[0];
/** protobufjs' Long (from the `long` package), as Type.fromObject uses it for int64 fields. */
const Long = protobuf.util.Long as unknown as { fromValue(value: unknown, unsigned: boolean): Int64Value };

// Two passes over the JSON form: the first sizes every string and nested message, the second
// writes into one buffer of the total size, so there is no protobufjs Writer and its list of
// operations per value. The first pass records, in the order the second meets them, each string's
// UTF-8 length and each nested message's or map entry's length (`lengths`), and each bytes value
// as protobufjs' own Writer encodes it (`chunks`): the passes walk the same fields in the same order
// and coerce values the same way, so the second only replays.

interface Encoding {
  readonly lengths: number[];
  readonly chunks: Uint8Array[];
  nextLength: number;
  nextChunk: number;
}

function varint32Size(value: number): number {
  return value < 0x80 ? 1 : value < 0x4000 ? 2 : value < 0x200000 ? 3 : value < 0x10000000 ? 4 : 5;
}

/** protobufjs' utf8.length, which agrees with Buffer.byteLength (a lone surrogate is 3 bytes). */
function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if ((c & 0xfc00) === 0xd800 && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      i++;
      n += 4;
    } else n += 3;
  }
  return n;
}

/** Writer.int32(): a negative value is a 10-byte varint of its 64-bit two's complement. */
function int32Size(value: number): number {
  return value < 0 ? 10 : varint32Size(value);
}

/** The 64-bit value Type.fromObject made (Long.fromValue) and Writer.int64() wrote (LongBits.from). */
function int64Bits(value: unknown): protobuf.util.LongBits {
  return protobuf.util.LongBits.from(Long.fromValue(value, false));
}

function sizeString(s: string, e: Encoding): number {
  const n = utf8Length(s);
  e.lengths.push(n);
  return varint32Size(n) + n;
}

function sizeMessage(plan: MessagePlan, json: Plain, e: Encoding): number {
  let size = 0;
  for (const f of plan.encodeOrder) {
    const value = json[f.jsonName];
    if (value === undefined || value === null) continue;
    switch (f.shape) {
      case Shape.string:
        size += f.tagSize + sizeString(String(value), e);
        break;
      case Shape.bool:
        size += f.tagSize + 1;
        break;
      case Shape.int32:
        // `| 0` is fromObject's own coercion (ToInt32), not a number check.
        size += f.tagSize + int32Size((value as number) | 0);
        break;
      case Shape.int64:
        size += f.tagSize + int64Bits(value).length();
        break;
      case Shape.message:
        size += f.tagSize + sizeNested(f.message!, value, e);
        break;
      case Shape.repeatedString:
        if (!Array.isArray(value)) break;
        for (let i = 0; i < value.length; i++) size += f.tagSize + sizeString(String(value[i]), e);
        break;
      case Shape.repeatedMessage:
        if (!Array.isArray(value)) break;
        for (let i = 0; i < value.length; i++) {
          const element: unknown = value[i];
          // A hole (not an undefined element) reached fromObject as a missing element, which it refused.
          if (element === undefined && !(i in value)) throw TypeError(`${f.path}: object expected`);
          size += f.tagSize + sizeNested(f.message!, element, e);
        }
        break;
      case Shape.stringMap:
      case Shape.bytesMap:
        if (!isPlain(value)) break;
        for (const key of Object.keys(value)) {
          if (key === '__proto__') continue;
          // Lengths in the order the writer reads them: key, value (strings only), entry.
          let keySize: number;
          let valueSize: number;
          if (f.shape === Shape.stringMap) {
            keySize = sizeString(key, e);
            valueSize = sizeString(String(value[key]), e);
          } else {
            const bytes = bytesOf(value[key]);
            if (bytes === undefined) continue;
            keySize = sizeString(key, e);
            // Length and bytes, exactly as Writer.bytes() writes them.
            const chunk = protobuf.Writer.create().bytes(bytes).finish();
            e.chunks.push(chunk);
            valueSize = chunk.length;
          }
          const entry = 1 + keySize + 1 + valueSize;
          e.lengths.push(entry);
          size += f.tagSize + varint32Size(entry) + entry;
        }
        break;
    }
  }
  return size;
}

/** A nested message with its length: a slot for the length is taken before its fields'. */
function sizeNested(plan: MessagePlan, value: unknown, e: Encoding): number {
  const slot = e.lengths.length;
  e.lengths.push(0);
  let size: number;
  if (plan.intOrString) {
    if (typeof value === 'number') size = 1 + int32Size(value | 0);
    else if (typeof value === 'string') size = 1 + sizeString(value, e);
    else size = 0;
  } else {
    size = sizeMessage(plan, isPlain(value) ? value : EMPTY, e);
  }
  e.lengths[slot] = size;
  return varint32Size(size) + size;
}

function writeVarint32(value: number, out: Uint8Array, pos: number): number {
  while (value > 0x7f) {
    out[pos++] = (value & 0x7f) | 0x80;
    value >>>= 7;
  }
  out[pos++] = value;
  return pos;
}

/** protobufjs' writeVarint64. */
function writeVarint64(lo: number, hi: number, out: Uint8Array, pos: number): number {
  while (hi) {
    out[pos++] = (lo & 0x7f) | 0x80;
    lo = ((lo >>> 7) | (hi << 25)) >>> 0;
    hi >>>= 7;
  }
  while (lo > 0x7f) {
    out[pos++] = (lo & 0x7f) | 0x80;
    lo >>>= 7;
  }
  out[pos++] = lo;
  return pos;
}

function writeInt32(value: number, out: Uint8Array, pos: number): number {
  return value < 0 ? writeVarint64(value >>> 0, 0xffffffff, out, pos) : writeVarint32(value, out, pos);
}

/** As BufferWriter.string(): protobufjs' UTF-8 for fewer than 40 characters, Buffer's for more. */
function writeString(s: string, out: Buffer, pos: number, e: Encoding): number {
  const n = e.lengths[e.nextLength++] as number;
  pos = writeVarint32(n, out, pos);
  if (n === 0) return pos;
  if (s.length < 40) protobuf.util.utf8.write(s, out, pos);
  else out.write(s, pos, n, 'utf8');
  return pos + n;
}

function writeMessage(plan: MessagePlan, json: Plain, out: Buffer, pos: number, e: Encoding): number {
  for (const f of plan.encodeOrder) {
    const value = json[f.jsonName];
    if (value === undefined || value === null) continue;
    switch (f.shape) {
      case Shape.string:
        pos = writeString(String(value), out, writeVarint32(f.tag, out, pos), e);
        break;
      case Shape.bool:
        pos = writeVarint32(f.tag, out, pos);
        out[pos++] = value ? 1 : 0;
        break;
      case Shape.int32:
        pos = writeInt32((value as number) | 0, out, writeVarint32(f.tag, out, pos));
        break;
      case Shape.int64: {
        const bits = int64Bits(value);
        pos = writeVarint64(bits.lo, bits.hi, out, writeVarint32(f.tag, out, pos));
        break;
      }
      case Shape.message:
        pos = writeNested(f.message!, value, out, writeVarint32(f.tag, out, pos), e);
        break;
      case Shape.repeatedString:
        if (!Array.isArray(value)) break;
        for (let i = 0; i < value.length; i++) pos = writeString(String(value[i]), out, writeVarint32(f.tag, out, pos), e);
        break;
      case Shape.repeatedMessage:
        if (!Array.isArray(value)) break;
        for (let i = 0; i < value.length; i++) pos = writeNested(f.message!, value[i], out, writeVarint32(f.tag, out, pos), e);
        break;
      case Shape.stringMap:
      case Shape.bytesMap:
        if (!isPlain(value)) break;
        for (const key of Object.keys(value)) {
          if (key === '__proto__') continue;
          if (f.shape === Shape.bytesMap && bytesOf(value[key]) === undefined) continue;
          pos = writeVarint32(f.tag, out, pos);
          // The entry's length was recorded after its key's and value's lengths.
          const keyLength = e.nextLength;
          e.nextLength++;
          if (f.shape === Shape.stringMap) e.nextLength++;
          pos = writeVarint32(e.lengths[e.nextLength++] as number, out, pos);
          const afterEntry = e.nextLength;
          e.nextLength = keyLength;
          out[pos++] = 10;
          pos = writeString(key, out, pos, e);
          out[pos++] = 18;
          if (f.shape === Shape.stringMap) {
            pos = writeString(String(value[key]), out, pos, e);
          } else {
            const chunk = e.chunks[e.nextChunk++] as Uint8Array;
            out.set(chunk, pos);
            pos += chunk.length;
          }
          e.nextLength = afterEntry;
        }
        break;
    }
  }
  return pos;
}

function writeNested(plan: MessagePlan, value: unknown, out: Buffer, pos: number, e: Encoding): number {
  pos = writeVarint32(e.lengths[e.nextLength++] as number, out, pos);
  if (plan.intOrString) {
    if (typeof value === 'number') return writeInt32(value | 0, out, writeVarint32(8, out, pos));
    if (typeof value === 'string') return writeString(value, out, writeVarint32(18, out, pos), e);
    return pos;
  }
  return writeMessage(plan, isPlain(value) ? value : EMPTY, out, pos, e);
}

/**
 * A bytes value as Type.fromObject makes it: base64 text decoded (by protobufjs' decoder, which
 * differs from Buffer's on bad input), anything with a length taken as it is, anything else
 * left out (and null or undefined throw, as fromObject's `value.length` did).
 */
function bytesOf(value: unknown): Uint8Array | undefined {
  if (typeof value === 'string') {
    const bytes = protobuf.util.newBuffer(protobuf.util.base64.length(value));
    protobuf.util.base64.decode(value, bytes, 0);
    return bytes;
  }
  return (value as { length: number }).length >= 0 ? (value as Uint8Array) : undefined;
}

export function encodeObject(obj: ApiObject): Uint8Array {
  const plan = planOfKind(obj.kind);
  const e: Encoding = { lengths: [], chunks: [], nextLength: 0, nextChunk: 0 };
  // ApiObject is an interface without an index signature; the walk reads it by field name.
  const json = obj as unknown as Plain;
  // Buffer.allocUnsafe, as BufferWriter.finish() allocates (small ones share Node's pool).
  const out = Buffer.allocUnsafe(sizeMessage(plan, json, e));
  const end = writeMessage(plan, json, out, 0, e);
  if (end !== out.length) throw new CodecError(`encoding ${obj.kind} wrote ${end} bytes, sized ${out.length}: the two passes disagree`);
  return out;
}

// ---- bytes → JSON form ----

/** Reader.skipType's second parameter (the nesting depth), which protobufjs' typings leave out. */
type SkippingReader = protobuf.Reader & { skipType(wireType: number, depth: number): protobuf.Reader };

const latin1Slice = (Buffer.prototype as unknown as { latin1Slice(this: Uint8Array, start: number, end: number): string }).latin1Slice;

/** Strings of at most this many bytes go through the cache; longer ones recur less. */
const STRING_CACHE_MAX_BYTES = 32;
/** Direct-mapped by a hash of the bytes; a power of two. About 200 KB when full. */
const STRING_CACHE_SLOTS = 4096;
/**
 * Short ASCII strings recur across objects and events (label keys and values, condition types,
 * "True", quantities, timestamps, node names): the cache hands back the string already made for
 * the same bytes, without a native call. Strings are immutable, so sharing them is invisible.
 */
const stringCache: (string | undefined)[] = new Array<string | undefined>(STRING_CACHE_SLOTS).fill(undefined);

function sameAscii(s: string, buf: Uint8Array, start: number): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) !== buf[start + i]) return false;
  return true;
}

/**
 * r.string(), exactly, faster for ASCII: the bytes are checked (and hashed) in JS, then sliced
 * natively or found in the cache. Anything else goes back to r.string(): BufferReader's native
 * UTF-8, or Reader's own decoder, which treats bad sequences its own way.
 */
function readString(r: protobuf.Reader): string {
  const buf = r.buf;
  if (!(buf instanceof Uint8Array)) return r.string();
  const before = r.pos;
  const length = r.uint32();
  const start = r.pos;
  let end = start + length;
  if (end > r.len) {
    // Reader.bytes() refuses a string past the end; BufferReader.string() cuts it short.
    if (!(r instanceof protobuf.BufferReader)) throw RangeError(`index out of range: ${start} + ${length || 1} > ${r.len}`);
    end = r.len;
  }
  let hash = 0;
  for (let i = start; i < end; i++) {
    const c = buf[i] as number;
    if (c >= 0x80) {
      r.pos = before;
      return r.string();
    }
    hash = (Math.imul(hash, 31) + c) | 0;
  }
  r.pos = end;
  const n = end - start;
  if (n === 0) return '';
  if (n > STRING_CACHE_MAX_BYTES) return latin1Slice.call(buf, start, end);
  const slot = hash & (STRING_CACHE_SLOTS - 1);
  const cached = stringCache[slot];
  if (cached !== undefined && cached.length === n && sameAscii(cached, buf, start)) return cached;
  const s = latin1Slice.call(buf, start, end);
  stringCache[slot] = s;
  return s;
}

function int64ToNumber(value: number | { low: number; high: number }): number {
  return typeof value === 'number' ? value : new protobuf.util.LongBits(value.low >>> 0, value.high >>> 0).toNumber();
}

/**
 * One message of `length` bytes at the reader's position (the rest of the buffer when undefined),
 * as its JSON form; undefined when it has no field to show. Mirrors Type.decode's generated code:
 * fields are found by number whatever their wire type, unknown ones are skipped, a nested message
 * narrows `r.len` to its end and must end exactly there.
 */
function decodeMessage(plan: MessagePlan, r: protobuf.Reader, length: number | undefined, depth: number): Plain | undefined {
  let end: number;
  let outerLen = 0;
  if (length === undefined) {
    end = r.len;
  } else {
    end = r.pos + length;
    if (end > r.len) throw RangeError('index out of range');
    outerLen = r.len;
    r.len = end;
  }
  // Fields go into `json` as they arrive. Encoders write in field-number order, which is the
  // declaration order (the JSON key order) unless a .proto says otherwise, so the keys usually come
  // out in order already. A field that arrives after a later one, or a singular field that arrives
  // again (replacing the earlier value, or clearing it when the new one is a zero), sets
  // `outOfOrder`, and the keys are put back in declaration order at the end.
  const json: Plain = {};
  let lastIndex = -1;
  let outOfOrder = false;
  let any = false;
  while (r.pos < end) {
    const tag = r.uint32();
    const f = plan.byNumber[tag >>> 3];
    if (f === undefined) {
      (r as SkippingReader).skipType(tag & 7, depth);
      continue;
    }
    if (f.index < lastIndex || (f.index === lastIndex && f.shape < Shape.repeatedString)) outOfOrder = true;
    lastIndex = f.index;
    let value: unknown;
    switch (f.shape) {
      case Shape.string: {
        const s = readString(r);
        value = s === '' && !f.keepsZero ? undefined : s;
        break;
      }
      case Shape.bool: {
        const b = r.bool();
        value = !b && !f.keepsZero ? undefined : b;
        break;
      }
      case Shape.int32: {
        const n = r.int32();
        value = n === 0 && !f.keepsZero ? undefined : n;
        break;
      }
      case Shape.int64: {
        const n = int64ToNumber(r.int64());
        value = n === 0 && !f.keepsZero ? undefined : n;
        break;
      }
      case Shape.message:
        value = decodeMessageValue(f.message!, r, depth + 1);
        break;
      case Shape.repeatedString:
      case Shape.repeatedMessage: {
        let list = json[f.jsonName] as unknown[] | undefined;
        if (list === undefined) list = [];
        // Elements are kept even when empty: their position is their identity.
        list.push(f.shape === Shape.repeatedString ? readString(r) : (decodeMessageValue(f.message!, r, depth + 1) ?? {}));
        value = list;
        break;
      }
      case Shape.stringMap:
      case Shape.bytesMap:
        // Map values are kept even when empty: a key with an empty value is still a key.
        value = readMapEntry(f.shape === Shape.bytesMap, (json[f.jsonName] as Plain | undefined) ?? {}, r, end, depth);
        break;
    }
    if (value !== undefined) {
      json[f.jsonName] = value;
      any = true;
    } else if (outOfOrder) {
      // An omitted value replacing an earlier one; the reordering below drops the key.
      json[f.jsonName] = undefined;
    }
  }
  if (length !== undefined) {
    if (r.pos !== end) throw RangeError('index out of range');
    r.len = outerLen;
  }
  if (!outOfOrder) return any ? json : undefined;
  let ordered: Plain | undefined;
  for (const f of plan.fields) {
    const value = json[f.jsonName];
    if (value !== undefined) (ordered ??= {})[f.jsonName] = value;
  }
  return ordered;
}

/** A message field's value: IntOrString as its number or string, else the message's JSON form. */
function decodeMessageValue(plan: MessagePlan, r: protobuf.Reader, depth: number): unknown {
  return plan.intOrString ? decodeIntOrString(r, r.uint32(), depth) : decodeMessage(plan, r, r.uint32(), depth);
}

/** int_val when the bytes hold one (even 0, even beside a str_val), else str_val, else undefined. */
function decodeIntOrString(r: protobuf.Reader, length: number, depth: number): number | string | undefined {
  const end = r.pos + length;
  if (end > r.len) throw RangeError('index out of range');
  const outerLen = r.len;
  r.len = end;
  let intVal: number | undefined;
  let strVal: string | undefined;
  while (r.pos < end) {
    const tag = r.uint32();
    switch (tag >>> 3) {
      case 1:
        intVal = r.int32();
        break;
      case 2:
        strVal = readString(r);
        break;
      default:
        (r as SkippingReader).skipType(tag & 7, depth);
    }
  }
  if (r.pos !== end) throw RangeError('index out of range');
  r.len = outerLen;
  return intVal ?? strVal;
}

/**
 * One map entry into `entries` (returned). A missing key or value is the empty one; "__proto__"
 * sets no key, as the old JSON walk's plain-object assignment did; but the map is still present.
 */
function readMapEntry(bytes: boolean, entries: Plain, r: protobuf.Reader, messageEnd: number, depth: number): Plain {
  const entryEnd = r.uint32() + r.pos;
  if (entryEnd > r.len) throw RangeError('index out of range');
  r.len = entryEnd;
  let key = '';
  let value = '';
  while (r.pos < entryEnd) {
    const tag = r.uint32();
    switch (tag >>> 3) {
      case 1:
        key = readString(r);
        break;
      case 2:
        if (bytes) {
          const raw = r.bytes();
          value = protobuf.util.base64.encode(raw, 0, raw.length);
        } else {
          value = readString(r);
        }
        break;
      default:
        (r as SkippingReader).skipType(tag & 7, depth);
    }
  }
  if (r.pos !== entryEnd) throw RangeError('index out of range');
  r.len = messageEnd;
  entries[key] = value;
  return entries;
}

export function decodeObject(kind: string, bytes: Uint8Array): ApiObject {
  return decodeWithPlan(kind, planOfKind(kind), bytes);
}

/**
 * The plan of `plan` that keeps only the fields on `paths` (JSON names, e.g. spec.nodeName): a
 * field a path ends at is kept whole, one it passes through keeps only what the paths below it
 * name (for a list of messages, in every element: spec.containers.resources), and the decoder
 * skips every other field as it skips unknown ones.
 */
function projectPlan(plan: MessagePlan, paths: readonly (readonly string[])[], where: string): MessagePlan {
  const kept: FieldPlan[] = [];
  for (const f of plan.fields) {
    const through = paths.filter((p) => p[0] === f.jsonName);
    if (through.length === 0) continue;
    const whole = through.some((p) => p.length === 1) || (f.shape !== Shape.message && f.shape !== Shape.repeatedMessage);
    kept.push(whole ? f : { ...f, message: projectPlan(f.message!, through.map((p) => p.slice(1)), `${where}.${f.jsonName}`) });
  }
  for (const p of paths) {
    if (!plan.fields.some((f) => f.jsonName === p[0])) throw new CodecError(`cannot project ${where}: it has no field ${p[0]}`);
  }
  const byNumber: (FieldPlan | undefined)[] = [];
  for (const f of kept) byNumber[f.tag >>> 3] = f;
  for (let i = 0; i < byNumber.length; i++) byNumber[i] ??= undefined;
  return {
    intOrString: plan.intOrString,
    fields: kept,
    encodeOrder: [...kept].sort((a, b) => (a.tag >>> 3) - (b.tag >>> 3)),
    byNumber,
    depth: plan.depth,
  };
}

/**
 * A decoder of only the fields on `paths` (with apiVersion, kind and metadata's presence, as
 * decodeObject gives them), its plan built once, here: for what reads a few fields of every
 * change, such as a watch cache's selectors. The other fields are skipped by their wire length,
 * not decoded, so a fault inside them is not seen here; decodeObject sees it.
 */
export function projectedDecoder(kind: string, paths: readonly string[]): (bytes: Uint8Array) => ApiObject {
  const plan = projectPlan(planOfKind(kind), [...paths, 'apiVersion', 'kind'].map((p) => p.split('.')), kind);
  return (bytes) => decodeWithPlan(kind, plan, bytes);
}

function decodeWithPlan(kind: string, plan: MessagePlan, bytes: Uint8Array): ApiObject {
  let json: Plain;
  try {
    json = decodeMessage(plan, protobuf.Reader.create(bytes), undefined, 0) ?? {};
  } catch (err) {
    throw new DecodeError(kind, err instanceof Error ? err.message : String(err), { cause: err });
  }
  // encodeObject writes apiVersion and kind from the object, but bytes from elsewhere (or an empty
  // message, which is valid protobuf) may lack them: fall back to the kind asked for. Assigning
  // keeps the keys' order: present ones stay where they are, missing ones go last in this order.
  const decodedKind = typeof json['kind'] === 'string' ? json['kind'] : kind;
  const fallbackVersion = isKind(decodedKind) ? API_VERSION_OF_KIND[decodedKind] : '';
  json['apiVersion'] = typeof json['apiVersion'] === 'string' ? json['apiVersion'] : fallbackVersion;
  json['kind'] = decodedKind;
  json['metadata'] = isPlain(json['metadata']) ? json['metadata'] : {};
  if (decodedKind !== kind) throw new DecodeError(kind, `the bytes hold a ${JSON.stringify(decodedKind)}`);
  return json as unknown as ApiObject;
}
