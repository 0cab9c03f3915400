import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import type { ApiObject } from '../../proto/api/object.js';
import { LocalBackend } from '../../store/local-backend.js';
import { ManualClock } from '../../store/etcd/testing.js';
import { type TempStore, openTempStore } from '../../store/mvcc/testing.js';
import { ApiError, StatusReason } from './errors.js';
import { type KindHandler, Registry, knownStoredBytes, mergePatch } from './registry.js';

/** Test kinds encoded as JSON; the real kinds use the protobuf codec and their own validation. */
function jsonKind(kind: string, plural: string, namespaced: boolean, hasStatus: boolean): KindHandler {
  return {
    kind,
    apiVersion: 'v1',
    plural,
    namespaced,
    hasStatus,
    encode: (obj) => new TextEncoder().encode(JSON.stringify(obj)),
    decode: (raw) => JSON.parse(new TextDecoder().decode(raw)) as ApiObject,
    defaults: (obj) => obj,
    validate: (obj) => (obj.metadata.name !== undefined && /^[a-z0-9.-]+$/.test(obj.metadata.name) ? [] : [{ field: 'metadata.name', description: 'bad name' }]),
    selectableFields: (obj) => ({
      'metadata.name': obj.metadata.name ?? '',
      'metadata.namespace': obj.metadata.namespace ?? '',
      ...(kind === 'Pod' ? { 'spec.nodeName': ((obj as unknown as { spec?: { nodeName?: string } }).spec?.nodeName ?? '') } : {}),
    }),
  };
}

const kinds = new Map<string, KindHandler>([
  ['Namespace', jsonKind('Namespace', 'namespaces', false, true)],
  ['Pod', jsonKind('Pod', 'pods', true, true)],
  ['ConfigMap', jsonKind('ConfigMap', 'configmaps', true, false)],
]);

let temp: TempStore;
let clock: ManualClock;
let backend: LocalBackend;
let registry: Registry;
let uids = 0;

function pod(name: string, extra: Record<string, unknown> = {}): ApiObject {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default' }, spec: { containers: [{ name: 'c', image: 'busybox' }] }, ...extra } as ApiObject;
}

async function reason(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ApiError) return err.reason;
    throw err;
  }
  return 'resolved';
}

async function backendValue(key: string): Promise<Uint8Array | undefined> {
  const r = await backend.range({ key: new TextEncoder().encode(key) }, 'serializable');
  return r.kvs[0]?.value;
}

beforeEach(async () => {
  temp = openTempStore('flotilla-registry-');
  clock = new ManualClock();
  backend = new LocalBackend({ store: temp.store, clock, leaseTickMs: 3_600_000 });
  let r = 0;
  registry = new Registry({ backend, kinds: (k) => kinds.get(k), now: () => 1_700_000_000_000, uid: () => `uid-${++uids}`, randomInt: (n) => r++ % n });
  await registry.ensureNamespace('default');
});

afterEach(async () => {
  backend.close();
  await temp.dispose();
});

