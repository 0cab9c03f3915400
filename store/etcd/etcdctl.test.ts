// The real etcdctl (Debian's etcd-client, ETCDCTL_API=3) against our endpoint on a LocalBackend:
// every command Flotilla promises, with its printed output. These tests fail, never skip, when
// etcdctl is missing.

import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { COMPACTION_STEP_ENTRIES } from '../mvcc/compaction.js';
import {
  type LocalEtcd,
  ManualClock,
  type ProcessResult,
  binariesInstalled,
  etcdctl,
  requireBinary,
  sleep,
  startEtcdctl,
  startLocalEtcd,
} from './testing.js';

/** How long a background watch may take to print what it was sent. */
const WATCH_OUTPUT_TIMEOUT_MS = 10_000;

// Fails each test (not skips it) when etcdctl is missing; see binariesInstalled.
beforeEach(() => {
  requireBinary('etcdctl');
});

let etcd: LocalEtcd;

async function ok(...args: string[]): Promise<string> {
  const result = await etcdctl(etcd.endpoint, args);
  if (result.code !== 0) throw new Error(`etcdctl ${args.join(' ')} exited ${result.code}:\n${result.stderr}`);
  return result.stdout;
}

async function withStdin(stdin: string, ...args: string[]): Promise<string> {
  const result = await etcdctl(etcd.endpoint, args, stdin);
  if (result.code !== 0) throw new Error(`etcdctl ${args.join(' ')} exited ${result.code}:\n${result.stderr}`);
  return result.stdout;
}

/** etcdctl's own error line (it also logs the retry interceptor's warning as JSON; that is dropped). */
function errorLine(result: ProcessResult): string {
  return result.stderr
    .split('\n')
    .filter((line) => line.startsWith('Error:'))
    .join('\n');
}

async function fails(...args: string[]): Promise<ProcessResult> {
  const result = await etcdctl(etcd.endpoint, args);
  expect(result.code, `etcdctl ${args.join(' ')} should fail; stdout:\n${result.stdout}`).not.toBe(0);
  return result;
}

interface JsonKeyValue {
  key: string;
  value?: string;
  create_revision: number;
  mod_revision: number;
  version: number;
  lease?: number;
}

interface JsonRange {
  header: { revision: number; raft_term: number };
  kvs?: JsonKeyValue[];
  more?: boolean;
  count?: number;
}

const b64 = (text: string): string => Buffer.from(text).toString('base64');

/** The uint64 digits of a JSON field, read from the text (JSON.parse would round them). */
function uint64Field(json: string, field: string): bigint {
  const match = new RegExp(`"${field}":(\\d+)`).exec(json);
  if (match?.[1] === undefined) throw new Error(`no ${field} in ${json}`);
  return BigInt(match[1]);
}

function leaseIdOf(grantOutput: string): string {
  const match = /^lease ([0-9a-f]{16}) granted with TTL\((\d+)s\)$/m.exec(grantOutput);
  if (match?.[1] === undefined) throw new Error(`not a lease grant: ${grantOutput}`);
  return match[1];
}

