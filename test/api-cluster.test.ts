// The API across three real master processes: any master serves any call, conflicts, watches that
// resume across a master's death without gap or repeat, expired watches, selectors, pagination,
// authentication, and bad input that must not hurt a master.

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { execFile } from 'node:child_process';
import WebSocket from 'ws';
import { RpcError, StatusCode } from '../apiserver/rpc/status.js';
import type { ApiClient } from '../client/api-client.js';
import type { ConfigMap, Pod } from '../proto/api/types.js';
import { TestCluster } from './harness/cluster.js';
import { eventually } from './harness/eventually.js';

let cluster: TestCluster;
let api: ApiClient;

function configMap(name: string, data: Record<string, string> = {}, labels: Record<string, string> = {}): ConfigMap {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default', labels }, data };
}

function pod(name: string, nodeName?: string): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', labels: { app: 'web' } },
    spec: { containers: [{ name: 'c', image: 'busybox', resources: { requests: { cpu: '100m', memory: '64Mi' } } }], ...(nodeName !== undefined ? { nodeName } : {}) },
  };
}

async function rpcError(p: Promise<unknown>): Promise<RpcError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof RpcError) return err;
    throw err;
  }
  throw new Error('expected the call to fail');
}


/** Waits until a (re)started master answers API calls. */
async function waitApi(name: string): Promise<void> {
  const c = cluster.api([name]);
  try {
    await eventually(() => c.get('Namespace', 'default'));
  } finally {
    await c.close();
  }
}

beforeAll(async () => {
  // The production tick: these suites test the API, not election speed, and CI runs several
  // clusters at once on two cores, where 20 ms ticks turn event-loop stalls into elections.
  cluster = await TestCluster.start({ tickMs: 100 });
  await cluster.waitLeader();
  api = cluster.api();
  await eventually(() => api.get('Namespace', 'default'));
}, 60_000);

afterAll(async () => {
  await api?.close();
  await cluster?.stop();
});

