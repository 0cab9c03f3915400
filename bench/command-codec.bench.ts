// tinybench figures for the log's command codec (store/mvcc/command-codec.ts): every master decodes
// every entry, and the proposing master encodes it. Measures the txn the API writes for a pod
// create (compare absent, compare namespace, put ~2 KB, two failure ranges), alone and in a batch
// of 64, in wire format 2 against format 1 (msgpack, then validation), which the log still reads.
// Prints medians per txn and the new/old ratio; no pass/fail.
//
//   npm run build && node dist/bench/command-codec.bench.js

import { Packr } from 'msgpackr';
import { Bench } from 'tinybench';
import { encodeObject } from '../proto/api/codec.js';
import { type Command, type TxnCommand, decodeCommand, encodeBatch, encodeCommand, validateCommand } from '../store/mvcc/commands.js';
import { benchPod } from './codec-objects.js';

const BENCH_TIME_MS = 2_000;
/** Txns in the batch task: about what one bulk create of the benchmarks coalesces. */
const BATCH_TXNS = 64;

const enc = new TextEncoder();
const podBytes = encodeObject(benchPod);
const namespaceKey = enc.encode('/registry/namespaces/default');

function podCreate(i: number): TxnCommand {
  const key = enc.encode(`/registry/pods/default/web-7d4b9c8f6d-${i.toString(36).padStart(5, 'q')}`);
  return {
    type: 'txn',
    compare: [
      { key, target: 'createRevision', result: 'equal', createRevision: 0 },
      { key: namespaceKey, target: 'createRevision', result: 'greater', createRevision: 0 },
    ],
    success: [{ type: 'put', key, value: podBytes }],
    failure: [{ type: 'range', key }, { type: 'range', key: namespaceKey, countOnly: true }],
  };
}

const legacy = new Packr({ useRecords: false, moreTypes: false });
const one = podCreate(0);
const batch: Command = { type: 'batch', txns: Array.from({ length: BATCH_TXNS }, (_, i) => podCreate(i)) };
const formats = {
  new: { one: encodeCommand(one), batch: encodeBatch(batch.txns.map((t) => encodeCommand({ ...t, type: 'txn' }))) },
  old: { one: new Uint8Array(legacy.pack(validateCommand(one))), batch: new Uint8Array(legacy.pack(validateCommand(batch))) },
};
console.log(`pod create txn: ${formats.new.one.length} bytes in format 2, ${formats.old.one.length} in format 1 (pod ${podBytes.length} bytes)`);

let sink = 0;
const bench = new Bench({ time: BENCH_TIME_MS, warmup: true });
for (const [name, f] of Object.entries(formats)) {
  bench.add(`decode one txn ${name}`, () => {
    sink += decodeCommand(f.one).type.length;
  });
  bench.add(`decode a batch of ${BATCH_TXNS} ${name}`, () => {
    sink += decodeCommand(f.batch).type.length;
  });
}
bench.add('encode one txn new', () => {
  sink += encodeCommand(one).length;
});
bench.add('encode one txn old', () => {
  sink += legacy.pack(validateCommand(one)).length;
});
await bench.run();

const perTxnUs = new Map<string, number>();
for (const t of bench.tasks) {
  const r = t.result;
  if (r === undefined || !('latency' in r) || r.latency.p50 === undefined) continue;
  perTxnUs.set(t.name, (r.latency.p50 * 1000) / (t.name.includes('batch') ? BATCH_TXNS : 1));
}
const rows = [...perTxnUs].filter(([name]) => name.endsWith(' old')).map(([name, old]) => {
  const operation = name.slice(0, -' old'.length);
  const now = perTxnUs.get(`${operation} new`) ?? 0;
  return { operation, 'format 1 µs/txn (median)': old.toFixed(2), 'format 2 µs/txn (median)': now.toFixed(2), 'old/new': `${(old / now).toFixed(2)}×` };
});
console.table(rows);
if (sink === 0) console.log('(nothing decoded)');
