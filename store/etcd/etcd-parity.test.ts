// The same etcdctl session against a REAL etcd (Debian's etcd-server, on loopback with its own data
// directory) and against Flotilla, compared after normalization. Both stores start empty at
// revision 1 and count revisions the same way, so revisions are compared as they are; what is
// normalized is what legitimately differs: ids (cluster, member, lease), the Raft term, URLs and
// ports, the server version, database sizes, Raft indexes, and the seconds a lease has left.
// These tests fail, never skip, when etcd or etcdctl is missing.

import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import {
  type BackgroundProcess,
  type LocalEtcd,
  type ProcessResult,
  type RealEtcd,
  binariesInstalled,
  etcdctl,
  requireBinary,
  startEtcdctl,
  startLocalEtcd,
  startRealEtcd,
} from './testing.js';

const WATCH_OUTPUT_TIMEOUT_MS = 10_000;

interface Step {
  /** etcdctl arguments; `{lease}` is replaced by the id the last `lease grant` printed on that server. */
  readonly args: readonly string[];
  readonly stdin?: string;
}

const TXN_SCRIPT = ['value("foo") = "bar"', 'version("foo") = "1"', 'create("foo") > "0"', 'mod("foo") < "100"', '', 'put foo v2', 'get foo', 'del nothing', '', 'put foo bad', '', ''].join('\n');
const FAILING_TXN = ['value("foo") = "zzz"', '', 'put foo v3', '', 'get foo', 'put k3 x', '', ''].join('\n');

const SESSION: readonly Step[] = [
  { args: ['put', 'foo', 'bar'] },
  { args: ['put', 'foo2', 'baz', '--prev-kv'] },
  { args: ['put', 'foo2', 'qux', '--prev-kv'] },
  { args: ['get', 'foo', '--prefix'] },
  { args: ['get', 'foo', '-w', 'json'] },
  { args: ['get', 'foo', '--prefix', '--limit', '1', '-w', 'json'] },
  { args: ['get', 'foo', '--prefix', '--keys-only'] },
  { args: ['get', 'foo', '--prefix', '--sort-by=MODIFY', '--order=DESCEND'] },
  { args: ['get', 'foo', '--prefix', '--rev', '2'] },
  { args: ['get', 'foo', '--rev', '99'] },
  { args: ['del', 'foo2', '--prev-kv'] },
  { args: ['del', 'nothing'] },
  { args: ['txn'], stdin: TXN_SCRIPT },
  { args: ['txn', '-w', 'json'], stdin: FAILING_TXN },
  { args: ['txn', '-i'], stdin: FAILING_TXN },
  { args: ['lease', 'grant', '60'] },
  { args: ['put', 'leased', 'v', '--lease={lease}'] },
  { args: ['lease', 'timetolive', '{lease}', '--keys'] },
  { args: ['lease', 'list'] },
  { args: ['lease', 'keep-alive', '--once', '{lease}'] },
  { args: ['lease', 'revoke', '{lease}'] },
  { args: ['get', 'leased'] },
  { args: ['lease', 'timetolive', '{lease}'] },
  { args: ['lease', 'revoke', '{lease}'] },
  { args: ['put', 'x', 'y', '-w', 'json'] },
  { args: ['del', 'x', '-w', 'json'] },
  { args: ['compaction', '5'] },
  { args: ['get', 'foo', '--rev', '3'] },
  { args: ['get', 'foo', '--rev', '5'] },
  { args: ['compaction', '4'] },
  { args: ['member', 'list'] },
  { args: ['member', 'list', '-w', 'json'] },
  { args: ['endpoint', 'status'] },
];

/**
 * What may differ between two correct servers: ids (numbered by first appearance, so that the same
 * id must recur in the same places), term, URLs, version, sizes, indexes, remaining seconds.
 */
