// The command codec: canonical round trips, and malformed input refused with a typed error that
// names the field (never a crash), including etcd's txn rules (max ops, duplicate keys).

import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import {
  type Command,
  MAX_REQUEST_BYTES,
  MAX_TXN_DEPTH,
  MAX_TXN_OPS,
  type RequestOp,
  decodeCommand,
  deleteRangeCommand,
  encodeCommand,
  putCommand,
  rangeOp,
  txnCommand,
  validateCommand,
} from './commands.js';
import { InvalidCommandError, RequestTooLargeError } from './errors.js';
import { MAX_KEY_BYTES } from './keyspace.js';
import { utf8 } from './testing.js';

const rawPackr = new Packr({ useRecords: false });

/** Encodes anything, bypassing validation, as a malicious or buggy proposer might. */
function raw(value: unknown): Uint8Array {
  return rawPackr.pack(value);
}

function decodeError(bytes: Uint8Array): InvalidCommandError {
  try {
    decodeCommand(bytes);
  } catch (error) {
    if (error instanceof InvalidCommandError) return error;
    throw error;
  }
  throw new Error('decoded without error');
}

const sample: Command[] = [
  putCommand(utf8('k'), utf8('v'), { lease: 5, prevKv: true }),
  deleteRangeCommand(utf8('a'), { rangeEnd: utf8('\0'), prevKv: true }),
  txnCommand(
    [
      { key: utf8('k'), result: 'equal', target: 'version', version: 0 },
      { key: utf8('k'), rangeEnd: utf8('l'), result: 'notEqual', target: 'value', value: utf8('x') },
    ],
    [putCommand(utf8('k'), utf8('v')), rangeOp(utf8('k'), { limit: 3, sortOrder: 'descend', sortTarget: 'mod' })],
    [txnCommand([], [deleteRangeCommand(utf8('k'))])],
  ),
  { type: 'compact', revision: 12 },
  { type: 'leaseGrant', id: 2 ** 40 + 3, ttl: 10 },
  { type: 'leaseRevoke', id: 9 },
];

describe('encode and decode', () => {
  it('round-trips every command type to its normalized form', () => {
    for (const command of sample) {
      const bytes = encodeCommand(command);
      const decoded = decodeCommand(bytes);
      expect(decoded).toEqual(validateCommand(command));
      // Canonical: the decoded command encodes to the same bytes. (Compared as buffers: msgpackr
      // caches a DataView property on the arrays it decodes.)
      expect(Buffer.compare(encodeCommand(decoded), bytes)).toBe(0);
    }
  });

  it('fills etcd zero values, so equal commands encode equally', () => {
    const explicit = putCommand(utf8('k'), utf8('v'), { lease: 0, prevKv: false, ignoreValue: false, ignoreLease: false });
    expect(Buffer.compare(encodeCommand(putCommand(utf8('k'), utf8('v'))), encodeCommand(explicit))).toBe(0);
  });

  it('bounds the encoded size by MAX_REQUEST_BYTES', () => {
    expect(() => encodeCommand(putCommand(utf8('k'), new Uint8Array(MAX_REQUEST_BYTES)))).toThrow(RequestTooLargeError);
    expect(() => decodeCommand(new Uint8Array(MAX_REQUEST_BYTES + 1))).toThrow(RequestTooLargeError);
    expect(encodeCommand(putCommand(utf8('k'), new Uint8Array(MAX_REQUEST_BYTES - 100))).length).toBeLessThanOrEqual(MAX_REQUEST_BYTES);
  });
});

