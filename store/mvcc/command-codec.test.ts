// Wire format 2 of the log's commands: random commands round-trip to their normalized form and
// encode canonically; mutated bytes are refused with an InvalidCommandError naming a field, or
// decode to a command that encodes back to exactly those bytes; format-1 (msgpack) entries still
// decode to the same command.

import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { Rng } from '../../raft/sim/rng.js';
import { WIRE_MAGIC, WIRE_VERSION, decodeWire, encodeWire } from './command-codec.js';
import {
  type Command,
  type Compare,
  MAX_BATCH_TXNS,
  MAX_TXN_DEPTH,
  type RequestOp,
  type TxnCommand,
  decodeCommand,
  encodeBatch,
  encodeCommand,
  putCommand,
  rangeOp,
  txnCommand,
  validateCommand,
} from './commands.js';
import { InvalidCommandError, RequestTooLargeError } from './errors.js';
import { MAX_KEY_BYTES } from './keyspace.js';
import { utf8 } from './testing.js';

function bytesOf(rng: Rng, min: number, max: number): Uint8Array {
  const b = new Uint8Array(rng.range(min, max));
  for (let i = 0; i < b.length; i++) b[i] = rng.int(256);
  return b;
}

/** Integers across the varint widths, up to the safe limit. */
function integer(rng: Rng, max = Number.MAX_SAFE_INTEGER): number {
  const widths = [0, 1, 127, 128, 16_383, 16_384, 2 ** 31, 2 ** 40 + 7, max];
  return Math.min(max, rng.chance(0.5) ? rng.pick(widths) : rng.int(Math.min(max, 2 ** 32) + 1));
}

function compare(rng: Rng): Compare {
  const key = bytesOf(rng, 1, 40);
  const base = { key, ...(rng.chance(0.3) ? { rangeEnd: bytesOf(rng, 0, 8) } : {}), result: rng.pick(['equal', 'greater', 'less', 'notEqual'] as const) };
  const operand = (): number => {
    const n = integer(rng);
    return rng.chance(0.5) ? -n : n; // -0 too: validation makes it 0
  };
  switch (rng.pick(['value', 'version', 'createRevision', 'modRevision', 'lease'] as const)) {
    case 'value':
      return { ...base, target: 'value', value: bytesOf(rng, 0, 30) };
    case 'version':
      return { ...base, target: 'version', version: operand() };
    case 'createRevision':
      return { ...base, target: 'createRevision', createRevision: operand() };
    case 'modRevision':
      return { ...base, target: 'modRevision', modRevision: operand() };
    case 'lease':
      return { ...base, target: 'lease', lease: operand() };
  }
}

/** Ops whose keys are distinct per branch (etcd refuses a branch that writes a key twice). */
function ops(rng: Rng, depth: number, tag: string): RequestOp[] {
  return Array.from({ length: rng.int(4) }, (_, i): RequestOp => {
    const key = utf8(`/${tag}/${i}`);
    switch (rng.pick(depth < 3 ? (['range', 'put', 'deleteRange', 'txn'] as const) : (['range', 'put'] as const))) {
      case 'range':
        return rangeOp(key, {
          ...(rng.chance(0.5) ? { rangeEnd: utf8(`/${tag}/${i}z`) } : {}),
          revision: integer(rng),
          limit: integer(rng),
          countOnly: rng.chance(0.5),
          keysOnly: rng.chance(0.5),
          sortOrder: rng.pick(['none', 'ascend', 'descend'] as const),
          sortTarget: rng.pick(['key', 'version', 'create', 'mod', 'value'] as const),
          minModRevision: integer(rng),
          maxCreateRevision: integer(rng),
        });
      case 'put': {
        const ignoreValue = rng.chance(0.2);
        const ignoreLease = rng.chance(0.2);
        return putCommand(key, ignoreValue ? new Uint8Array(0) : bytesOf(rng, 0, 300), {
          lease: ignoreLease ? 0 : integer(rng),
          prevKv: rng.chance(0.5),
          ignoreValue,
          ignoreLease,
        });
      }
      case 'deleteRange':
        // Under its own prefix, so it never covers a put of the same branch.
        return { type: 'deleteRange', key: utf8(`/del/${tag}/${i}`), ...(rng.chance(0.5) ? { rangeEnd: utf8(`/del/${tag}/${i}z`) } : {}), prevKv: rng.chance(0.5) };
      case 'txn':
        return txn(rng, depth + 1, `${tag}/${i}`);
    }
  });
}