describe('etcdctl against Flotilla', () => {
  beforeEach(async () => {
    etcd = await startLocalEtcd();
  });

  afterEach(async () => {
    await etcd.close();
  });

  test('put and get, simple and JSON output', async () => {
    expect(await ok('put', 'foo', 'bar')).toBe('OK\n');
    expect(await ok('get', 'foo')).toBe('foo\nbar\n');
    expect(await ok('get', 'foo', '--print-value-only')).toBe('bar\n');
    expect(await ok('get', 'missing')).toBe('');

    const json = await ok('get', 'foo', '-w', 'json');
    const header = etcd.backend.header();
    expect(uint64Field(json, 'cluster_id')).toBe(header.clusterId);
    expect(uint64Field(json, 'member_id')).toBe(header.memberId);
    const parsed = JSON.parse(json) as JsonRange;
    expect(parsed.header.revision).toBe(2);
    expect(parsed.header.raft_term).toBe(1);
    expect(parsed.count).toBe(1);
    expect(parsed.kvs).toEqual([{ key: b64('foo'), value: b64('bar'), create_revision: 2, mod_revision: 2, version: 1 }]);

    expect(await ok('put', 'foo', 'baz', '--prev-kv')).toBe('OK\nfoo\nbar\n');
    const second = JSON.parse(await ok('get', 'foo', '-w', 'json')) as JsonRange;
    expect(second.kvs?.[0]).toMatchObject({ create_revision: 2, mod_revision: 3, version: 2, value: b64('baz') });
  });

  test('get with --prefix, --from-key, --limit, --keys-only, --sort-by, --order and --rev', async () => {
    for (const [key, value] of [['a/1', 'z'], ['a/2', 'y'], ['a/3', 'x'], ['b/1', 'w']] as const) {
      await ok('put', key, value);
    }
    // Revisions: a/1 = 2, a/2 = 3, a/3 = 4, b/1 = 5.
    await ok('put', 'a/1', 'v'); // a/1 = 6, version 2
    expect(await ok('get', 'a/', '--prefix')).toBe('a/1\nv\na/2\ny\na/3\nx\n');
    expect(await ok('get', 'a/2', '--from-key', '--keys-only')).toBe('a/2\n\na/3\n\nb/1\n\n');
    expect(await ok('get', 'a/', '--prefix', '--keys-only')).toBe('a/1\n\na/2\n\na/3\n\n');
    expect(await ok('get', 'a/1', 'a/3')).toBe('a/1\nv\na/2\ny\n');

    const limited = JSON.parse(await ok('get', 'a/', '--prefix', '--limit', '2', '-w', 'json')) as JsonRange;
    expect(limited.kvs?.map((kv) => kv.key)).toEqual([b64('a/1'), b64('a/2')]);
    expect(limited.more).toBe(true);
    expect(limited.count).toBe(3);

    expect(await ok('get', 'a/', '--prefix', '--sort-by=VALUE')).toBe('a/1\nv\na/3\nx\na/2\ny\n');
    expect(await ok('get', 'a/', '--prefix', '--sort-by=MODIFY', '--order=DESCEND')).toBe('a/1\nv\na/3\nx\na/2\ny\n');
    expect(await ok('get', 'a/', '--prefix', '--sort-by=CREATE', '--order=DESCEND', '--keys-only')).toBe(
      'a/3\n\na/2\n\na/1\n\n',
    );
    expect(await ok('get', 'a/', '--prefix', '--sort-by=VERSION', '--order=DESCEND', '--limit', '1')).toBe('a/1\nv\n');
    expect(await ok('get', 'a/', '--prefix', '--order=DESCEND')).toBe('a/3\nx\na/2\ny\na/1\nv\n');

    // At revision 3 only a/1 (first version) and a/2 existed.
    expect(await ok('get', 'a/', '--prefix', '--rev', '3')).toBe('a/1\nz\na/2\ny\n');
    expect(errorLine(await fails('get', 'a/', '--prefix', '--rev', '99'))).toBe(
      'Error: etcdserver: mvcc: required revision is a future revision',
    );
  });

  test('del with --prefix and --prev-kv', async () => {
    await ok('put', 'p/1', 'one');
    await ok('put', 'p/2', 'two');
    await ok('put', 'q', 'three');
    expect(await ok('del', 'nothing')).toBe('0\n');
    expect(await ok('del', 'p/', '--prefix', '--prev-kv')).toBe('2\np/1\none\np/2\ntwo\n');
    expect(await ok('get', 'p/', '--prefix')).toBe('');
    expect(await ok('del', 'q')).toBe('1\n');
    const json = JSON.parse(await ok('del', 'q', '-w', 'json')) as { header: { revision: number }; deleted?: number };
    expect(json.deleted).toBeUndefined();
    expect(json.header.revision).toBe(6);
  });

  test('txn from stdin: compares on value, version, create and mod; both branches', async () => {
    await ok('put', 'k', 'v1'); // revision 2
    const script = [
      'value("k") = "v1"',
      'version("k") = "1"',
      'create("k") > "0"',
      'mod("k") < "100"',
      '',
      'put k v2',
      'get k',
      'del nothing',
      '',
      'put k bad',
      '',
      '',
    ].join('\n');
    expect(await withStdin(script, 'txn')).toBe('SUCCESS\n\nOK\n\nk\nv2\n\n0\n');

    // Now version 2: the compare fails and the failure branch runs.
    const failing = ['version("k") = "1"', '', 'put k never', '', 'get k', 'put other x', '', ''].join('\n');
    expect(await withStdin(failing, 'txn')).toBe('FAILURE\n\nk\nv2\n\nOK\n');

    const json = JSON.parse(
      await withStdin(['mod("k") = "3"', '', 'get k', 'put k v3', '', '', ''].join('\n'), 'txn', '-w', 'json'),
    ) as {
      header: { revision: number };
      succeeded?: boolean;
      responses: { Response: { ResponseRange?: JsonRange; ResponsePut?: { header: { revision: number } } } }[];
    };
    expect(json.succeeded).toBe(true);
    expect(json.header.revision).toBe(5);
    expect(json.responses[0]?.Response.ResponseRange?.header.revision).toBe(4);
    expect(json.responses[0]?.Response.ResponseRange?.kvs?.[0]).toMatchObject({ key: b64('k'), mod_revision: 3 });
    expect(json.responses[1]?.Response.ResponsePut?.header.revision).toBe(5);
  });

  test('txn -i (interactive prompts)', async () => {
    await ok('put', 'k', 'v1');
    const script = ['value("k") = "zzz"', '', 'put k v3', '', 'get k', '', ''].join('\n');
    expect(await withStdin(script, 'txn', '-i')).toBe(
      'compares:\nsuccess requests (get, put, del):\nfailure requests (get, put, del):\nFAILURE\n\nk\nv1\n',
    );
  });

  test('txn errors: duplicate keys in a branch', async () => {
    const result = await etcdctl(etcd.endpoint, ['txn'], ['', 'put d 1', 'put d 2', '', '', ''].join('\n'));
    expect(result.code).not.toBe(0);
    expect(errorLine(result)).toBe('Error: etcdserver: duplicate key given in txn request');
  });

  test('watch a key and a prefix with --prev-kv, printing events as they happen', async () => {
    const single = startEtcdctl(etcd.endpoint, ['watch', 'w1']);
    const prefix = startEtcdctl(etcd.endpoint, ['watch', 'w', '--prefix', '--prev-kv']);
    try {
      while (etcd.backend.watcherCount < 2) await sleep(20);
      await ok('put', 'w1', 'a');
      await ok('put', 'w1', 'b');
      await ok('put', 'w2', 'c');
      await ok('del', 'w', '--prefix');
      await prefix.waitFor((out) => out.includes('DELETE\nw2\nc\nw2\n\n'), WATCH_OUTPUT_TIMEOUT_MS, 'the prefix watch');
      await single.waitFor((out) => out.includes('DELETE\nw1\n\n'), WATCH_OUTPUT_TIMEOUT_MS, 'the key watch');
      expect(single.stdout).toBe('PUT\nw1\na\nPUT\nw1\nb\nDELETE\nw1\n\n');
      // With --prev-kv, etcdctl prints the previous key-value before the event's own.
      expect(prefix.stdout).toBe(
        'PUT\nw1\na\nPUT\nw1\na\nw1\nb\nPUT\nw2\nc\nDELETE\nw1\nb\nw1\n\nDELETE\nw2\nc\nw2\n\n',
      );
    } finally {
      await single.stop();
      await prefix.stop();
    }
  });

  test('watch --rev replays history, and a compacted revision cancels the watch', async () => {
    await ok('put', 'h', '1'); // 2
    await ok('put', 'h', '2'); // 3
    await ok('put', 'h', '3'); // 4
    const replay = startEtcdctl(etcd.endpoint, ['watch', 'h', '--rev', '3', '-w', 'json']);
    try {
      await replay.waitFor((out) => out.includes(b64('3')), WATCH_OUTPUT_TIMEOUT_MS, 'the replayed history');
      const events = replay.stdout
        .trim()
        .split('\n')
        .flatMap((line) => (JSON.parse(line) as { Events: { kv: JsonKeyValue }[] }).Events);
      expect(events.map((e) => [e.kv.mod_revision, e.kv.value])).toEqual([
        [3, b64('2')],
        [4, b64('3')],
      ]);
    } finally {
      await replay.stop();
    }

    expect(await ok('compaction', '4')).toBe('compacted revision 4\n');
    const compacted = await etcdctl(etcd.endpoint, ['watch', 'h', '--rev', '2']);
    expect(compacted.code).not.toBe(0);
    expect(compacted.stdout + compacted.stderr).toContain(
      'watch was canceled (etcdserver: mvcc: required revision has been compacted)\n',
    );
  });

  test('compaction --physical answers once the compacted history is removed; without it, at once', async () => {
    const value = new TextEncoder().encode('v');
    for (let i = 0; i < 3 * COMPACTION_STEP_ENTRIES; i++) await etcd.backend.propose({ type: 'put', key: new TextEncoder().encode(`p${i % 5}`), value });
    const first = etcd.backend.header().revision - 10;
    expect(await ok('compaction', String(first))).toBe(`compacted revision ${first}\n`);
    expect(etcd.backend.header().compacting).toBe(true);
    const second = etcd.backend.header().revision;
    expect(await ok('compaction', String(second), '--physical')).toBe(`compacted revision ${second}\n`);
    expect(etcd.backend.header().compacting).toBe(false);
    expect(etcd.temp.store.stats().historyEntries).toBeLessThanOrEqual(10);
  });

  test('leases: grant, put --lease, timetolive, keep-alive --once, list, revoke', async () => {
    const id = leaseIdOf(await ok('lease', 'grant', '100'));
    expect(await ok('lease', 'list')).toBe(`found 1 leases\n${id}\n`);
    expect(await ok('put', 'leased', 'v', `--lease=${id}`)).toBe('OK\n');
    expect(await ok('lease', 'timetolive', id)).toMatch(new RegExp(`^lease ${id} granted with TTL\\(100s\\), remaining\\((99|100)s\\)\\n$`));
    expect(await ok('lease', 'timetolive', id, '--keys')).toMatch(
      new RegExp(`^lease ${id} granted with TTL\\(100s\\), remaining\\((99|100)s\\), attached keys\\(\\[leased\\]\\)\\n$`),
    );
    const ttlJson = JSON.parse(await ok('lease', 'timetolive', id, '-w', 'json')) as { id: number; 'granted-ttl': number };
    expect(ttlJson['granted-ttl']).toBe(100);
    expect(ttlJson.id).toBe(Number.parseInt(id, 16));
    expect(await ok('lease', 'keep-alive', '--once', id)).toBe(`lease ${id} keepalived with TTL(100)\n`);
    const leased = JSON.parse(await ok('get', 'leased', '-w', 'json')) as JsonRange;
    expect(leased.kvs?.[0]?.lease).toBe(Number.parseInt(id, 16));

    expect(await ok('lease', 'revoke', id)).toBe(`lease ${id} revoked\n`);
    expect(await ok('get', 'leased')).toBe('');
    expect(await ok('lease', 'timetolive', id)).toBe(`lease ${id} already expired\n`);
    expect(await ok('lease', 'list')).toBe('found 0 leases\n');
    expect(errorLine(await fails('lease', 'keep-alive', '--once', id))).toBe('Error: etcdserver: requested lease not found');
    expect(errorLine(await fails('lease', 'revoke', id))).toBe(
      'Error: failed to revoke lease (etcdserver: requested lease not found)',
    );
    expect(errorLine(await fails('put', 'k', 'v', `--lease=${id}`))).toBe('Error: etcdserver: requested lease not found');
  });

  test('member list, add (learner), promote, remove', async () => {
    const header = etcd.backend.header();
    // etcdctl prints ids with %x in lists (no padding) and %16x in messages (space-padded).
    const self = header.memberId.toString(16);
    expect(await ok('member', 'list')).toBe(`${self}, started, flotilla, http://127.0.0.1:2380, http://${etcd.endpoint}, false\n`);
    const json = await ok('member', 'list', '-w', 'json');
    expect(uint64Field(json, 'ID')).toBe(header.memberId);

    const added = await ok('member', 'add', 'newbie', '--peer-urls=http://127.0.0.1:23999', '--learner');
    const match = /^Member +([0-9a-f]{1,16}) added to cluster +([0-9a-f]{1,16})$/m.exec(added);
    expect(match?.[2]).toBe(header.clusterId.toString(16));
    const newbie = match?.[1] ?? '';
    expect(added).toContain('ETCD_INITIAL_CLUSTER="flotilla=http://127.0.0.1:2380,newbie=http://127.0.0.1:23999"');
    expect(await ok('member', 'list')).toContain(`${newbie}, unstarted, , http://127.0.0.1:23999, , true\n`);

    expect(errorLine(await fails('member', 'promote', newbie))).toBe(
      'Error: etcdserver: can only promote a learner member which is in sync with leader',
    );
    expect(errorLine(await fails('member', 'add', 'dup', '--peer-urls=http://127.0.0.1:2380', '--learner'))).toBe(
      'Error: etcdserver: Peer URLs already exists',
    );
    expect((await ok('member', 'remove', newbie)).replace(/ +/g, ' ')).toBe(`Member ${newbie} removed from cluster ${match?.[2] ?? ''}\n`);
    expect(errorLine(await fails('member', 'remove', newbie))).toBe('Error: etcdserver: member not found');
  });

  test('endpoint status and health', async () => {
    await ok('put', 'x', '1');
    const self = etcd.backend.header().memberId.toString(16);
    expect(await ok('endpoint', 'status')).toMatch(
      new RegExp(`^${etcd.endpoint}, ${self}, 3\\.5\\.0, \\d+ kB, true, false, 1, 1, 1, \\n$`),
    );
    const [status] = JSON.parse(await ok('endpoint', 'status', '-w', 'json')) as {
      Endpoint: string;
      Status: { header: { revision: number }; version: string; dbSize: number; raftIndex: number; raftAppliedIndex: number };
    }[];
    expect(status?.Endpoint).toBe(etcd.endpoint);
    expect(status?.Status).toMatchObject({ version: '3.5.0', raftIndex: 1, raftAppliedIndex: 1, header: { revision: 2 } });
    expect(status?.Status.dbSize).toBeGreaterThan(0);
    // etcdctl prints health on stderr.
    const health = await etcdctl(etcd.endpoint, ['endpoint', 'health']);
    expect(health.code).toBe(0);
    expect(health.stdout + health.stderr).toMatch(new RegExp(`^${etcd.endpoint} is healthy: successfully committed proposal`));
  });

  test('compaction', async () => {
    for (let i = 0; i < 4; i++) await ok('put', 'c', String(i)); // revisions 2..5
    expect(await ok('compaction', '3')).toBe('compacted revision 3\n');
    expect(await ok('get', 'c', '--rev', '3')).toBe('c\n1\n');
    expect(errorLine(await fails('get', 'c', '--rev', '2'))).toBe(
      'Error: etcdserver: mvcc: required revision has been compacted',
    );
    expect(errorLine(await fails('compaction', '3'))).toBe('Error: etcdserver: mvcc: required revision has been compacted');
    expect(errorLine(await fails('compaction', '99'))).toBe('Error: etcdserver: mvcc: required revision is a future revision');
    expect(await ok('compaction', '5', '--physical')).toBe('compacted revision 5\n');
  });
});

