// The compiled codec (codec.ts) against the earlier reflective one (codec-reference.ts): the same
// bytes out of every encode, the same JSON form (deep-equal and in the same key order) out of
// every decode, the same errors, over the samples, the examples, the scheduler's fixtures and
// thousands of seeded random objects and mangled encodings built from the protobuf reflection.

import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { makeNode, makePod } from '../../scheduler/fixtures.js';
import { apiProtoDir, decodeObject, encodeObject, isIntOrString, jsonNameOf, messageTypeOf, messageTypeOfField } from './codec.js';
import { referenceDecodeObject, referenceEncodeObject } from './codec-reference.js';
import type { ApiObject } from './object.js';
import { samples } from './samples.suite.js';
import { ALL_KINDS, type Kind } from './types.js';

const SEED = 0x5eed_c0de;
const RANDOM_OBJECTS_PER_KIND = 400;
const MANGLINGS_PER_OBJECT = 6;
/** One random object in this many also gets values of the wrong type (the encoder's coercions). */
const WILD_ONE_IN = 4;

type Outcome = { ok: true; value: unknown } | { ok: false; error: string };

function outcome(run: () => unknown): Outcome {
  try {
    return { ok: true, value: run() };
  } catch (err) {
    return { ok: false, error: err instanceof Error ? `${err.constructor.name}/${err.name}: ${err.message}` : String(err) };
  }
}

/** Counts what the comparisons covered, for the summary test at the end. */
const counted = { encodes: 0, encodeErrors: 0, decodes: 0, decodeErrors: 0 };

function expectSameEncoding(obj: ApiObject): Uint8Array | undefined {
  const mine = outcome(() => encodeObject(obj));
  const ref = outcome(() => referenceEncodeObject(obj));
  counted.encodes++;
  if (!mine.ok || !ref.ok) {
    counted.encodeErrors++;
    expect(mine).toEqual(ref);
    return undefined;
  }
  const a = mine.value as Uint8Array;
  const b = ref.value as Uint8Array;
  expect(a.constructor).toBe(b.constructor);
  if (!Buffer.from(a).equals(Buffer.from(b))) expect(Buffer.from(a).toString('hex'), JSON.stringify(obj)).toBe(Buffer.from(b).toString('hex'));
  return a;
}

function expectSameDecoding(kind: string, bytes: Uint8Array): void {
  // Both the Buffer path (BufferReader) and the plain Uint8Array path (Reader) of protobufjs.
  for (const input of [Buffer.from(bytes), new Uint8Array(bytes)]) {
    const mine = outcome(() => decodeObject(kind, input));
    const ref = outcome(() => referenceDecodeObject(kind, input));
    counted.decodes++;
    if (!ref.ok) counted.decodeErrors++;
    expect(mine).toEqual(ref);
    // toEqual ignores key order; the JSON text does not.
    if (mine.ok && ref.ok) expect(JSON.stringify(mine.value)).toBe(JSON.stringify(ref.value));
  }
}

function expectSameRoundTrip(obj: ApiObject): void {
  const bytes = expectSameEncoding(obj);
  if (bytes === undefined) return;
  expectSameDecoding(obj.kind, bytes);
}

// ---- a seeded generator of objects from the reflection ----

/** mulberry32: small, fast, deterministic. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const STRINGS = ['', 'a', 'web', 'nginx:1.27', '100m', '2026-01-02T03:04:05Z', 'ünïcødé', '日本語', '😀 emoji', '\ud800 lone', 'x'.repeat(45), 'ß'.repeat(30), '\u0000nul', 'app.kubernetes.io/name'];
const KEYS = ['', 'a', 'app', 'app.kubernetes.io/name', '1', '10', '__proto__', 'constructor', 'ü', 'k'.repeat(50)];
const INT32S = [0, 1, -1, 80, 8080, 2147483647, -2147483648, 137];
const INT64S = [0, 1, -1, 30, 2 ** 31, 2 ** 32 + 5, 9007199254740991, -9007199254740991, 1e15];
const BASE64 = ['', 'AAEC/w==', 'aHVudGVyMg==', 'YQ', 'Zm9vYmFy'];
/** Values of the wrong type, for the wild objects. */
const WILD = [null, undefined, 0, 1.5, -7.9, NaN, 2 ** 64, '12', 'abc', '', true, false, [], ['x'], {}, { a: 1 }];

class Generator {
  readonly #next: () => number;
  wild = false;
  constructor(seed: number) {
    this.#next = prng(seed);
  }
  chance(p: number): boolean {
    return this.#next() < p;
  }
  int(n: number): number {
    return Math.floor(this.#next() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)] as T;
  }

  message(type: protobuf.Type, depth: number): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    // Shallow messages get most fields, deep ones fewer, so objects stay finite and varied.
    const p = depth === 0 ? 0.9 : Math.max(0.15, 0.7 - depth * 0.12);
    for (const field of type.fieldsArray) {
      if (!this.chance(p)) continue;
      out[jsonNameOf(field)] = this.wild && this.chance(0.08) ? this.pick(WILD) : this.field(field, depth);
    }
    return out;
  }