function normalize(text: string, ids: Map<string, string>): string {
  const id = (raw: string): string => {
    let name = ids.get(raw);
    if (name === undefined) {
      name = `<id${ids.size + 1}>`;
      ids.set(raw, name);
    }
    return name;
  };
  return (
    text
      .split('\n')
      // clientv3's retry interceptor logs each failed attempt as JSON; etcdctl's own message follows.
      .filter((line) => !line.startsWith('{"level":'))
      .join('\n')
      .replace(/http:\/\/127\.0\.0\.1:\d+/g, '<url>')
      .replace(/127\.0\.0\.1:\d+/g, '<endpoint>')
      .replace(/"(cluster_id|member_id|leader|ID|id)":(\d+)/g, (_, field: string, digits: string) => {
        // A lease id printed in decimal is the same id etcdctl prints in hex elsewhere.
        const hex = BigInt(digits).toString(16).padStart(16, '0');
        return `"${field}":${id(hex)}`;
      })
      // etcdctl prints member ids with %x (no padding): an id with leading zero nibbles is shorter.
      .replace(/\b[0-9a-f]{12,16}\b/g, (hex) => id(hex.padStart(16, '0')))
      .replace(/"raft_term":\d+/g, '"raft_term":<term>')
      .replace(/remaining\(\d+s\)/g, 'remaining(<s>s)')
      .replace(/"ttl":\d+/g, '"ttl":<s>')
      // endpoint status: id, version, db size, leader, learner, term, index, applied index, errors.
      .replace(
        /^(<endpoint>), (<id\d+>), [0-9.]+, [0-9.]+ [kMG]?B, (true|false), (true|false), \d+, \d+, \d+, (.*)$/gm,
        '$1, $2, <version>, <size>, $3, $4, <term>, <index>, <index>, $5',
      )
  );
}

interface Transcript {
  readonly steps: string[];
  readonly watch: string;
}

function render(step: Step, result: ProcessResult): string {
  return `$ etcdctl ${step.args.join(' ')}\n[exit ${result.code}]\n${result.stdout}${result.stderr}`;
}

/**
 * Runs the session on one server, with a prefix watch running throughout. The watch starts at
 * revision 1, so it sees every event however late it is registered; the session goes on once it has
 * printed the first put, which is before anything is compacted.
 */
async function runSession(endpoint: string): Promise<Transcript> {
  const watch: BackgroundProcess = startEtcdctl(endpoint, ['watch', 'foo', '--prefix', '--prev-kv', '--rev', '1']);
  const steps: string[] = [];
  try {
    let lease = '';
    for (const [i, step] of SESSION.entries()) {
      const args = step.args.map((arg) => arg.replace('{lease}', lease));
      const result = await etcdctl(endpoint, args, step.stdin);
      const granted = /^lease ([0-9a-f]{16}) granted/m.exec(result.stdout);
      if (args[1] === 'grant' && granted?.[1] !== undefined) lease = granted[1];
      steps.push(render(step, result));
      if (i === 0) await watch.waitFor((out) => out.includes('PUT\nfoo\nbar\n'), WATCH_OUTPUT_TIMEOUT_MS, 'the watch');
    }
    // The session's last event under foo is the first txn's put of foo v2 (after it, foo's prev-kv bar).
    await watch.waitFor((out) => out.includes('PUT\nfoo\nbar\nfoo\nv2\n'), WATCH_OUTPUT_TIMEOUT_MS, 'the session watch');
  } finally {
    await watch.stop();
  }
  return { steps, watch: watch.stdout };
}

describe('etcdctl output: Flotilla matches a real etcd', () => {
  let real: RealEtcd | undefined;
  let ours: LocalEtcd | undefined;
  let etcdTranscript: Transcript;
  let flotillaTranscript: Transcript;

  // Fails each test (not skips it) when a binary is missing; see binariesInstalled.
  beforeEach(() => {
    requireBinary('etcdctl');
    requireBinary('etcd');
  });

  beforeAll(async () => {
    if (!binariesInstalled('etcdctl', 'etcd')) return;
    real = await startRealEtcd('parity');
    ours = await startLocalEtcd({ name: 'parity' });
    etcdTranscript = await runSession(real.endpoint);
    flotillaTranscript = await runSession(ours.endpoint);
  }, 120_000);

  afterAll(async () => {
    await real?.stop();
    await ours?.close();
  });

  test('every command prints the same, step by step', () => {
    const etcdIds = new Map<string, string>();
    const ourIds = new Map<string, string>();
    const expected = etcdTranscript.steps.map((step) => normalize(step, etcdIds));
    const actual = flotillaTranscript.steps.map((step) => normalize(step, ourIds));
    expect(actual.length).toBe(SESSION.length);
    for (let i = 0; i < SESSION.length; i++) expect(actual[i], `step ${i}`).toBe(expected[i]);
  });

  test('a prefix watch prints the same events', () => {
    expect(normalize(flotillaTranscript.watch, new Map())).toBe(normalize(etcdTranscript.watch, new Map()));
    expect(flotillaTranscript.watch).toContain('PUT\nfoo\nbar\n');
  });
});
