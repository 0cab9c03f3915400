// Strict conversion of untyped JSON (a manifest document, an API request body) to a typed object.
// It walks the protobufjs reflection of the kind's message, so the accepted shape is exactly the
// stored shape: a field the .proto files lack is an unknown field, not silently dropped data.
// Every problem is reported, each with its full path, so one round trip fixes a manifest.

import {
  enumValuesOf,
  findMessageType,
  isIntOrString,
  jsonNameOf,
  messageTypeOfField,
} from '../../proto/api/codec.js';
import type { FieldViolation } from '../../proto/api/object.js';
import { ALL_KINDS, API_VERSION_OF_KIND, type AnyObject, isKind } from '../../proto/api/types.js';
import type protobuf from 'protobufjs';

export type FromJsonResult = { readonly object: AnyObject } | { readonly violations: FieldViolation[] };

type Plain = Record<string, unknown>;

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;
const UINT32_MAX = 2 ** 32 - 1;
/** Standard base64 with padding, what Kubernetes (Go's encoding/base64.StdEncoding) accepts. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$/;
/** Kubernetes names its time fields *Time, *Timestamp or *At (renewTime, creationTimestamp, startedAt). */
const TIME_FIELD = /(?:Time|Timestamp|At)$/;

function isPlain(value: unknown): value is Plain {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A wrong value is quoted in the violation up to this many characters: a 1 MiB string is not echoed back. */
export const MAX_QUOTED_VALUE_LENGTH = 64;

/** How a JSON value appears in a message: strings and numbers as JSON, containers by what they are. */
function shown(value: unknown): string {
  if (Array.isArray(value)) return 'an array';
  if (isPlain(value)) return 'an object';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > MAX_QUOTED_VALUE_LENGTH ? `${text.slice(0, MAX_QUOTED_VALUE_LENGTH)}… (${text.length} characters)` : text;
}

function join(path: string, name: string): string {
  return path === '' ? name : `${path}.${name}`;
}

class Walk {
  readonly violations: FieldViolation[] = [];

  fail(field: string, description: string): undefined {
    this.violations.push({ field, description });
    return undefined;
  }

  message(type: protobuf.Type, value: unknown, path: string): Plain | undefined {
    if (!isPlain(value)) return this.fail(path, `expected an object, got ${shown(value)}`);
    const byJsonName = new Map(type.fieldsArray.map((f) => [jsonNameOf(f), f]));
    const out: Plain = {};
    for (const [key, child] of Object.entries(value)) {
      const field = byJsonName.get(key);
      const at = join(path, key);
      if (field === undefined) {
        this.fail(at, `unknown field ${JSON.stringify(key)}`);
        continue;
      }
      // null is how JSON and YAML say "not set" (`resources: null`, `labels: ~`).
      if (child === null) continue;
      const converted = this.field(field, child, at);
      if (converted !== undefined) out[key] = converted;
    }
    return out;
  }

  field(field: protobuf.Field, value: unknown, path: string): unknown {
    if (field.map) {
      if (!isPlain(value)) return this.fail(path, `expected an object (a map), got ${shown(value)}`);
      const out: Plain = {};
      for (const [key, entry] of Object.entries(value)) {
        const converted = this.single(field, entry, `${path}[${key}]`);
        if (converted !== undefined) out[key] = converted;
      }
      return out;
    }
    if (field.repeated) {
      if (!Array.isArray(value)) return this.fail(path, `expected an array, got ${shown(value)}`);
      const items: unknown[] = [];
      value.forEach((item: unknown, i) => {
        const converted = this.single(field, item, `${path}[${i}]`);
        if (converted !== undefined) items.push(converted);
      });
      return items;
    }
    return this.single(field, value, path);
  }

  single(field: protobuf.Field, value: unknown, path: string): unknown {
    const messageType = messageTypeOfField(field);
    if (messageType !== undefined) {
      if (isIntOrString(messageType)) {
        if (typeof value === 'string') return value;
        if (typeof value === 'number' && Number.isInteger(value) && value >= INT32_MIN && value <= INT32_MAX) return value;
        return this.fail(path, `expected an integer or a string, got ${shown(value)}`);
      }
      return this.message(messageType, value, path);
    }
    switch (field.type) {
      case 'int32':
      case 'sint32':
      case 'sfixed32':
        return this.integer(value, path, INT32_MIN, INT32_MAX);
      case 'uint32':
      case 'fixed32':
        return this.integer(value, path, 0, UINT32_MAX);
      case 'int64':
      case 'sint64':
      case 'sfixed64':
        // The JSON form holds int64 as a JS number: only the exactly representable ones are accepted.
        return this.integer(value, path, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
      case 'uint64':
      case 'fixed64':
        return this.integer(value, path, 0, Number.MAX_SAFE_INTEGER);
      case 'double':
      case 'float':
        if (typeof value === 'number' && Number.isFinite(value)) return value;
        return this.fail(path, `expected a number, got ${shown(value)}`);
      case 'bool':
        if (typeof value === 'boolean') return value;
        return this.fail(path, `expected a boolean, got ${shown(value)}`);
      case 'bytes':
        if (typeof value === 'string' && BASE64.test(value)) return value;
        return this.fail(path, `expected base64-encoded data, got ${typeof value === 'string' ? 'a string that is not valid base64' : shown(value)}`);
      case 'string':
        return this.string(field, value, path);
      default:
        return this.fail(path, `field of unsupported protobuf type ${field.type}`);
    }
  }

  integer(value: unknown, path: string, min: number, max: number): number | undefined {
    if (typeof value !== 'number' || !Number.isInteger(value)) return this.fail(path, `expected an integer, got ${shown(value)}`);
    if (value < min || value > max) return this.fail(path, `integer ${value} out of range [${min}, ${max}]`);
    return value;
  }

  string(field: protobuf.Field, value: unknown, path: string): string | undefined {
    if (typeof value !== 'string') return this.fail(path, `expected a string, got ${shown(value)}`);
    const allowed = enumValuesOf(field);
    // "" is "unset" for an enum-like string, as in Kubernetes (defaulting fills it in).
    if (allowed !== undefined && value !== '' && !allowed.includes(value)) {
      return this.fail(path, `Unsupported value: ${JSON.stringify(value)}: supported values: ${allowed.map((v) => JSON.stringify(v)).join(', ')}`);
    }
    if (TIME_FIELD.test(jsonNameOf(field)) && value !== '' && (!RFC3339.test(value) || Number.isNaN(Date.parse(value)))) {
      return this.fail(path, `expected an RFC 3339 time (e.g. 2026-01-02T03:04:05Z), got ${JSON.stringify(value)}`);
    }
    return value;
  }
}

/** Secret.stringData is write-only: its values are base64-encoded into data (overriding it), as in Kubernetes. */
function foldStringData(input: Plain, walk: Walk): Plain {
  const { stringData, ...rest } = input;
  if (stringData === undefined || stringData === null) return rest;
  if (!isPlain(stringData)) {
    walk.fail('stringData', `expected an object (a map), got ${shown(stringData)}`);
    return rest;
  }
  const data: Plain = isPlain(rest['data']) ? { ...rest['data'] } : {};
  for (const [key, value] of Object.entries(stringData)) {
    if (typeof value === 'string') data[key] = Buffer.from(value, 'utf8').toString('base64');
    else walk.fail(`stringData[${key}]`, `expected a string, got ${shown(value)}`);
  }
  return { ...rest, data };
}

export function fromJson(input: unknown): FromJsonResult {
  if (!isPlain(input)) return { violations: [{ field: '', description: `expected an object, got ${shown(input)}` }] };
  const kind = input['kind'];
  const apiVersion = input['apiVersion'];
  if (kind === undefined || kind === null || kind === '') return { violations: [{ field: 'kind', description: 'Required value: must name the kind of object' }] };
  if (typeof kind !== 'string') return { violations: [{ field: 'kind', description: `expected a string, got ${shown(kind)}` }] };
  const type = isKind(kind) ? findMessageType(kind) : undefined;
  if (!isKind(kind) || type === undefined) {
    return { violations: [{ field: 'kind', description: `Unsupported value: ${JSON.stringify(kind)}: supported kinds: ${ALL_KINDS.join(', ')}` }] };
  }
  const expectedVersion = API_VERSION_OF_KIND[kind];
  const walk = new Walk();
  if (apiVersion === undefined || apiVersion === null || apiVersion === '') walk.fail('apiVersion', `Required value: ${kind} is served at ${expectedVersion}`);
  else if (apiVersion !== expectedVersion) walk.fail('apiVersion', `Unsupported value: ${shown(apiVersion)}: ${kind} is served at ${expectedVersion}`);

  const body = kind === 'Secret' ? foldStringData(input, walk) : input;
  const object = walk.message(type, body, '');
  if (walk.violations.length > 0 || object === undefined) return { violations: walk.violations };
  // Checked above: kind names a Kind and apiVersion is its version; metadata may only be missing.
  return { object: { metadata: {}, ...object } as unknown as AnyObject };
}
