// etcd refuses a txn branch that writes one key twice ("duplicate key given in txn request"): two
// puts of a key, or a put inside a range the branch also deletes. Within one main revision each key
// then has at most one change, so history, versions and watch events stay unambiguous.
// This follows etcd's checkIntervals (v3rpc/key.go): puts in the success and the failure branch of a
// nested txn may repeat each other (only one branch runs), deletes alone may overlap.

import type { RequestOp } from './commands.js';
import { InvalidCommandError, formatKey } from './errors.js';
import { type KeyRange, keyId, keyRange, rangeContains } from './keyspace.js';

interface BranchWrites {
  /** Put keys (as latin1 strings, a lossless map key) with the field that puts them. */
  readonly puts: Map<string, string>;
  readonly deletes: KeyRange[];
}

function deleted(deletes: readonly KeyRange[], key: Uint8Array): boolean {
  return deletes.some((range) => rangeContains(range, key));
}

function duplicate(field: string, key: Uint8Array): InvalidCommandError {
  return new InvalidCommandError(field, `duplicate key given in txn request: ${formatKey(key)}`);
}

/** Throws InvalidCommandError naming the offending put when a branch writes a key twice. */
export function checkBranchWrites(ops: readonly RequestOp[], field: string): BranchWrites {
  const deletes: KeyRange[] = [];
  ops.forEach((op) => {
    if (op.type === 'deleteRange') deletes.push(keyRange(op.key, op.rangeEnd));
  });

  const puts = new Map<string, string>();
  ops.forEach((op, i) => {
    if (op.type !== 'txn') return;
    const then = checkBranchWrites(op.success, `${field}[${i}].success`);
    const otherwise = checkBranchWrites(op.failure, `${field}[${i}].failure`);
    for (const [id, putField] of then.puts) {
      const key = Buffer.from(id, 'latin1');
      if (puts.has(id) || deleted(deletes, key)) throw duplicate(putField, key);
      puts.set(id, putField);
    }
    for (const [id, putField] of otherwise.puts) {
      const key = Buffer.from(id, 'latin1');
      if (puts.has(id) && !then.puts.has(id)) throw duplicate(putField, key);
      if (deleted(deletes, key)) throw duplicate(putField, key);
      puts.set(id, putField);
    }
    deletes.push(...then.deletes, ...otherwise.deletes);
  });

  ops.forEach((op, i) => {
    if (op.type !== 'put') return;
    const id = keyId(op.key);
    const putField = `${field}[${i}].key`;
    if (puts.has(id) || deleted(deletes, op.key)) throw duplicate(putField, op.key);
    puts.set(id, putField);
  });
  return { puts, deletes };
}
