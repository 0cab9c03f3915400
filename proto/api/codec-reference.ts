// The codec as it was before the compiled converters (proto/api/codec.ts), kept verbatim in
// behaviour as the reference the differential test (codec-differential.test.ts) and the benchmark
// (bench/codec.bench.ts) compare against. Production code must not import it: it walks the
// reflection three times per object (JSON walk, fromObject/encode; decode, toObject, JSON walk).

import protobuf from 'protobufjs';
import { DecodeError, isIntOrString, jsonNameOf, messageTypeOf, messageTypeOfField, tracksPresence } from './codec.js';
import type { ApiObject } from './object.js';
import { API_VERSION_OF_KIND, isKind } from './types.js';

const CONVERSION: protobuf.IConversionOptions = { longs: Number, bytes: String, defaults: false };

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

export function referenceToMessage(obj: ApiObject): protobuf.Message {
  const type = messageTypeOf(obj.kind);
  return type.fromObject(jsonToProtoPlain(type, obj as unknown as Plain));
}

export function referenceEncodeObject(obj: ApiObject): Uint8Array {
  const type = messageTypeOf(obj.kind);
  return type.encode(referenceToMessage(obj)).finish();
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
      for (const [k, v] of Object.entries(value)) entries[k] = valueToJson(messageType, v) ?? (messageType ? {} : v);
      converted = entries;
    } else if (field.repeated) {
      if (!Array.isArray(value) || value.length === 0) continue;
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

export function referenceFromMessage(kind: string, message: protobuf.Message): ApiObject {
  const type = messageTypeOf(kind);
  const json = protoPlainToJson(type, type.toObject(message, CONVERSION));
  const decodedKind = typeof json['kind'] === 'string' ? json['kind'] : kind;
  const fallbackVersion = isKind(decodedKind) ? API_VERSION_OF_KIND[decodedKind] : '';
  const apiVersion = typeof json['apiVersion'] === 'string' ? json['apiVersion'] : fallbackVersion;
  const metadata = isPlain(json['metadata']) ? json['metadata'] : {};
  return { ...json, apiVersion, kind: decodedKind, metadata } as ApiObject;
}

export function referenceDecodeObject(kind: string, bytes: Uint8Array): ApiObject {
  const type = messageTypeOf(kind);
  let message: protobuf.Message;
  try {
    message = type.decode(bytes);
  } catch (err) {
    throw new DecodeError(kind, err instanceof Error ? err.message : String(err), { cause: err });
  }
  const obj = referenceFromMessage(kind, message);
  if (obj.kind !== kind) throw new DecodeError(kind, `the bytes hold a ${JSON.stringify(obj.kind)}`);
  return obj;
}
