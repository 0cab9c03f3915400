import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { BackendStoppedError, MemberNotFoundError, MemberNotLearnerError, PeerUrlExistsError } from './backend.js';
import { LocalBackend } from './local-backend.js';
import { MAX_REQUEST_BYTES } from './mvcc/commands.js';
import { KeyNotFoundError, LeaseNotFoundError, RequestTooLargeError } from './mvcc/errors.js';
import { type TempStore, openTempStore, text, utf8 } from './mvcc/testing.js';
import { ManualClock } from './etcd/testing.js';

let temp: TempStore;
let clock: ManualClock;
let backend: LocalBackend;

beforeEach(() => {
  temp = openTempStore('flotilla-local-backend-');
  clock = new ManualClock();
  backend = new LocalBackend({ store: temp.store, clock, memberId: 0xabcn, clusterId: 0xcafen, leaseTickMs: 3_600_000 });
});

afterEach(async () => {
  backend.close();
  await temp.dispose();
});

describe('LocalBackend', () => {
  test('writes are applied at consecutive log indexes; rejections come back as typed errors', async () => {
    const put = await backend.propose({ type: 'put', key: utf8('a'), value: utf8('1') });
    expect(put).toEqual({ type: 'put', revision: 2 });
    expect(temp.store.appliedIndex).toBe(1);
    await expect(backend.propose({ type: 'put', key: utf8('b'), value: new Uint8Array(0), ignoreValue: true })).rejects.toThrow(
      KeyNotFoundError,
    );
    // A rejected entry still takes its index, as in the log.
    expect(temp.store.appliedIndex).toBe(2);
    await expect(
      backend.propose({ type: 'put', key: utf8('big'), value: new Uint8Array(MAX_REQUEST_BYTES) }),
    ).rejects.toThrow(RequestTooLargeError);
    expect(temp.store.appliedIndex).toBe(2);
    const read = await backend.range({ key: utf8('a') }, 'linearizable');
    expect(read.kvs.map((kv) => text(kv.value))).toEqual(['1']);
    expect(backend.header()).toEqual({ clusterId: 0xcafen, memberId: 0xabcn, raftTerm: 1, revision: 2, compacting: false });
  });

  test('lease expiry is decided by the injected clock and revokes through the log', async () => {
    const grant = await backend.leaseGrant({ id: 0, ttl: 5 });
    await backend.propose({ type: 'put', key: utf8('k'), value: utf8('v'), lease: grant.id });
    const watcher = backend.watch({ key: utf8('k') });
    clock.advance(4_000);
    expect(await backend.leaseKeepAlive(grant.id)).toBe(5);
    clock.advance(4_000);
    backend.tickLeases();
    expect((await backend.leaseTimeToLive(grant.id, true))?.keys.map(text)).toEqual(['k']);
    clock.advance(1_000);
    backend.tickLeases();
    expect(await backend.leaseTimeToLive(grant.id, false)).toBeUndefined();
    expect(await backend.leases()).toEqual([]);
    await expect(backend.leaseKeepAlive(grant.id)).rejects.toThrow(LeaseNotFoundError);
    const next = await watcher.next();
    expect(next.done).toBe(false);
    if (next.done !== true && next.value.type === 'events') expect(next.value.events.map((e) => e.type)).toEqual(['delete']);
    watcher.cancel();
  });

  test('a restart (a new backend over the same store) gives every lease a fresh TTL', async () => {
    const grant = await backend.leaseGrant({ id: 42, ttl: 10 });
    expect(grant.id).toBe(42);
    clock.advance(9_000);
    backend.close();
    backend = new LocalBackend({ store: temp.store, clock, leaseTickMs: 3_600_000 });
    expect((await backend.leaseTimeToLive(42, false))?.remainingSeconds).toBe(10);
  });

  test('members and status', async () => {
    const { member, members } = await backend.addMember(['http://127.0.0.1:9999'], true);
    expect(members).toHaveLength(2);
    await expect(backend.addMember(['http://127.0.0.1:9999'], true)).rejects.toThrow(PeerUrlExistsError);
    await expect(backend.promoteMember(0xabcn)).rejects.toThrow(MemberNotLearnerError);
    expect(await backend.removeMember(member.id)).toHaveLength(1);
    await expect(backend.removeMember(member.id)).rejects.toThrow(MemberNotFoundError);
    const status = await backend.status();
    expect(status).toMatchObject({ version: '3.5.0', leaderId: 0xabcn, raftTerm: 1, isLearner: false, errors: [] });
    expect(status.raftAppliedIndex).toBe(status.raftIndex);
  });

  test('a closed backend refuses work', async () => {
    backend.close();
    await expect(backend.propose({ type: 'put', key: utf8('a'), value: utf8('1') })).rejects.toThrow(BackendStoppedError);
    expect(() => backend.watch({ key: utf8('a') })).toThrow(BackendStoppedError);
  });
});
