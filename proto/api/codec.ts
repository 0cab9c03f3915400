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

const CONVERSION: protobuf.IConversionOptions = { longs: Number, bytes: String, defaults: false };

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

type Plain = Record<string, unknown>;

function isPlain(value: unknown): value is Plain {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

// ---- JSON form → message ----

function valueToProto(type: protobuf.Type | undefined, value: unknown): unknown {
  if (type === undefined) return value;
  if (isIntOrString(type)) {
    if (typeof value === 'number') return { intVal: value };
    if (typeof value === 'string') return { strVal: value };
    return {};
  }
  return isPlain(value) ? jsonToProtoPlain(type, value) : {};
}

function jsonToProtoPlain(type: protobuf.Type, json: Plain): Plain {
  const out: Plain = {};
  for (const field of type.fieldsArray) {
    const value = json[jsonNameOf(field)];
    if (value === undefined || value === null) continue;
    const messageType = messageTypeOfField(field);
    if (field.map) {
      if (!isPlain(value)) continue;
      const entries: Plain = {};
      for (const [k, v] of Object.entries(value)) entries[k] = valueToProto(messageType, v);
      out[field.name] = entries;
    } else if (field.repeated) {
      if (!Array.isArray(value)) continue;
      out[field.name] = value.map((v: unknown) => valueToProto(messageType, v));
    } else {
      out[field.name] = valueToProto(messageType, value);
    }
  }
  return out;
}

/** The JSON form of an object (of any kind) as a protobufjs message of its kind. */
export function toMessage(obj: ApiObject): protobuf.Message {
  const type = messageTypeOf(obj.kind);
  // ApiObject is an interface without an index signature; the walk reads it by field name.
  return type.fromObject(jsonToProtoPlain(type, obj as unknown as Plain));
}

export function encodeObject(obj: ApiObject): Uint8Array {
  const type = messageTypeOf(obj.kind);
  return type.encode(toMessage(obj)).finish();
}

// ---- message → JSON form ----

function isZero(value: unknown): boolean {
  return value === '' || value === 0 || value === false;
}

function valueToJson(type: protobuf.Type | undefined, value: unknown): unknown {
  if (type === undefined) return value;
  if (!isPlain(value)) return undefined;
  if (isIntOrString(type)) {
    if (typeof value['intVal'] === 'number') return value['intVal'];
    if (typeof value['strVal'] === 'string') return value['strVal'];
    return undefined;
  }
  return protoPlainToJson(type, value);
}

function protoPlainToJson(type: protobuf.Type, plain: Plain): Plain {
  const out: Plain = {};
  for (const field of type.fieldsArray) {
    const value = plain[field.name];
    if (value === undefined || value === null) continue;
    const messageType = messageTypeOfField(field);
    let converted: unknown;
    if (field.map) {
      if (!isPlain(value) || Object.keys(value).length === 0) continue;
      const entries: Plain = {};
      // Map values are kept even when empty: a key with an empty value is still a key.
      for (const [k, v] of Object.entries(value)) entries[k] = valueToJson(messageType, v) ?? (messageType ? {} : v);
      converted = entries;
    } else if (field.repeated) {
      if (!Array.isArray(value) || value.length === 0) continue;
      // Elements are kept even when empty: their position is their identity.
      converted = value.map((v: unknown) => valueToJson(messageType, v) ?? (messageType ? {} : v));
    } else {
      converted = valueToJson(messageType, value);
      if (converted === undefined) continue;
      if (messageType && !isIntOrString(messageType) && isPlain(converted) && Object.keys(converted).length === 0) continue;
      if (!messageType && !tracksPresence(field) && isZero(converted)) continue;
    }
    out[jsonNameOf(field)] = converted;
  }
  return out;
}

/** A protobufjs message of the kind back into the JSON form. */
export function fromMessage(kind: string, message: protobuf.Message): ApiObject {
  const type = messageTypeOf(kind);
  const json = protoPlainToJson(type, type.toObject(message, CONVERSION));
  // encodeObject writes apiVersion and kind from the object, but bytes from elsewhere (or an empty
  // message, which is valid protobuf) may lack them: fall back to the kind asked for.
  const decodedKind = typeof json['kind'] === 'string' ? json['kind'] : kind;
  const fallbackVersion = isKind(decodedKind) ? API_VERSION_OF_KIND[decodedKind] : '';
  const apiVersion = typeof json['apiVersion'] === 'string' ? json['apiVersion'] : fallbackVersion;
  const metadata = isPlain(json['metadata']) ? json['metadata'] : {};
  return { ...json, apiVersion, kind: decodedKind, metadata } as ApiObject;
}

export function decodeObject(kind: string, bytes: Uint8Array): ApiObject {
  const type = messageTypeOf(kind);
  let message: protobuf.Message;
  try {
    message = type.decode(bytes);
  } catch (err) {
    throw new DecodeError(kind, err instanceof Error ? err.message : String(err), { cause: err });
  }
  const obj = fromMessage(kind, message);
  if (obj.kind !== kind) throw new DecodeError(kind, `the bytes hold a ${JSON.stringify(obj.kind)}`);
  return obj;
}