describe('API on three masters', () => {
  test('any master serves any call: create at a follower, read at the leader and at the other follower', async () => {
    const leader = await cluster.waitLeader();
    const followers = cluster.members.filter((m) => m.name !== leader.name);
    const atFollower = cluster.api([followers[0]!.name]);
    const atLeader = cluster.api([leader.name]);
    const atOther = cluster.api([followers[1]!.name]);
    try {
      const created = await atFollower.create(configMap('via-follower', { a: '1' }));
      expect(created.metadata.uid).toBeTruthy();
      const read = await atLeader.get<ConfigMap>('ConfigMap', 'via-follower', 'default');
      expect(read.data).toEqual({ a: '1' });
      expect(read.metadata.resourceVersion).toBe(created.metadata.resourceVersion);
      expect((await atOther.get<ConfigMap>('ConfigMap', 'via-follower', 'default')).data).toEqual({ a: '1' });
      expect((await atOther.whoAmI()).master).toBe(followers[1]!.name);
    } finally {
      await Promise.all([atFollower.close(), atLeader.close(), atOther.close()]);
    }
  });

  test('conflicts: a stale resourceVersion is ABORTED through any master; a duplicate create is ALREADY_EXISTS', async () => {
    const a = cluster.api(['m1']);
    const b = cluster.api(['m2']);
    try {
      const v1 = await a.create(configMap('contended', { n: '0' }));
      const v2 = await b.update({ ...v1, data: { n: '1' } });
      expect(Number(v2.metadata.resourceVersion)).toBeGreaterThan(Number(v1.metadata.resourceVersion));
      const stale = await rpcError(a.update({ ...v1, data: { n: 'stale' } }));
      expect(stale.code).toBe(StatusCode.ABORTED);
      expect(stale.reason).toBe('Conflict');
      const dup = await rpcError(b.create(configMap('contended')));
      expect(dup.code).toBe(StatusCode.ALREADY_EXISTS);
      const missing = await rpcError(a.get('ConfigMap', 'nope', 'default'));
      expect(missing.code).toBe(StatusCode.NOT_FOUND);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  test('invalid objects are INVALID_ARGUMENT naming the field; unknown kinds and namespaces are NOT_FOUND', async () => {
    const bad = await rpcError(api.create({ ...configMap('Bad_Name') }));
    expect(bad.code).toBe(StatusCode.INVALID_ARGUMENT);
    expect(bad.violations.map((v) => v.field)).toContain('metadata.name');
    const badPod = pod('bad-quantity');
    const q = await rpcError(api.create({ ...badPod, spec: { containers: [{ name: 'c', image: 'x', resources: { requests: { cpu: 'lots' } } }] } }));
    expect(q.code).toBe(StatusCode.INVALID_ARGUMENT);
    expect(q.violations.map((v) => v.field).join(' ')).toContain('spec.containers[0].resources.requests');
    const ns = await rpcError(api.create({ ...configMap('x'), metadata: { name: 'x', namespace: 'no-such-ns' } }));
    expect(ns.code).toBe(StatusCode.NOT_FOUND);
  });

  test('selectors and pagination', async () => {
    for (let i = 0; i < 25; i++) await api.create(configMap(`page-${String(i).padStart(2, '0')}`, {}, { tier: i % 5 === 0 ? 'gold' : 'plain' }));
    const gold = await api.list<ConfigMap>('ConfigMap', { namespace: 'default', labelSelector: 'tier=gold' });
    expect(gold.items.map((c) => c.metadata.name)).toEqual(['page-00', 'page-05', 'page-10', 'page-15', 'page-20']);
    const notGold = await api.list<ConfigMap>('ConfigMap', { namespace: 'default', labelSelector: 'tier in (plain)' });
    expect(notGold.items).toHaveLength(20);
    const first = await api.list<ConfigMap>('ConfigMap', { namespace: 'default', labelSelector: 'tier', limit: 10 });
    expect(first.items).toHaveLength(10);
    expect(first.continue).toBeDefined();
    const second = await api.list<ConfigMap>('ConfigMap', { namespace: 'default', labelSelector: 'tier', limit: 10, continue: first.continue! });
    const third = await api.list<ConfigMap>('ConfigMap', { namespace: 'default', labelSelector: 'tier', limit: 10, continue: second.continue! });
    expect([...first.items, ...second.items, ...third.items].map((c) => c.metadata.name)).toEqual(Array.from({ length: 25 }, (_, i) => `page-${String(i).padStart(2, '0')}`));
    expect(third.continue).toBeUndefined();

    await api.create(pod('on-n1', 'n1'));
    await api.create(pod('on-n2', 'n2'));
    const n1 = await api.list<Pod>('Pod', { fieldSelector: 'spec.nodeName=n1' });
    expect(n1.items.map((p) => p.metadata.name)).toEqual(['on-n1']);
    const bad = await rpcError(api.list('Pod', { fieldSelector: 'spec.favouriteColour=red' }));
    expect(bad.code).toBe(StatusCode.INVALID_ARGUMENT);
    const badLabel = await rpcError(api.list('Pod', { labelSelector: 'a in (' }));
    expect(badLabel.code).toBe(StatusCode.INVALID_ARGUMENT);
  });

  test('a watch with a field selector sees ADDED when a pod is bound to its node, and DELETED when it goes', async () => {
    const start = await api.list('Pod', { namespace: 'default' });
    const events: string[] = [];
    const ac = new AbortController();
    const watching = (async () => {
      for await (const ev of api.watch<Pod>('Pod', { fieldSelector: 'spec.nodeName=n7', resourceVersion: start.resourceVersion, signal: ac.signal })) {
        events.push(`${ev.type} ${ev.object.metadata.name}`);
        if (events.length === 3) break;
      }
    })().catch(() => {});
    await api.create(pod('to-bind'));
    await api.create(pod('elsewhere', 'n8'));
    await api.bind('default', 'to-bind', 'n7');
    await api.patch('Pod', 'to-bind', 'default', { metadata: { labels: { touched: 'yes' } } });
    // A bound pod waits for its agent; grace 0 is the agent's final delete.
    await api.delete('Pod', 'to-bind', 'default', { gracePeriodSeconds: 0 });
    await Promise.race([watching, new Promise((r) => setTimeout(r, 10_000))]);
    ac.abort();
    expect(events).toEqual(['ADDED to-bind', 'MODIFIED to-bind', 'DELETED to-bind']);
  });

  test('a watch resumed on another master after its master is killed sees every change exactly once', async () => {
    const watchTarget = (await cluster.waitLeader()).name === 'm3' ? 'm2' : 'm3';
    const other = cluster.members.find((m) => m.name !== watchTarget && m.proc !== undefined)!.name;
    const writer = cluster.api([other]);
    const first = cluster.api([watchTarget]);
    const second = cluster.api([other]);
    try {
      const base = await writer.create(configMap('counter', { n: '0' }));
      const seen: number[] = [];
      let lastRv = base.metadata.resourceVersion!;
      const consume = async (client: ApiClient, from: string, until: (n: number) => boolean): Promise<void> => {
        for await (const ev of client.watch<ConfigMap>('ConfigMap', { namespace: 'default', fieldSelector: 'metadata.name=counter', resourceVersion: from })) {
          if (ev.type === 'BOOKMARK') continue;
          seen.push(Number(ev.object.data?.['n']));
          lastRv = ev.object.metadata.resourceVersion!;
          if (until(seen.length)) return;
        }
      };
      let stopWriting = false;
      const writes = (async () => {
        let cur = base;
        for (let n = 1; n <= 60 && !stopWriting; n++) {
          cur = await writer.update({ ...cur, data: { n: String(n) } });
          await new Promise((r) => setTimeout(r, 10));
        }
      })();
      const firstPart = consume(first, lastRv, (n) => n >= 15).catch(() => {});
      await firstPart;
      await cluster.signal(watchTarget, 'SIGKILL');
      await consume(second, lastRv, (n) => n >= 60);
      stopWriting = true;
      await writes;
      expect(seen).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    } finally {
      await Promise.all([writer.close(), first.close(), second.close()]);
      if (cluster.member(watchTarget).proc === undefined) cluster.restart(watchTarget);
      await cluster.waitLeader();
      await waitApi(watchTarget);
    }
  });

  test('a restarted master serves watches from before its restart; one from before a compaction is OUT_OF_RANGE Expired', async () => {
    const rv = (await api.create(configMap('before-restart'))).metadata.resourceVersion!;
    const leader = await cluster.waitLeader();
    const target = cluster.members.find((m) => m.name !== leader.name)!.name;
    await cluster.signal(target, 'SIGTERM');
    for (let i = 0; i < 5; i++) await api.create(configMap(`during-restart-${i}`));
    cluster.restart(target);
    await waitApi(target);
    // Its cache replayed recent history: a watch from before the restart sees what it missed.
    const resumed = cluster.api([target]);
    try {
      const seen: string[] = [];
      for await (const ev of resumed.watch<ConfigMap>('ConfigMap', { namespace: 'default', resourceVersion: rv })) {
        seen.push(ev.object.metadata.name ?? '');
        if (seen.length === 5) break;
      }
      expect(seen).toEqual(Array.from({ length: 5 }, (_, i) => `during-restart-${i}`));
    } finally {
      await resumed.close();
    }
    // Compacted history is gone: a master (re)starting after the compaction cannot serve it.
    const head = (await api.create(configMap('at-compaction'))).metadata.resourceVersion!;
    await new Promise<void>((resolve, reject) =>
      execFile('etcdctl', ['--endpoints', cluster.member(leader.name).etcd, 'compact', head], { env: { ...process.env, ETCDCTL_API: '3' } }, (err) => (err === null ? resolve() : reject(err))),
    );
    await cluster.signal(target, 'SIGTERM');
    cluster.restart(target);
    const restarted = cluster.api([target]);
    try {
      const err = await eventually(async () => {
        const e = await rpcError((async () => {
          for await (const _ of restarted.watch('ConfigMap', { namespace: 'default', resourceVersion: String(Number(rv) - 1) })) return;
        })());
        if (e.code === StatusCode.UNAVAILABLE) throw e; // still starting
        return e;
      });
      expect(`${err.codeName} ${err.reason ?? ''}: ${err.message}`).toMatch(/^OUT_OF_RANGE Expired: /);
    } finally {
      await restarted.close();
      await waitApi(target);
    }
  });

  test('authentication: a wrong or missing token is UNAUTHENTICATED and nothing else', async () => {
    const wrong = cluster.api(['m1'], 'not-the-token-0123456789');
    const none = cluster.api(['m1'], '');
    try {
      expect((await rpcError(wrong.get('Namespace', 'default'))).code).toBe(StatusCode.UNAUTHENTICATED);
      expect((await rpcError(none.list('Namespace'))).code).toBe(StatusCode.UNAUTHENTICATED);
    } finally {
      await Promise.all([wrong.close(), none.close()]);
    }
  });

  test('bad input: garbage frames, unknown methods and oversize messages do not hurt a master', async () => {
    const m1 = cluster.member('m1');
    const garbage = new WebSocket(`ws://${m1.listen}/rpc`, { headers: { authorization: 'Bearer test-api-token-0123456789abcdef' } });
    const closed = new Promise<number>((resolve) => garbage.on('close', (code) => resolve(code)));
    garbage.on('open', () => garbage.send(Buffer.from([0xff, 0x00, 0x13, 0x37, 0x42])));
    expect(await closed).toBe(1002);

    const unknown = await rpcError(api.rpc.unary('flotilla.api.v1.Resources/Explode', new Uint8Array(0)));
    expect(unknown.code).toBe(StatusCode.UNIMPLEMENTED);

    const huge = configMap('huge', { blob: 'x'.repeat(5 * 1024 * 1024) });
    const tooBig = await rpcError(api.create(huge));
    expect(tooBig.code).toBe(StatusCode.RESOURCE_EXHAUSTED);
    // A config map over 1 MiB is Invalid, as in Kubernetes; a pod over the store's 1.5 MiB request
    // limit fits a frame but not the store.
    const bigMap = await rpcError(api.create(configMap('big', { blob: 'x'.repeat(2 * 1024 * 1024) })));
    expect(bigMap.code).toBe(StatusCode.INVALID_ARGUMENT);
    const bigPod = pod('big');
    const overStore = await rpcError(api.create({ ...bigPod, spec: { containers: [{ name: 'c', image: 'busybox', env: [{ name: 'BLOB', value: 'x'.repeat(1_700_000) }] }] } }));
    expect(overStore.code).toBe(StatusCode.RESOURCE_EXHAUSTED);

    // The master still serves.
    expect((await api.get('Namespace', 'default')).metadata.name).toBe('default');
    expect((await cluster.status('m1'))?.role).toBeDefined();
  });
});
