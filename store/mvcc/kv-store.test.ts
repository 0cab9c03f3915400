// Revision and version semantics against etcd's documented behaviour (etcd.io/docs/v3.5/learning/
// data_model and api: "revision", "create_revision", "mod_revision", "version"), and the apply
// contract: one entry, one transaction, recorded index, replay is a no-op.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Command, deleteRangeCommand, encodeCommand, putCommand } from './commands.js';
import { InvalidCommandError, KeyNotFoundError, RequestTooLargeError } from './errors.js';
import type { MvccStore } from './kv-store.js';
import type { ApplyOutcome, CommandResponse, KeyValue } from './responses.js';
import { type TempStore, openTempStore, text, utf8 } from './testing.js';

let temp: TempStore;
let index = 0;

beforeEach(() => {
  temp = openTempStore();
  index = 0;
});
afterEach(async () => {
  await temp.dispose();
});

function applied(outcome: ApplyOutcome): CommandResponse {
  if (outcome.status !== 'applied') throw new Error(`expected applied, got ${outcome.status}`);
  return outcome.response;
}

function run(command: Command, store: MvccStore = temp.store): CommandResponse {
  return applied(store.apply(++index, command));
}

function get(key: string, revision = 0): KeyValue | undefined {
  return temp.store.range({ key: utf8(key), revision }).kvs[0];
}

describe('revisions and versions', () => {
  it('starts at revision 1 with nothing applied', () => {
    expect(temp.store.currentRevision).toBe(1);
    expect(temp.store.compactRevision).toBe(0);
    expect(temp.store.appliedIndex).toBe(0);
    expect(temp.store.range({ key: utf8('a') })).toEqual({ type: 'range', revision: 1, kvs: [], count: 0, more: false });
  });

  it('gives each put the next revision; version counts puts since creation', () => {
    expect(run(putCommand(utf8('foo'), utf8('bar')))).toEqual({ type: 'put', revision: 2 });
    expect(get('foo')).toMatchObject({ createRevision: 2, modRevision: 2, version: 1 });
    expect(run(putCommand(utf8('foo'), utf8('baz')))).toEqual({ type: 'put', revision: 3 });
    const kv = get('foo');
    expect(kv).toMatchObject({ createRevision: 2, modRevision: 3, version: 2, lease: 0 });
    expect(text(kv?.value)).toBe('baz');
    expect(temp.store.currentRevision).toBe(3);
  });

  it('deletes leave a tombstone; recreating starts a new generation', () => {
    run(putCommand(utf8('foo'), utf8('1'))); // 2
    run(putCommand(utf8('foo'), utf8('2'))); // 3
    expect(run(deleteRangeCommand(utf8('foo'), { prevKv: true }))).toMatchObject({
      type: 'deleteRange',
      revision: 4,
      deleted: 1,
      prevKvs: [{ modRevision: 3, version: 2 }],
    });
    expect(get('foo')).toBeUndefined();
    run(putCommand(utf8('foo'), utf8('3'))); // 5
    expect(get('foo')).toMatchObject({ createRevision: 5, modRevision: 5, version: 1 });
    // The old generation is still readable at its revisions.
    expect(get('foo', 3)).toMatchObject({ createRevision: 2, modRevision: 3, version: 2 });
    expect(get('foo', 4)).toBeUndefined();
  });

  it('does not bump the revision for a delete of nothing', () => {
    run(putCommand(utf8('a'), utf8('1')));
    expect(run(deleteRangeCommand(utf8('missing')))).toEqual({ type: 'deleteRange', revision: 2, deleted: 0, prevKvs: [] });
    expect(temp.store.currentRevision).toBe(2);
  });

  it('deletes a range at one revision, with sub-revisions in key order', () => {
    for (const key of ['k1', 'k2', 'k3', 'l1']) run(putCommand(utf8(key), utf8('v')));
    const response = run(deleteRangeCommand(utf8('k'), { rangeEnd: utf8('l'), prevKv: true }));
    expect(response).toMatchObject({ revision: 6, deleted: 3 });
    if (response.type !== 'deleteRange') throw new Error('unreachable');
    expect(response.prevKvs.map((kv) => text(kv.key))).toEqual(['k1', 'k2', 'k3']);
    expect(temp.store.range({ key: utf8('\0'), rangeEnd: utf8('\0') }).kvs.map((kv) => text(kv.key))).toEqual(['l1']);
  });

  it('returns prevKv only when asked', () => {
    run(putCommand(utf8('a'), utf8('1')));
    expect(run(putCommand(utf8('a'), utf8('2')))).toEqual({ type: 'put', revision: 3 });
    const response = run(putCommand(utf8('a'), utf8('3'), { prevKv: true }));
    expect(response).toMatchObject({ type: 'put', revision: 4, prevKv: { modRevision: 3, version: 2 } });
    expect(run(putCommand(utf8('new'), utf8('x'), { prevKv: true }))).toEqual({ type: 'put', revision: 5 });
  });

  it('keeps the value with ignoreValue and refuses it on a missing key', () => {
    run(putCommand(utf8('a'), utf8('keep')));
    run(putCommand(utf8('a'), new Uint8Array(0), { ignoreValue: true }));
    expect(get('a')).toMatchObject({ version: 2 });
    expect(text(get('a')?.value)).toBe('keep');

    const outcome = temp.store.apply(++index, putCommand(utf8('missing'), new Uint8Array(0), { ignoreValue: true }));
    expect(outcome.status).toBe('rejected');
    if (outcome.status === 'rejected') expect(outcome.error).toBeInstanceOf(KeyNotFoundError);
    expect(temp.store.appliedIndex).toBe(index);
    expect(temp.store.currentRevision).toBe(3);
  });

  it('stores binary keys and values, including zero bytes', () => {
    const key = new Uint8Array([0x61, 0x00, 0xff]);
    const value = new Uint8Array([0, 1, 2, 255]);
    run(putCommand(key, value));
    run(putCommand(new Uint8Array([0x61]), utf8('short')));
    const kvs = temp.store.range({ key: new Uint8Array([0x61]), rangeEnd: new Uint8Array([0x62]) }).kvs;
    expect(kvs.map((kv) => Array.from(kv.key))).toEqual([[0x61], [0x61, 0x00, 0xff]]);
    expect(Array.from(kvs[1]?.value ?? [])).toEqual([0, 1, 2, 255]);
    // The same holds at an old revision, which is read through the escaped history index.
    run(putCommand(utf8('z'), utf8('later')));
    const old = temp.store.range({ key: new Uint8Array([0x61]), rangeEnd: new Uint8Array([0x62]), revision: 3 }).kvs;
    expect(old.map((kv) => Array.from(kv.key))).toEqual([[0x61], [0x61, 0x00, 0xff]]);
  });
});