  field(field: protobuf.Field, depth: number): unknown {
    const messageType = messageTypeOfField(field);
    if (field.map) {
      const entries: Record<string, unknown> = {};
      const n = this.int(4);
      for (let i = 0; i < n; i++) {
        const key = this.pick(KEYS);
        if (key === '__proto__') Object.defineProperty(entries, key, { value: this.scalar(field.type), enumerable: true, writable: true, configurable: true });
        else entries[key] = this.wild && this.chance(0.1) ? this.pick(WILD) : this.scalar(field.type);
      }
      return entries;
    }
    if (field.repeated) {
      const n = this.int(4);
      const list: unknown[] = [];
      for (let i = 0; i < n; i++) list.push(this.wild && this.chance(0.05) ? this.pick(WILD) : this.single(field, messageType, depth));
      return list;
    }
    return this.single(field, messageType, depth);
  }

  single(field: protobuf.Field, messageType: protobuf.Type | undefined, depth: number): unknown {
    if (messageType === undefined) return this.scalar(field.type);
    if (isIntOrString(messageType)) return this.chance(0.5) ? this.pick(INT32S) : this.pick(['', '25%', 'http', '0', 'ü']);
    return this.chance(0.1) ? {} : this.message(messageType, depth + 1);
  }

  scalar(type: string): unknown {
    switch (type) {
      case 'string':
        return this.pick(STRINGS);
      case 'bool':
        return this.chance(0.5);
      case 'int32':
        return this.pick(INT32S);
      case 'int64':
        return this.pick(INT64S);
      case 'bytes':
        return this.pick(BASE64);
      default:
        throw new Error(`the generator has no values for ${type}`);
    }
  }

  /** A random object of the kind; apiVersion and kind mostly right, sometimes not. */
  object(kind: Kind): ApiObject {
    this.wild = this.int(WILD_ONE_IN) === 0;
    const obj = this.message(messageTypeOf(kind), 0);
    if (this.chance(0.9)) obj['kind'] = kind;
    return obj as unknown as ApiObject;
  }

  /** Bytes near valid ones: cut, flipped, spliced, duplicated, garbage. */
  mangle(bytes: Uint8Array, other: Uint8Array): Uint8Array {
    const b = Uint8Array.from(bytes);
    switch (this.int(6)) {
      case 0:
        return b.subarray(0, this.int(b.length + 1));
      case 1: {
        for (let i = 0, n = 1 + this.int(3); i < n && b.length > 0; i++) b[this.int(b.length)] = this.int(256);
        return b;
      }
      case 2: {
        const at = this.int(b.length + 1);
        const junk = Uint8Array.from({ length: 1 + this.int(6) }, () => this.int(256));
        return Buffer.concat([b.subarray(0, at), junk, b.subarray(at)]);
      }
      case 3:
        // Protobuf concatenation: fields again, out of order, the later ones replacing singulars.
        return Buffer.concat([b, other]);
      case 4:
        return Buffer.concat([other.subarray(0, this.int(other.length + 1)), b]);
      default:
        return Uint8Array.from({ length: this.int(40) }, () => this.int(256));
    }
  }
}

// ---- fixtures ----

function exampleObjects(): ApiObject[] {
  const dir = join(apiProtoDir(), '..', '..', 'examples');
  const out: ApiObject[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.yaml') || f.endsWith('.yml'))) {
    for (const doc of parseAllDocuments(readFileSync(join(dir, file), 'utf8'))) {
      const value: unknown = doc.toJS();
      if (typeof value === 'object' && value !== null) out.push(value as ApiObject);
    }
  }
  return out;
}