function txn(rng: Rng, depth: number, tag: string): TxnCommand {
  return txnCommand(
    Array.from({ length: rng.int(3) }, () => compare(rng)),
    ops(rng, depth, `${tag}/s`),
    ops(rng, depth, `${tag}/f`),
  );
}

function command(rng: Rng): Command {
  switch (rng.pick(['put', 'deleteRange', 'txn', 'batch', 'compact', 'leaseGrant', 'leaseRevoke', 'memberPublish'] as const)) {
    case 'put':
      return putCommand(bytesOf(rng, 1, MAX_KEY_BYTES), bytesOf(rng, 0, 2000), { lease: integer(rng), prevKv: rng.chance(0.5) });
    case 'deleteRange':
      return { type: 'deleteRange', key: bytesOf(rng, 1, 20), rangeEnd: bytesOf(rng, 0, 20), prevKv: rng.chance(0.5) };
    case 'txn':
      return txn(rng, 0, 't');
    case 'batch':
      return { type: 'batch', txns: Array.from({ length: rng.range(1, 5) }, (_, i) => txn(rng, 0, `b${i}`)) };
    case 'compact':
      return { type: 'compact', revision: Math.max(1, integer(rng)) };
    case 'leaseGrant':
      return { type: 'leaseGrant', id: Math.max(1, integer(rng)), ttl: rng.range(1, 9_000_000_000) };
    case 'leaseRevoke':
      return { type: 'leaseRevoke', id: Math.max(1, integer(rng)) };
    case 'memberPublish':
      return { type: 'memberPublish', id: rng.range(1, 0xffff_ffff), name: rng.pick(['m1', 'mästare-ß', 'x'.repeat(63)]), clientUrls: rng.pick([[], ['http://127.0.0.1:2379'], ['http://h:1', 'https://ünï:2']]) };
  }
}

function refusal(bytes: Uint8Array): InvalidCommandError {
  try {
    decodeCommand(bytes);
  } catch (error) {
    if (error instanceof InvalidCommandError) return error;
    throw error;
  }
  throw new Error('decoded without error');
}

/** A format-2 frame from body bytes, bypassing the encoder, as a buggy or hostile peer might. */
function frame(...body: number[]): Uint8Array {
  return Uint8Array.from([WIRE_MAGIC, WIRE_VERSION, ...body]);
}

