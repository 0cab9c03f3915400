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
import { benchNode, benchPod } from './codec-objects.js';

const BENCH_TIME_MS = 1_000;

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
for (const obj of [benchPod, benchNode] as ApiObject[]) {
  const buffer = encodeObject(obj);
  const plain = new Uint8Array(buffer);
  if (!Buffer.from(referenceEncodeObject(obj)).equals(Buffer.from(buffer))) throw new Error(`${obj.kind}: the codecs disagree`);
  for (const version of ['old', 'new'] as const) {
    const codec = codecs[version];
    bench
      .add(`${obj.kind} encode ${version}`, () => {
        sink += codec.encode(obj).length;
      })
      .add(`${obj.kind} decode (Buffer) ${version}`, () => {
        sink += codec.decode(obj.kind, buffer).kind.length;
      })
      .add(`${obj.kind} decode (Uint8Array) ${version}`, () => {
        sink += codec.decode(obj.kind, plain).kind.length;
      });
  }
  console.log(`${obj.kind}: ${buffer.length} bytes`);
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