describe('compiled codec ≡ reference codec', () => {
  it('every sample kind', () => {
    for (const kind of ALL_KINDS) expectSameRoundTrip(samples[kind]);
  });

  it('the examples/ manifests', () => {
    const examples = exampleObjects();
    expect(examples.length).toBeGreaterThan(0);
    for (const obj of examples) expectSameRoundTrip(obj);
  });

  it("the scheduler's fixtures", () => {
    expectSameRoundTrip(makePod('p', { cpu: '250m', memory: '512Mi', spec: { nodeName: 'n1' } }));
    expectSameRoundTrip(makePod('q'));
    expectSameRoundTrip(makeNode('n1', { cpu: '32', memory: '128Gi', pods: '110', labels: { zone: 'a' }, taints: [{ key: 'k', value: 'v', effect: 'NoSchedule' }] }));
    expectSameRoundTrip(makeNode('n2'));
  });

  it('hand-picked edges', () => {
    const edges: unknown[] = [
      { apiVersion: 'v1', kind: 'Pod', metadata: {} },
      { kind: 'Pod', metadata: { labels: {}, annotations: { '': '' } }, spec: { containers: [{}, {}] } },
      { kind: 'Pod', metadata: { labels: JSON.parse('{"__proto__": "x", "a": "b"}') as unknown } },
      { kind: 'Pod', metadata: { labels: JSON.parse('{"__proto__": "x"}') as unknown } },
      { kind: 'Pod', spec: { containers: [{ ports: [{ containerPort: '80' }], livenessProbe: { httpGet: { port: 0 } } }] } },
      { kind: 'Pod', spec: { containers: [null, 'x', 5] } },
      // eslint-disable-next-line no-sparse-arrays
      { kind: 'Pod', spec: { containers: [, { name: 'a' }] } },
      // eslint-disable-next-line no-sparse-arrays
      { kind: 'Pod', spec: { containers: [{ args: [, 'a', undefined, null] }] } },
      { kind: 'Pod', spec: 'not an object', status: [] },
      { kind: 'Pod', metadata: { generation: '12', deletionGracePeriodSeconds: { low: 5, high: 0 } } },
      { kind: 'Pod', metadata: { generation: 2 ** 70, deletionGracePeriodSeconds: -1.5 } },
      { kind: 'Deployment', spec: { strategy: { rollingUpdate: { maxSurge: true, maxUnavailable: '' } } } },
      { kind: 'ConfigMap', binaryData: { a: 'not base64!!', b: [1, 2, 3], c: 5, d: new Uint8Array([9]) } },
      { kind: 'ConfigMap', binaryData: { a: null } },
      { kind: 'ConfigMap', data: { a: 1, b: null, c: undefined, d: { x: 1 } } },
      { kind: 'Widget', metadata: {} },
      { kind: 'Secret', metadata: { name: 's' }, stringData: { a: 'b' }, extra: 1 },
    ];
    for (const obj of edges) expectSameRoundTrip(obj as ApiObject);
  });

  it('bytes that are not what the encoder writes', () => {
    const cases: [string, number[]][] = [
      ['Pod', []],
      ['Pod', [0x0a, 0xff, 0xff, 0xff, 0x0f]],
      ['Pod', [0x1a, 0x00]], // empty metadata
      ['Pod', [0x12, 0x04, 0x4e, 0x6f, 0x64, 0x65]], // kind "Node"
      ['Pod', [0x1a, 0x02, 0x08, 0x01]], // a wrong wire type inside metadata
      ['Pod', [0x1b]], // a group start with no end
      ['Pod', [0x1c]], // a group end
      ['Pod', [0x0f]], // wire type 7
      ['Pod', [0x1a, 0x05, 0x0a, 0x10]], // a nested length past its message
      ['Pod', [0x1a, 0x04, 0x3a, 0x02, 0x0a, 0x00]], // a label with an empty key and no value
      ['Pod', [0x1a, 0x08, 0x3a, 0x06, 0x12, 0x01, 0x76, 0x0a, 0x01, 0x6b]], // value before key
      ['Pod', [0x0a, 0x03, 0xc3, 0x28, 0x41]], // bad UTF-8 in apiVersion
      ['Pod', [0x0a, 0x03, 0xef, 0xbb, 0xbf]], // a BOM
      ['Pod', [0x0a, 0x02, 0xe2, 0x82]], // truncated UTF-8 sequence
      ['Deployment', [0x22, 0x06, 0x2a, 0x04, 0x12, 0x02, 0x08, 0x00]], // rollingUpdate.maxSurge = int 0
      ['Deployment', [0x22, 0x0a, 0x2a, 0x08, 0x12, 0x06, 0x08, 0x05, 0x12, 0x01, 0x61, 0x08]], // both, then a cut
      ['ConfigMap', [0x2a, 0x03, 0x0a, 0x01, 0x62]], // a bytes entry without value
    ];
    for (const [kind, bytes] of cases) expectSameDecoding(kind, Uint8Array.from(bytes));
    for (const kind of ALL_KINDS) for (const other of ALL_KINDS) expectSameDecoding(kind, encodeObject(samples[other]));
  });

  it(`${RANDOM_OBJECTS_PER_KIND} random objects per kind, each mangled ${MANGLINGS_PER_OBJECT} times (seed ${SEED})`, () => {
    const gen = new Generator(SEED);
    for (const kind of ALL_KINDS) {
      let previous = encodeObject(samples[kind]);
      for (let i = 0; i < RANDOM_OBJECTS_PER_KIND; i++) {
        const obj = gen.object(kind);
        const bytes = expectSameEncoding(obj);
        if (bytes === undefined) continue;
        expectSameDecoding(kind, bytes);
        for (let m = 0; m < MANGLINGS_PER_OBJECT; m++) expectSameDecoding(kind, gen.mangle(bytes, previous));
        previous = bytes;
      }
    }
  });

  it('covered thousands of cases', () => {
    console.log(`codec differential: ${counted.encodes} encodes (${counted.encodeErrors} both threw), ${counted.decodes} decodes (${counted.decodeErrors} both threw)`);
    expect(counted.encodes).toBeGreaterThan(4_000);
    expect(counted.decodes).toBeGreaterThan(30_000);
  });
});