describe('apply', () => {
  it('skips an index at or below the applied index', () => {
    run(putCommand(utf8('a'), utf8('1')));
    expect(temp.store.apply(1, putCommand(utf8('a'), utf8('again')))).toEqual({ status: 'skipped', index: 1 });
    expect(get('a')).toMatchObject({ version: 1 });
  });

  it('resumes after reopening and never applies an entry twice', async () => {
    run(putCommand(utf8('a'), utf8('1'))); // index 1, revision 2
    run(putCommand(utf8('a'), utf8('2'))); // index 2, revision 3
    await temp.reopen();
    expect(temp.store.appliedIndex).toBe(2);
    expect(temp.store.currentRevision).toBe(3);
    // The driver replays from its last snapshot; entries 1 and 2 are no-ops.
    expect(temp.store.apply(1, putCommand(utf8('a'), utf8('1'))).status).toBe('skipped');
    expect(temp.store.apply(2, putCommand(utf8('a'), utf8('2'))).status).toBe('skipped');
    expect(applied(temp.store.apply(3, putCommand(utf8('a'), utf8('3'))))).toEqual({ type: 'put', revision: 4 });
    expect(get('a')).toMatchObject({ version: 3, createRevision: 2 });
  });

  it('records a rejected entry as applied, with state unchanged', async () => {
    run(putCommand(utf8('a'), utf8('1')));
    const outcome = temp.store.apply(2, putCommand(utf8('b'), utf8('x'), { lease: 42 }));
    expect(outcome).toMatchObject({ status: 'rejected', index: 2 });
    expect(get('b')).toBeUndefined();
    await temp.reopen();
    expect(temp.store.appliedIndex).toBe(2);
    expect(temp.store.currentRevision).toBe(2);
  });

  it('applies encoded entries and rejects malformed bytes with a typed error', () => {
    const ok = temp.store.applyEntry(1, encodeCommand(putCommand(utf8('a'), utf8('1'))));
    expect(ok).toEqual({ status: 'applied', index: 1, response: { type: 'put', revision: 2 } });
    const bad = temp.store.applyEntry(2, new Uint8Array([0xc1, 0x00]));
    expect(bad.status).toBe('rejected');
    if (bad.status === 'rejected') {
      expect(bad.error).toBeInstanceOf(InvalidCommandError);
      expect((bad.error as InvalidCommandError).field).toBe('(bytes)');
    }
    const huge = temp.store.applyEntry(3, new Uint8Array(2 * 1024 * 1024));
    expect(huge.status === 'rejected' && huge.error).toBeInstanceOf(RequestTooLargeError);
    expect(temp.store.appliedIndex).toBe(3);
    expect(temp.store.currentRevision).toBe(2);
  });

  it('rejects an invalid command object passed in directly', () => {
    const outcome = temp.store.apply(1, { type: 'put', key: new Uint8Array(0), value: utf8('v') });
    expect(outcome.status).toBe('rejected');
    if (outcome.status === 'rejected') expect(outcome.error).toMatchObject({ name: 'InvalidCommandError', field: 'key' });
  });

  it('marks entries without a command as applied', async () => {
    temp.store.markApplied(5);
    expect(temp.store.appliedIndex).toBe(5);
    await temp.reopen();
    expect(temp.store.appliedIndex).toBe(5);
    expect(temp.store.apply(5, putCommand(utf8('a'), utf8('1'))).status).toBe('skipped');
  });

  it('refuses a non-positive log index as a caller bug', () => {
    expect(() => temp.store.apply(0, putCommand(utf8('a'), utf8('1')))).toThrow(RangeError);
  });
});
