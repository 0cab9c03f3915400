// The API server in-process: the real kinds, codec, registry, watch caches and RPC over loopback,
// on a single-member LocalBackend (the three-master behaviour is in test/api-cluster.test.ts).

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { ApiClient } from '../client/api-client.js';
import { Informer } from '../client/informer.js';
import type { ConfigMap, Namespace, Pod } from '../proto/api/types.js';
import { systemClock } from '../raft/driver/raft-node.js';
import { LocalBackend } from '../store/local-backend.js';
import { type TempStore, openTempStore } from '../store/mvcc/testing.js';
import { RpcError, StatusCode } from './rpc/status.js';
import { servedKinds } from './served-kinds.js';
import { ApiServer } from './service.js';

const TOKEN = 'service-test-token-0123456789';
const silent = { info: () => {}, warn: () => {}, error: () => {} };

let temp: TempStore;
let backend: LocalBackend;
let server: ApiServer;
let http: Server;
let client: ApiClient;

beforeEach(async () => {
  temp = openTempStore('flotilla-api-');
  backend = new LocalBackend({ store: temp.store });
  server = new ApiServer({ backend, kinds: servedKinds(), tokens: new Map([[TOKEN, 'tester']]), masterName: 'local', logger: silent, clock: systemClock });
  server.start();
  http = createServer((_req, res) => res.writeHead(404).end());
  http.on('upgrade', (req, socket, head) => (server.handlesUpgrade(req) ? server.handleUpgrade(req, socket, head) : socket.destroy()));
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', () => r()));
  client = new ApiClient({ endpoints: [`127.0.0.1:${(http.address() as AddressInfo).port}`], token: TOKEN });
  for (let i = 0; i < 100; i++) {
    if (await client.get('Namespace', 'default').then(() => true, () => false)) break;
    await new Promise((r) => setTimeout(r, 20));
  }
});

afterEach(async () => {
  await client.close();
  await server.close();
  await new Promise<void>((r) => http.close(() => r()));
  backend.close();
  await temp.dispose();
});

function pod(name: string): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', labels: { app: 'web' } },
    spec: { restartPolicy: 'OnFailure', containers: [{ name: 'c', image: 'busybox', command: ['sh', '-c', 'sleep 1'], resources: { requests: { cpu: '50m', memory: '16Mi' } } }] },
  };
}