describe('Registry', () => {
  test('create sets server fields; a second create of the name is AlreadyExists; get returns it', async () => {
    const created = await registry.create(pod('web'));
    expect(created.metadata).toMatchObject({ name: 'web', namespace: 'default', generation: 1, creationTimestamp: '2023-11-14T22:13:20Z' });
    expect(created.metadata.uid).toMatch(/^uid-/);
    expect(Number(created.metadata.resourceVersion)).toBeGreaterThan(0);
    expect(await reason(registry.create(pod('web')))).toBe(StatusReason.AlreadyExists);
    const got = await registry.get({ kind: 'Pod', namespace: 'default', name: 'web' });
    expect(got).toEqual(created);
  });

  test('creating in a missing namespace is NotFound; cluster-scoped kinds refuse a namespace', async () => {
    const p = { ...pod('x'), metadata: { name: 'x', namespace: 'nope' } };
    expect(await reason(registry.create(p))).toBe(StatusReason.NotFound);
    expect(await reason(registry.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'n', namespace: 'default' } }))).toBe(StatusReason.BadRequest);
    expect(await reason(registry.create({ apiVersion: 'v1', kind: 'Widget', metadata: { name: 'n' } }))).toBe(StatusReason.NotFound);
  });

  test('generateName picks a fresh name', async () => {
    const a = await registry.create({ ...pod(''), metadata: { generateName: 'web-', namespace: 'default' } });
    const b = await registry.create({ ...pod(''), metadata: { generateName: 'web-', namespace: 'default' } });
    expect(a.metadata.name).toMatch(/^web-[a-z0-9]{5}$/);
    expect(b.metadata.name).not.toBe(a.metadata.name);
  });

  test('invalid objects are rejected with the field', async () => {
    try {
      await registry.create(pod('Bad_Name'));
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ApiError);
      expect((err as ApiError).reason).toBe(StatusReason.Invalid);
      expect((err as ApiError).violations).toEqual([{ field: 'metadata.name', description: 'bad name' }]);
    }
  });

  test('update with a stale resourceVersion is a Conflict; without one it applies; generation counts spec changes', async () => {
    const created = await registry.create(pod('web'));
    const changed = { ...created, spec: { containers: [{ name: 'c', image: 'busybox:2' }] } } as ApiObject;
    const updated = await registry.update(changed);
    expect(updated.metadata.generation).toBe(2);
    expect(await reason(registry.update(changed))).toBe(StatusReason.Conflict);
    const labelled = await registry.update({ ...updated, metadata: { ...updated.metadata, labels: { a: 'b' }, resourceVersion: undefined } });
    expect(labelled.metadata.generation).toBe(2);
    expect(labelled.metadata.labels).toEqual({ a: 'b' });
    // A no-op update writes nothing.
    const again = await registry.update(labelled);
    expect(again.metadata.resourceVersion).toBe(labelled.metadata.resourceVersion);
  });

  test('a no-op update is told by content: the same labels in another order write nothing; a real change of the same length does', async () => {
    const created = await registry.create({ ...pod('web'), metadata: { name: 'web', namespace: 'default', labels: { a: '1', b: '2' } } });
    const reordered = await registry.update({ ...created, metadata: { ...created.metadata, labels: { b: '2', a: '1' } } });
    expect(reordered.metadata.resourceVersion).toBe(created.metadata.resourceVersion);
    const sameLength = await registry.update({ ...created, metadata: { ...created.metadata, labels: { a: '1', b: '3' } } });
    expect(Number(sameLength.metadata.resourceVersion)).toBeGreaterThan(Number(created.metadata.resourceVersion));
    expect(sameLength.metadata.labels).toEqual({ a: '1', b: '3' });
    // What the registry returns carries the bytes it stored, so the API answers with them.
    const stored = knownStoredBytes(sameLength);
    expect(stored).toBeDefined();
    expect(Buffer.from(stored!)).toEqual(Buffer.from((await backendValue('/registry/pods/default/web'))!));
  });

  test('update keeps status; updateStatus keeps spec', async () => {
    const created = await registry.create(pod('web'));
    const withStatus = await registry.update({ ...created, status: { phase: 'Running' } } as ApiObject, 'status');
    expect((withStatus as unknown as { status: unknown }).status).toEqual({ phase: 'Running' });
    const ignored = await registry.update({ ...withStatus, status: { phase: 'Failed' } } as ApiObject);
    expect((ignored as unknown as { status: unknown }).status).toEqual({ phase: 'Running' });
    const specIgnored = await registry.update({ ...ignored, spec: { containers: [] }, status: { phase: 'Succeeded' } } as ApiObject, 'status');
    expect((specIgnored as unknown as { spec: unknown }).spec).toEqual({ containers: [{ name: 'c', image: 'busybox' }] });
    expect(await reason(registry.update({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'default' } }, 'status'))).toBe(StatusReason.NotFound);
  });

  test('merge patch', async () => {
    await registry.create({ ...pod('web'), metadata: { name: 'web', namespace: 'default', labels: { a: '1', b: '2' } } });
    const patched = await registry.patch({ kind: 'Pod', namespace: 'default', name: 'web' }, { metadata: { labels: { a: null, c: '3' } } }, 'main', (j) => j as ApiObject);
    expect(patched.metadata.labels).toEqual({ b: '2', c: '3' });
    expect(mergePatch({ a: { b: 1, c: 2 }, d: [1] }, { a: { b: null }, d: [2] })).toEqual({ a: { c: 2 }, d: [2] });
    expect(await reason(registry.patch({ kind: 'Pod', namespace: 'default', name: 'web' }, { metadata: { resourceVersion: '1' } }, 'main', (j) => j as ApiObject))).toBe(StatusReason.Conflict);
  });

  test('list: selectors, pagination at one revision, and a bad continue token', async () => {
    for (let i = 0; i < 25; i++) await registry.create({ ...pod(`p${String(i).padStart(2, '0')}`), spec: { nodeName: i % 2 === 0 ? 'n1' : 'n2' } } as ApiObject);
    const all = await registry.list('Pod', { namespace: 'default' });
    expect(all.items).toHaveLength(25);
    const page1 = await registry.list('Pod', { limit: 10 });
    expect(page1.items.map((p) => p.metadata.name)).toEqual(all.items.slice(0, 10).map((p) => p.metadata.name));
    await registry.delete({ kind: 'Pod', namespace: 'default', name: 'p12' });
    const page2 = await registry.list('Pod', { limit: 10, continueToken: page1.continueToken! });
    // The second page reads at the first page's revision: p12 is still there.
    expect(page2.items.map((p) => p.metadata.name)).toContain('p12');
    expect(page2.resourceVersion).toBe(page1.resourceVersion);
    const page3 = await registry.list('Pod', { limit: 10, continueToken: page2.continueToken! });
    expect(page3.items).toHaveLength(5);
    expect(page3.continueToken).toBeUndefined();
    const n1 = await registry.list('Pod', { filter: (o) => (o as unknown as { spec?: { nodeName?: string } }).spec?.nodeName === 'n1', limit: 5 });
    expect(n1.items.map((p) => p.metadata.name)).toEqual(['p00', 'p02', 'p04', 'p06', 'p08']);
    const n1rest = await registry.list('Pod', { filter: (o) => (o as unknown as { spec?: { nodeName?: string } }).spec?.nodeName === 'n1', continueToken: n1.continueToken! });
    expect(n1rest.items).toHaveLength(8);
    expect(await reason(registry.list('Pod', { continueToken: 'garbage' }))).toBe(StatusReason.BadRequest);
  });

  test('creates in one namespace share its liveness read; a terminating namespace refuses them all', async () => {
    await registry.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team', finalizers: ['x/y'] } });
    const ranges: string[] = [];
    const range = backend.range.bind(backend);
    backend.range = (req, consistency) => {
      ranges.push(new TextDecoder().decode(req.key));
      return range(req, consistency);
    };
    const inTeam = (name: string): ApiObject => ({ ...pod(name), metadata: { name, namespace: 'team' } });
    const created = await Promise.all(['a', 'b', 'c', 'd', 'e'].map((n) => registry.create(inTeam(n))));
    expect(created.map((p) => p.metadata.namespace)).toEqual(['team', 'team', 'team', 'team', 'team']);
    expect(ranges.filter((k) => k.includes('namespaces')).length).toBe(1);

    // Once the read has settled, a later create reads again and sees the namespace terminating.
    const marked = await registry.delete({ kind: 'Namespace', name: 'team' });
    expect(marked.object.metadata.deletionTimestamp).toBeDefined();
    const refused = await Promise.all(['f', 'g', 'h'].map((n) => reason(registry.create(inTeam(n)))));
    expect(refused).toEqual([StatusReason.Forbidden, StatusReason.Forbidden, StatusReason.Forbidden]);
    expect(await reason(registry.get({ kind: 'Pod', namespace: 'team', name: 'f' }))).toBe(StatusReason.NotFound);
  });

  test('delete: finalizers hold the object until the last one goes', async () => {
    await registry.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'default', finalizers: ['x/y'] } });
    const r = await registry.delete({ kind: 'ConfigMap', namespace: 'default', name: 'c' });
    expect(r.deleted).toBe(false);
    expect(r.object.metadata.deletionTimestamp).toBeDefined();
    const cur = await registry.get({ kind: 'ConfigMap', namespace: 'default', name: 'c' });
    await registry.update({ ...cur, metadata: { ...cur.metadata, finalizers: [] } });
    expect(await reason(registry.get({ kind: 'ConfigMap', namespace: 'default', name: 'c' }))).toBe(StatusReason.NotFound);
  });

  test('delete: an unbound pod goes at once; a bound one waits for its agent', async () => {
    await registry.create(pod('unbound'));
    expect((await registry.delete({ kind: 'Pod', namespace: 'default', name: 'unbound' })).deleted).toBe(true);
    await registry.create(pod('bound'));
    await registry.bind({ namespace: 'default', name: 'bound' }, 'n1');
    const marked = await registry.delete({ kind: 'Pod', namespace: 'default', name: 'bound' });
    expect(marked.deleted).toBe(false);
    expect(marked.object.metadata.deletionGracePeriodSeconds).toBe(30);
    const shorter = await registry.delete({ kind: 'Pod', namespace: 'default', name: 'bound' }, { gracePeriodSeconds: 5 });
    expect(shorter.object.metadata.deletionGracePeriodSeconds).toBe(5);
    expect((await registry.delete({ kind: 'Pod', namespace: 'default', name: 'bound' }, { gracePeriodSeconds: 0 })).deleted).toBe(true);
    expect(await reason(registry.delete({ kind: 'Pod', namespace: 'default', name: 'bound' }))).toBe(StatusReason.NotFound);
  });

  test('delete preconditions', async () => {
    const c = await registry.create(pod('p'));
    expect(await reason(registry.delete({ kind: 'Pod', namespace: 'default', name: 'p' }, { preconditionUid: 'other' }))).toBe(StatusReason.Conflict);
    expect(await reason(registry.delete({ kind: 'Pod', namespace: 'default', name: 'p' }, { preconditionResourceVersion: '1' }))).toBe(StatusReason.Conflict);
    expect((await registry.delete({ kind: 'Pod', namespace: 'default', name: 'p' }, { preconditionUid: c.metadata.uid! })).deleted).toBe(true);
  });

  test('bind sets nodeName once and PodScheduled', async () => {
    await registry.create(pod('p'));
    const bound = await registry.bind({ namespace: 'default', name: 'p' }, 'n1');
    expect((bound as unknown as { spec: { nodeName: string } }).spec.nodeName).toBe('n1');
    expect((bound as unknown as { status: { conditions: { type: string }[] } }).status.conditions[0]!.type).toBe('PodScheduled');
    expect(await reason(registry.bind({ namespace: 'default', name: 'p' }, 'n2'))).toBe(StatusReason.Conflict);
    expect(await reason(registry.bind({ namespace: 'default', name: 'missing' }, 'n2'))).toBe(StatusReason.NotFound);
  });

  test('concurrent updates without resourceVersion all land (read-modify-write retries)', async () => {
    await registry.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'default' }, data: {} } as ApiObject);
    await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        registry.patch({ kind: 'ConfigMap', namespace: 'default', name: 'c' }, { data: { [`k${i}`]: 'v' } }, 'main', (j) => j as ApiObject),
      ),
    );
    const c = (await registry.get({ kind: 'ConfigMap', namespace: 'default', name: 'c' })) as unknown as { data: Record<string, string> };
    expect(Object.keys(c.data).sort()).toEqual(['k0', 'k1', 'k2', 'k3', 'k4', 'k5']);
  });
});