describe('wire format 2', () => {
  it('round-trips random commands to their normalized form, canonically', () => {
    const rng = new Rng(20261203);
    for (let i = 0; i < 600; i++) {
      const c = command(rng);
      const bytes = encodeCommand(c);
      expect(bytes[0]).toBe(WIRE_MAGIC);
      const decoded = decodeCommand(bytes);
      expect(decoded).toEqual(validateCommand(c));
      expect(Buffer.compare(encodeCommand(decoded), bytes)).toBe(0);
    }
  });

  it('decodes format-1 (msgpack) commands, as older masters wrote them, to the same command', () => {
    const legacy = new Packr({ useRecords: false, moreTypes: false });
    const rng = new Rng(7);
    for (let i = 0; i < 300; i++) {
      const normalized = validateCommand(command(rng));
      expect(decodeCommand(legacy.pack(normalized))).toEqual(decodeCommand(encodeCommand(normalized)));
    }
  });

  it('a batch built from encoded txns is the encoding of the batch', () => {
    const rng = new Rng(11);
    const txns = Array.from({ length: MAX_BATCH_TXNS }, (_, i) => txn(rng, 0, `b${i}`));
    const built = encodeBatch(txns.map((t) => encodeCommand(t)));
    expect(Buffer.compare(built, encodeCommand({ type: 'batch', txns }))).toBe(0);
    expect(() => encodeBatch([encodeCommand(putCommand(utf8('k'), utf8('v')))])).toThrow(RangeError);
  });

  it('refuses every mutation of valid bytes with a named field, or decodes it to a command that encodes back to those bytes', () => {
    const rng = new Rng(99);
    let refused = 0;
    let accepted = 0;
    for (let i = 0; i < 3000; i++) {
      const good = encodeCommand(command(rng));
      let bad: Uint8Array;
      switch (rng.int(4)) {
        case 0: // flip a byte
          bad = good.slice();
          bad[rng.int(bad.length)] = rng.int(256);
          break;
        case 1: // cut the tail
          bad = good.subarray(0, rng.int(good.length));
          break;
        case 2: // extra bytes
          bad = Uint8Array.from([...good, ...bytesOf(rng, 1, 4)]);
          break;
        default: // flip a few bits
          bad = good.slice();
          for (let k = 0; k < 3; k++) bad[rng.int(bad.length)]! ^= 1 << rng.int(8);
      }
      let decoded: Command | undefined;
      try {
        decoded = decodeCommand(bad);
      } catch (error) {
        if (!(error instanceof InvalidCommandError) && !(error instanceof RequestTooLargeError)) throw error;
        if (error instanceof InvalidCommandError) expect(error.field.length).toBeGreaterThan(0);
        refused++;
        continue;
      }
      accepted++;
      expect(Buffer.compare(encodeCommand(decoded), bad)).toBe(0);
    }
    expect(refused).toBeGreaterThan(1000);
    expect(accepted).toBeGreaterThan(0);
  });

  it('names the field at fault', () => {
    const key = [1, 0x6b]; // length 1, "k"
    const cases: [Uint8Array, string, RegExp][] = [
      [frame(), 'type', /truncated/],
      [frame(42), 'type', /not a command/],
      [frame(1, 0), 'key', /must not be empty/],
      [frame(1, 5, 0x6b), 'key', /only 1 remain/],
      [frame(1, 0xc1, 0x07, ...new Array(961).fill(0x61)), 'key', /more than 960/],
      [frame(1, ...key, 0), 'lease', /truncated/],
      [frame(1, ...key, 0, 0, 8), 'flags', /unknown flag bits 0x8/],
      [frame(1, ...key, 1, 0x76, 0, 2), 'value', /must be empty when ignoreValue/],
      [frame(1, ...key, 0, 0x80, 0x00, 0), 'lease', /not a minimal varint/],
      [frame(1, ...key, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01), 'lease', /longer than 8 bytes/],
      [frame(1, ...key, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0), 'lease', /must be in \[0, 9007199254740991\]/],
      [frame(3, 1, 0, 0, 1, 0, ...key, 0, 1, 0), 'compare[0].version', /must be in \[1,/],
      [frame(3, 1, 0, 0, 1, 0, ...key, 0, 2, 0), 'compare[0].version', /sign byte 2/],
      [frame(3, 1, 0, 0, 7, 0, ...key, 0, 0, 0), 'compare[0].target', /code 7/],
      [frame(3, 0, 1, 0, 5, ...key, 0, 0), 'success[0].type', /not an operation/],
      [frame(3, 0, 1, 0, 9, ...key, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0), 'success[0].sortOrder', /code 3/],
      [frame(3, 0, 0, 0x81, 0x01), 'failure', /must be in \[0, 128\]/],
      [frame(3, 0, 2, 0, 1, ...key, 0, 0, 0, 1, ...key, 0, 0, 0), 'success[1].key', /duplicate key/],
      [frame(4, 0), 'txns', /must be in \[1, 512\]/],
      [frame(4, 1, 1, ...key, 0, 0, 0), 'txns[0].type', /not a txn/],
      [frame(5, 0), 'revision', /must be in \[1,/],
      [frame(6, 1, 0), 'ttl', /must be in \[1,/],
      [frame(8, 1, 2, 0xc3, 0x28, 0), 'name', /not UTF-8/],
      [frame(8, 1, 0), 'name', /must not be empty/],
      [frame(5, 1, 0), '(bytes)', /bytes after the command/],
      [Uint8Array.from([WIRE_MAGIC, 9, 5, 1]), '(bytes)', /wire version 9/],
    ];
    for (const [bytes, field, reason] of cases) {
      const error = refusal(bytes);
      expect({ field: error.field, reason: error.reason }).toMatchObject({ field, reason: expect.stringMatching(reason) });
    }
  });

  it('bounds nesting and the ops a nested txn may have by what its parent left', () => {
    let nested: TxnCommand = txnCommand([], []);
    for (let i = 0; i <= MAX_TXN_DEPTH; i++) nested = txnCommand([], [nested]);
    // encodeWire does not validate (encodeCommand does): how a peer with a bug could write these.
    const tooDeep = encodeWire(nested);
    expect(refusal(tooDeep).reason).toMatch(/nest more than 16 deep/);
    // A parent with 100 successes leaves 28 for a nested txn.
    const wide = txnCommand([], [txnCommand([], Array.from({ length: 29 }, (_, i) => rangeOp(utf8(`/r${i}`)))), ...Array.from({ length: 99 }, (_, i) => rangeOp(utf8(`/p${i}`)))]);
    expect(refusal(encodeWire(wide))).toMatchObject({ field: 'success[0].success', reason: expect.stringMatching(/must be in \[0, 28\]/) });
    expect(() => validateCommand(wide)).toThrow(/success\[0\]\.success/);
  });

  it('decodeWire refuses bytes that are not format 2', () => {
    expect(() => decodeWire(Uint8Array.of(0x81))).toThrow(InvalidCommandError);
  });
});