describe('ApiServer in-process', () => {
  test('defaults are applied; re-sending the same object is a no-op update', async () => {
    const created = await client.create(pod('p'));
    expect(created.spec?.terminationGracePeriodSeconds).toBe(30);
    expect(created.spec?.schedulerName).toBe('default-scheduler');
    const again = await client.update({ ...pod('p'), metadata: { ...pod('p').metadata, resourceVersion: created.metadata.resourceVersion } });
    expect(again.metadata.resourceVersion).toBe(created.metadata.resourceVersion);
    expect(again.metadata.generation).toBe(1);
  });

  test('status subresource, bind, graceful delete, watch events', async () => {
    const seen: string[] = [];
    const ac = new AbortController();
    const done = (async () => {
      for await (const ev of client.watch<Pod>('Pod', { namespace: 'default', signal: ac.signal })) {
        seen.push(`${ev.type}:${ev.object.metadata.name}:${ev.object.status?.phase ?? '-'}`);
        if (ev.type === 'DELETED') return;
      }
    })().catch(() => {});
    await client.create(pod('w'));
    const bound = await client.bind<Pod>('default', 'w', 'node-1');
    expect(bound.spec?.nodeName).toBe('node-1');
    const running = await client.updateStatus<Pod>({ ...bound, status: { ...bound.status, phase: 'Running' } });
    expect(running.status?.phase).toBe('Running');
    const marked = await client.delete<Pod>('Pod', 'w', 'default');
    expect(marked.deleted).toBe(false);
    expect(marked.object.metadata.deletionTimestamp).toBeDefined();
    expect((await client.delete('Pod', 'w', 'default', { gracePeriodSeconds: 0 })).deleted).toBe(true);
    await done;
    ac.abort();
    expect(seen).toEqual(['ADDED:w:-', 'MODIFIED:w:-', 'MODIFIED:w:Running', 'MODIFIED:w:Running', 'DELETED:w:Running']);
  });

  test('deleting a namespace deletes its contents; creates in it are refused while it terminates', async () => {
    await client.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'doomed' } });
    await client.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'doomed' } } as ConfigMap);
    await client.create({ ...pod('free'), metadata: { name: 'free', namespace: 'doomed' } });
    await client.create({ ...pod('held'), metadata: { name: 'held', namespace: 'doomed' } });
    await client.bind('doomed', 'held', 'node-1');
    // The bound pod waits for its agent: the namespace stays Terminating.
    const first = await client.delete('Namespace', 'doomed');
    expect(first.deleted).toBe(false);
    expect((await client.get<Namespace>('Namespace', 'doomed')).status?.phase).toBe('Terminating');
    expect((await client.list('ConfigMap', { namespace: 'doomed' })).items).toEqual([]);
    expect((await client.list<Pod>('Pod', { namespace: 'doomed' })).items.map((p) => p.metadata.name)).toEqual(['held']);
    const refused = await client.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'late', namespace: 'doomed' } } as ConfigMap).catch((e: unknown) => e);
    expect((refused as RpcError).code).toBe(StatusCode.FAILED_PRECONDITION);
    // The agent's final delete; the next delete (or sweep) removes the namespace.
    await client.delete('Pod', 'held', 'doomed', { gracePeriodSeconds: 0 });
    expect((await client.delete('Namespace', 'doomed')).deleted).toBe(true);
    const gone = await client.get('Namespace', 'doomed').catch((e: unknown) => e);
    expect((gone as RpcError).code).toBe(StatusCode.NOT_FOUND);
    const builtIn = await client.delete('Namespace', 'kube-system').catch((e: unknown) => e);
    expect((builtIn as RpcError).code).toBe(StatusCode.FAILED_PRECONDITION);
  });

  test('bulk calls succeed or fail per item', async () => {
    const results = await client.bulkCreate('ConfigMap', [
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a', namespace: 'default' } },
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'Bad', namespace: 'default' } },
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a', namespace: 'default' } },
    ] as ConfigMap[]);
    expect(results.map((r) => (r.ok ? 'ok' : (r.error as RpcError).code))).toEqual(['ok', StatusCode.INVALID_ARGUMENT, StatusCode.ALREADY_EXISTS]);
    await client.bulkCreate('Pod', [pod('b1'), pod('b2')]);
    const binds = await client.bulkBind([
      { namespace: 'default', name: 'b1', nodeName: 'n1' },
      { namespace: 'default', name: 'b2', nodeName: 'n2' },
      { namespace: 'default', name: 'b1', nodeName: 'n3' },
    ]);
    expect(binds.map((r) => r.ok)).toEqual([true, true, false]);
  });

  test('merge patch rejects fields the kind does not have', async () => {
    await client.create(pod('mp'));
    const patched = await client.patch<Pod>('Pod', 'mp', 'default', { metadata: { labels: { extra: 'yes' } } });
    expect(patched.metadata.labels).toEqual({ app: 'web', extra: 'yes' });
    const err = await client.patch('Pod', 'mp', 'default', { spec: { favouriteColour: 'red' } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RpcError);
    expect((err as RpcError).code).toBe(StatusCode.INVALID_ARGUMENT);
  });

  test("logs come through the API from the node's agent, with the caller's token", async () => {
    const seen: (string | undefined)[] = [];
    const agent = createServer((req, res) => {
      seen.push(req.headers.authorization);
      if (req.url === '/logs/default/lp/c?follow=1') {
        res.writeHead(200);
        res.write('line 1\n');
        res.end('line 2\n');
      } else {
        res.writeHead(404).end('no such container');
      }
    });
    await new Promise<void>((r) => agent.listen(0, '127.0.0.1', () => r()));
    try {
      const endpoint = `127.0.0.1:${(agent.address() as AddressInfo).port}`;
      await client.create({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'n-logs', annotations: { 'flotilla.io/agent-endpoint': endpoint } } });
      await client.create({ ...pod('lp'), spec: { ...pod('lp').spec!, nodeName: 'n-logs' } } as Pod);
      let text = '';
      for await (const chunk of client.logs('default', 'lp', { follow: true })) text += Buffer.from(chunk).toString('utf8');
      expect(text).toBe('line 1\nline 2\n');
      expect(seen).toEqual([`Bearer ${TOKEN}`]);
      const wrong = await (async () => {
        for await (const _ of client.logs('default', 'lp', { container: 'nope' })) return undefined;
        return undefined;
      })().catch((e: unknown) => e);
      expect((wrong as RpcError).code).toBe(StatusCode.INVALID_ARGUMENT);
      await client.create(pod('unbound-logs'));
      const unbound = await (async () => {
        for await (const _ of client.logs('default', 'unbound-logs')) return undefined;
        return undefined;
      })().catch((e: unknown) => e);
      expect((unbound as RpcError).message).toContain('not bound');
    } finally {
      await new Promise<void>((r) => agent.close(() => r()));
    }
  });

  test('an informer lists, watches, and relists after Expired', async () => {
    await client.create(pod('i1'));
    const informer = new Informer<Pod>(client, 'Pod', { namespace: 'default' });
    const adds: string[] = [];
    const deletes: string[] = [];
    informer.addHandlers({ onAdd: (p) => adds.push(p.metadata.name!), onDelete: (p) => deletes.push(p.metadata.name!) });
    informer.start();
    await informer.waitForSync();
    await client.create(pod('i2'));
    await client.delete('Pod', 'i1', 'default');
    for (let i = 0; i < 100 && deletes.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(adds).toEqual(['i1', 'i2']);
    expect(deletes).toEqual(['i1']);
    expect(informer.list().map((p) => p.metadata.name)).toEqual(['i2']);

    // The master goes away; changes happen meanwhile and the store is compacted; the replacement's
    // cache starts at the compaction, so the informer's resourceVersion is Expired there: it relists
    // and reports what it missed.
    await server.close();
    const relistsBefore = informer.relists;
    const writer = new ApiServer({ backend, kinds: servedKinds(), tokens: undefined, masterName: 'writer', logger: silent, clock: systemClock });
    await writer.registry.create(pod('i3'));
    await writer.registry.delete({ kind: 'Pod', namespace: 'default', name: 'i2' });
    await writer.close();
    // History up to now is compacted away, so the new cache cannot replay what the informer missed.
    await backend.propose({ type: 'compact', revision: backend.header().revision });
    server = new ApiServer({ backend, kinds: servedKinds(), tokens: new Map([[TOKEN, 'tester']]), masterName: 'local-2', logger: silent, clock: systemClock });
    server.start();
    for (let i = 0; i < 300 && informer.get('i3', 'default') === undefined; i++) await new Promise((r) => setTimeout(r, 20));
    expect(informer.relists).toBe(relistsBefore + 1);
    expect(informer.list().map((p) => p.metadata.name)).toEqual(['i3']);
    expect(adds).toEqual(['i1', 'i2', 'i3']);
    expect(deletes).toEqual(['i1', 'i2']);
    await informer.stop();
  });
});