describe('malformed input', () => {
  it('refuses bytes that are not msgpack', () => {
    expect(decodeError(new Uint8Array([0xc7, 0x01, 0x05, 0xab]))).toMatchObject({ field: '(bytes)' });
    // 0xc1 is never msgpack: it starts a command of wire format 2, and alone it is not one.
    expect(decodeError(new Uint8Array([0xc1]))).toMatchObject({ field: '(bytes)' });
    expect(decodeError(new Uint8Array([0x92, 0x01]))).toMatchObject({ field: '(bytes)' });
    expect(decodeError(new Uint8Array(0))).toMatchObject({ field: '(bytes)' });
  });

  it('names the field at fault', () => {
    const cases: [unknown, string][] = [
      [[1, 2], '(command)'],
      [{ type: 'nope' }, 'type'],
      [{ type: 'put', value: utf8('v') }, 'key'],
      [{ type: 'put', key: 'not bytes', value: utf8('v') }, 'key'],
      [{ type: 'put', key: utf8('k'), value: utf8('v'), lease: -1 }, 'lease'],
      [{ type: 'put', key: utf8('k'), value: utf8('v'), lease: 1.5 }, 'lease'],
      [{ type: 'put', key: utf8('k'), value: utf8('v'), prevKv: 1 }, 'prevKv'],
      [{ type: 'put', key: utf8('k'), value: utf8('v'), bogus: true }, 'bogus'],
      [{ type: 'put', key: utf8('k'), value: utf8('v'), ignoreValue: true }, 'value'],
      [{ type: 'put', key: utf8('k'), value: new Uint8Array(0), lease: 3, ignoreLease: true }, 'lease'],
      [{ type: 'put', key: new Uint8Array(MAX_KEY_BYTES + 1), value: utf8('v') }, 'key'],
      [{ type: 'deleteRange', key: utf8('k'), rangeEnd: 7 }, 'rangeEnd'],
      [{ type: 'compact', revision: 0 }, 'revision'],
      [{ type: 'leaseGrant', id: 0, ttl: 5 }, 'id'],
      [{ type: 'leaseGrant', id: 1, ttl: 0 }, 'ttl'],
      [{ type: 'leaseRevoke', id: 2 ** 60 }, 'id'],
      [{ type: 'txn', compare: [{ key: utf8('k'), result: 'equal', target: 'size' }], success: [], failure: [] }, 'compare[0].target'],
      [{ type: 'txn', compare: [{ key: utf8('k'), result: 'same', target: 'version' }], success: [], failure: [] }, 'compare[0].result'],
      [
        { type: 'txn', compare: [{ key: utf8('k'), result: 'equal', target: 'version', value: utf8('x') }], success: [], failure: [] },
        'compare[0].value',
      ],
      [{ type: 'txn', compare: [], success: [{ type: 'put', key: utf8('k'), value: utf8('v'), lease: 'x' }], failure: [] }, 'success[0].lease'],
      [{ type: 'txn', compare: [], success: [], failure: [{ type: 'range', key: utf8('k'), sortOrder: 'up' }] }, 'failure[0].sortOrder'],
      [{ type: 'txn', compare: [], success: [{ type: 'compact', revision: 1 }], failure: [] }, 'success[0].type'],
      [
        { type: 'txn', compare: [], success: [{ type: 'txn', compare: [], success: [{ type: 'put', key: 5 }], failure: [] }] },
        'success[0].success[0].key',
      ],
      [{ type: 'txn', compare: {}, success: [], failure: [] }, 'compare'],
    ];
    for (const [input, field] of cases) {
      const error = decodeError(raw(input));
      expect({ input, field: error.field }).toEqual({ input, field });
      expect(error.name).toBe('InvalidCommandError');
    }
  });

  it('applies etcd max txn ops to each list, and to nested txns with what is left', () => {
    const puts = (n: number): RequestOp[] => Array.from({ length: n }, (_, i) => putCommand(utf8(`k${i}`), utf8('v')));
    expect(() => validateCommand(txnCommand([], puts(MAX_TXN_OPS)))).not.toThrow();
    expect(() => validateCommand(txnCommand([], puts(MAX_TXN_OPS + 1)))).toThrow(InvalidCommandError);
    const nested = txnCommand([], [...puts(MAX_TXN_OPS - 2), txnCommand([], puts(3))]);
    expect(() => validateCommand(nested)).toThrow(/success\[126\]\.success/);
  });

  it('bounds txn nesting', () => {
    let command = txnCommand([], []);
    for (let depth = 0; depth <= MAX_TXN_DEPTH; depth++) command = txnCommand([], [command]);
    expect(() => validateCommand(command)).toThrow(/nest more than/);
  });

  it('refuses a branch that writes a key twice, as etcd does', () => {
    const twice = txnCommand([], [putCommand(utf8('k'), utf8('1')), putCommand(utf8('k'), utf8('2'))]);
    expect(() => validateCommand(twice)).toThrow(/success\[1\]\.key: duplicate key/);
    const putInDeletedRange = txnCommand([], [deleteRangeCommand(utf8('a'), { rangeEnd: utf8('z') }), putCommand(utf8('k'), utf8('1'))]);
    expect(() => validateCommand(putInDeletedRange)).toThrow(/duplicate key/);
    const nestedTwice = txnCommand([], [putCommand(utf8('k'), utf8('1')), txnCommand([], [putCommand(utf8('k'), utf8('2'))])]);
    expect(() => validateCommand(nestedTwice)).toThrow(/duplicate key/);
    // Allowed: the same key in the two branches, in both branches of a nested txn, and overlapping deletes.
    expect(() => validateCommand(txnCommand([], [putCommand(utf8('k'), utf8('1'))], [putCommand(utf8('k'), utf8('2'))]))).not.toThrow();
    const eitherBranch = txnCommand([], [txnCommand([], [putCommand(utf8('k'), utf8('1'))], [putCommand(utf8('k'), utf8('2'))])]);
    expect(() => validateCommand(eitherBranch)).not.toThrow();
    const deletes = txnCommand([], [deleteRangeCommand(utf8('k')), deleteRangeCommand(utf8('a'), { rangeEnd: utf8('z') })]);
    expect(() => validateCommand(deletes)).not.toThrow();
  });

  it('never throws anything but a typed error on random or mutated bytes', () => {
    let seed = 12345;
    const random = (): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const valid = sample.map((command) => encodeCommand(command));
    for (let i = 0; i < 3000; i++) {
      let bytes: Uint8Array;
      if (i % 2 === 0) {
        bytes = Uint8Array.from({ length: Math.floor(random() * 64) }, () => Math.floor(random() * 256));
      } else {
        const base = valid[i % valid.length] ?? new Uint8Array(0);
        bytes = base.slice();
        const flips = 1 + Math.floor(random() * 3);
        for (let f = 0; f < flips; f++) bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
      }
      try {
        decodeCommand(bytes);
      } catch (error) {
        expect(error).toBeInstanceOf(InvalidCommandError);
      }
    }
  });
});