describe('etcdctl and lease expiry decided by the leader clock', () => {
  const clock = new ManualClock();
  let started = false;

  beforeAll(async () => {
    if (!binariesInstalled('etcdctl')) return;
    // A lease tick interval far beyond the test: expiry runs only when the test calls tickLeases().
    etcd = await startLocalEtcd({ clock, leaseTickMs: 3_600_000 });
    started = true;
  });

  afterAll(async () => {
    if (started) await etcd.close();
  });

  test('keep-alive resets the deadline; an expired lease is revoked with its keys', async () => {
    const id = leaseIdOf(await ok('lease', 'grant', '10'));
    await ok('put', 'ephemeral', 'v', `--lease=${id}`);
    clock.advance(8_000);
    etcd.backend.tickLeases();
    expect(await ok('lease', 'timetolive', id)).toBe(`lease ${id} granted with TTL(10s), remaining(2s)\n`);
    expect(await ok('lease', 'keep-alive', '--once', id)).toBe(`lease ${id} keepalived with TTL(10)\n`);
    clock.advance(8_000);
    etcd.backend.tickLeases();
    expect(await ok('get', 'ephemeral', '--print-value-only')).toBe('v\n');
    clock.advance(2_500);
    etcd.backend.tickLeases();
    expect(await ok('get', 'ephemeral')).toBe('');
    expect(await ok('lease', 'timetolive', id)).toBe(`lease ${id} already expired\n`);
  });

  test('a TTL below the minimum is raised to it', async () => {
    const output = await ok('lease', 'grant', '1');
    expect(output).toMatch(/granted with TTL\(2s\)\n$/);
  });
});
