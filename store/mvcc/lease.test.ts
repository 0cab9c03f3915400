// Leases in the state machine: grant (proposer-chosen id), attach on put, move between leases,
// detach on delete, revoke deleting every attached key at one revision. Expiry timing is the
// leader's: it proposes leaseRevoke, which is all the state machine sees.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Command, deleteRangeCommand, putCommand, txnCommand } from './commands.js';
import { LeaseExistsError, LeaseNotFoundError } from './errors.js';
import type { StoreChange } from './kv-store.js';
import type { ApplyOutcome, CommandResponse, LeaseInfo } from './responses.js';
import { type TempStore, openTempStore, text, utf8 } from './testing.js';

let temp: TempStore;
let index = 0;

function apply(command: Command): ApplyOutcome {
  return temp.store.apply(++index, command);
}

function run(command: Command): CommandResponse {
  const outcome = apply(command);
  if (outcome.status !== 'applied') throw new Error(`apply ${outcome.status}`);
  return outcome.response;
}

function describeLeases(leases: readonly LeaseInfo[]): { id: number; ttl: number; keys: string[] }[] {
  return leases.map((lease) => ({ id: lease.id, ttl: lease.ttl, keys: lease.keys.map((key) => text(key)) }));
}

beforeEach(() => {
  temp = openTempStore();
  index = 0;
});
afterEach(async () => {
  await temp.dispose();
});

describe('leases', () => {
  it('grants a lease without bumping the revision, and refuses a duplicate id', () => {
    expect(run({ type: 'leaseGrant', id: 100, ttl: 10 })).toEqual({ type: 'leaseGrant', revision: 1, id: 100, ttl: 10 });
    const duplicate = apply({ type: 'leaseGrant', id: 100, ttl: 20 });
    expect(duplicate.status === 'rejected' && duplicate.error).toBeInstanceOf(LeaseExistsError);
    expect(describeLeases(temp.store.leases())).toEqual([{ id: 100, ttl: 10, keys: [] }]);
  });

  it('attaches keys on put and lists them in key order', () => {
    run({ type: 'leaseGrant', id: 2, ttl: 60 });
    run({ type: 'leaseGrant', id: 1, ttl: 5 });
    run(putCommand(utf8('node/b'), utf8('x'), { lease: 1 }));
    run(putCommand(utf8('node/a'), utf8('x'), { lease: 1 }));
    run(putCommand(utf8('other'), utf8('x'), { lease: 2 }));
    expect(describeLeases(temp.store.leases())).toEqual([
      { id: 1, ttl: 5, keys: ['node/a', 'node/b'] },
      { id: 2, ttl: 60, keys: ['other'] },
    ]);
    expect(temp.store.range({ key: utf8('node/a') }).kvs[0]?.lease).toBe(1);
    expect(temp.store.lease(3)).toBeUndefined();
  });

  it('refuses a put naming an unknown lease', () => {
    const outcome = apply(putCommand(utf8('a'), utf8('x'), { lease: 5 }));
    expect(outcome.status === 'rejected' && outcome.error).toBeInstanceOf(LeaseNotFoundError);
    expect(outcome.status === 'rejected' && outcome.error).toMatchObject({ leaseId: 5 });
  });

  it('moves a key between leases, keeps it with ignoreLease, detaches it on a put without lease or a delete', () => {
    run({ type: 'leaseGrant', id: 1, ttl: 5 });
    run({ type: 'leaseGrant', id: 2, ttl: 5 });
    run(putCommand(utf8('a'), utf8('x'), { lease: 1 }));
    run(putCommand(utf8('a'), utf8('y'), { lease: 2 }));
    expect(temp.store.lease(1)?.keys).toEqual([]);
    expect(temp.store.lease(2)?.keys.map((key) => text(key))).toEqual(['a']);
    run(putCommand(utf8('a'), utf8('z'), { ignoreLease: true }));
    expect(temp.store.range({ key: utf8('a') }).kvs[0]?.lease).toBe(2);
    run(putCommand(utf8('a'), utf8('w')));
    expect(temp.store.lease(2)?.keys).toEqual([]);
    run(putCommand(utf8('b'), utf8('x'), { lease: 1 }));
    run(deleteRangeCommand(utf8('b')));
    expect(temp.store.lease(1)?.keys).toEqual([]);
  });

  it('revokes: every attached key is deleted at one revision, in key order', () => {
    run({ type: 'leaseGrant', id: 9, ttl: 5 });
    run(putCommand(utf8('k2'), utf8('x'), { lease: 9 })); // 2
    run(putCommand(utf8('k1'), utf8('x'), { lease: 9 })); // 3
    run(putCommand(utf8('keep'), utf8('x'))); // 4
    const changes: StoreChange[] = [];
    temp.store.subscribe((change) => changes.push(change));
    expect(run({ type: 'leaseRevoke', id: 9 })).toEqual({ type: 'leaseRevoke', revision: 5 });
    expect(temp.store.lease(9)).toBeUndefined();
    expect(temp.store.range({ key: utf8('k'), rangeEnd: utf8('l') }).kvs.map((kv) => text(kv.key))).toEqual(['keep']);
    const applied = changes[0];
    expect(applied?.type === 'applied' && applied.events.map((e) => [e.type, text(e.kv.key), e.kv.modRevision])).toEqual([
      ['delete', 'k1', 5],
      ['delete', 'k2', 5],
    ]);
  });

  it('revokes a lease without keys without bumping the revision, and refuses an unknown one', () => {
    run({ type: 'leaseGrant', id: 3, ttl: 5 });
    expect(run({ type: 'leaseRevoke', id: 3 })).toEqual({ type: 'leaseRevoke', revision: 1 });
    const again = apply({ type: 'leaseRevoke', id: 3 });
    expect(again.status === 'rejected' && again.error).toBeInstanceOf(LeaseNotFoundError);
  });

  it('attaches keys put inside a txn', () => {
    run({ type: 'leaseGrant', id: 4, ttl: 5 });
    run(txnCommand([], [putCommand(utf8('t1'), utf8('x'), { lease: 4 }), putCommand(utf8('t2'), utf8('x'), { lease: 4 })]));
    expect(temp.store.lease(4)?.keys.map((key) => text(key))).toEqual(['t1', 't2']);
  });

  it('keeps leases across a reopen', async () => {
    run({ type: 'leaseGrant', id: 11, ttl: 15 });
    run(putCommand(utf8('a'), utf8('x'), { lease: 11 }));
    await temp.reopen();
    expect(describeLeases(temp.store.leases())).toEqual([{ id: 11, ttl: 15, keys: ['a'] }]);
  });
});
