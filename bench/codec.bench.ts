// tinybench figures for the API codec (proto/api/codec.ts), the hottest code in the masters: a Pod
// and a Node with realistic content, encoded and decoded (from a Buffer, as LMDB and the sockets
// hand them over, and from a plain Uint8Array), by the compiled codec and by the reflective codec
// it replaced (codec-reference.ts). Prints medians and the new/old ratio; no pass/fail.
//
//   npm run build && node dist/bench/codec.bench.js

import { Bench } from 'tinybench';
import { decodeObject, encodeObject } from '../proto/api/codec.js';
import { referenceDecodeObject, referenceEncodeObject } from '../proto/api/codec-reference.js';
import type { ApiObject } from '../proto/api/object.js';
import type { Node, Pod } from '../proto/api/types.js';
import { benchNode, benchPod } from './codec-objects.js';

const BENCH_TIME_MS = 1_000;
/**
 * Each task cycles through this many copies that differ where real objects differ (name, uid,
 * IPs, container IDs), so string caches see unique strings as well as recurring ones.
 */
const VARIANTS = 64;

function podVariant(i: number): Pod {
  const name = `web-7d4b9c8f6d-${i.toString(36).padStart(5, 'q')}`;
  return {
    ...benchPod,
    metadata: { ...benchPod.metadata, name, uid: `6f1c3f9e-8a9b-4c1e-9d6a-${(1e11 + i).toString(16)}` },
    status: {
      ...benchPod.status,
      podIP: `10.244.${i % 250}.${(i * 7) % 250}`,
      containerStatuses: benchPod.status?.containerStatuses?.map((c) => ({ ...c, containerID: `containerd://${i.toString(16).padStart(64, 'c')}` })),
    },
  };
}

function nodeVariant(i: number): Node {
  const name = `node-${1000 + i}`;
  return {
    ...benchNode,
    metadata: { ...benchNode.metadata, name, uid: `1a2b3c4d-5e6f-4a7b-8c9d-${(1e11 + i).toString(16)}`, labels: { ...benchNode.metadata.labels, 'kubernetes.io/hostname': name } },
    status: { ...benchNode.status, addresses: [{ type: 'InternalIP', address: `10.0.${i % 250}.${(i * 3) % 250}` }, { type: 'Hostname', address: name }] },
  };
}

interface Codec {
  readonly encode: (obj: ApiObject) => Uint8Array;
  readonly decode: (kind: string, bytes: Uint8Array) => ApiObject;
}
const codecs: Readonly<Record<'old' | 'new', Codec>> = {
  old: { encode: referenceEncodeObject, decode: referenceDecodeObject },
  new: { encode: encodeObject, decode: decodeObject },
};

let sink = 0;
const bench = new Bench({ time: BENCH_TIME_MS, warmup: true });
const sets: readonly (readonly ApiObject[])[] = [Array.from({ length: VARIANTS }, (_, i) => podVariant(i)), Array.from({ length: VARIANTS }, (_, i) => nodeVariant(i))];
for (const objects of sets) {
  const kind = objects[0]!.kind;
  const buffers = objects.map((obj) => encodeObject(obj));
  const plains = buffers.map((b) => new Uint8Array(b));
  objects.forEach((obj, i) => {
    if (!Buffer.from(referenceEncodeObject(obj)).equals(Buffer.from(buffers[i]!))) throw new Error(`${kind}: the codecs disagree`);
  });
  for (const version of ['old', 'new'] as const) {
    const codec = codecs[version];
    let i = 0;
    bench
      .add(`${kind} encode ${version}`, () => {
        sink += codec.encode(objects[i++ % VARIANTS]!).length;
      })
      .add(`${kind} decode (Buffer) ${version}`, () => {
        sink += codec.decode(kind, buffers[i++ % VARIANTS]!).kind.length;
      })
      .add(`${kind} decode (Uint8Array) ${version}`, () => {
        sink += codec.decode(kind, plains[i++ % VARIANTS]!).kind.length;
      });
  }
  console.log(`${kind}: ${buffers[0]!.length} bytes`);
}

await bench.run();
const medianOpsPerSecond = new Map<string, number>();
for (const t of bench.tasks) {
  const r = t.result;
  if (r !== undefined && 'throughput' in r) medianOpsPerSecond.set(t.name, r.throughput.p50 ?? 0);
}
const rows = [...medianOpsPerSecond].filter(([name]) => name.endsWith(' old')).map(([name, old]) => {
  const operation = name.slice(0, -' old'.length);
  const now = medianOpsPerSecond.get(`${operation} new`) ?? 0;
  return { operation, 'old ops/s (median)': Math.round(old).toLocaleString('en-US'), 'new ops/s (median)': Math.round(now).toLocaleString('en-US'), 'new/old': `${(now / old).toFixed(2)}×` };
});
console.table(rows);
if (sink === 0) console.log('(nothing encoded)');
