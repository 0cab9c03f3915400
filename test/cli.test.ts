// The CLI against three real masters: apply (create, then update, then unchanged), get as tables
// and as JSON, describe, delete, and a bad manifest that changes nothing.

import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { TEST_API_TOKEN, TestCluster } from './harness/cluster.js';

const BIN = fileURLToPath(new URL('../bin/flotilla.js', import.meta.url));
const EXAMPLES = fileURLToPath(new URL('../examples/', import.meta.url));

let cluster: TestCluster;
let dir: string;

function flotilla(...args: string[]): Promise<{ code: number; out: string }> {
  const server = cluster.members.map((m) => m.listen).join(',');
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args, '--server', server, '--token', TEST_API_TOKEN], { timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, out: stdout + stderr });
    });
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'flotilla-cli-'));
  // The production tick: these suites test the API, not election speed, and CI runs several
  // clusters at once on two cores, where 20 ms ticks turn event-loop stalls into elections.
  cluster = await TestCluster.start({ tickMs: 100 });
  await cluster.waitLeader();
  const api = cluster.api();
  for (let i = 0; ; i++) {
    try {
      await api.get('Namespace', 'default');
      break;
    } catch (err) {
      if (i > 150) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  await api.close();
}, 60_000);

afterAll(async () => {
  await cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('flotilla CLI', () => {
  test('apply creates, then reports unchanged; get prints aligned tables; -o json prints the object', async () => {
    const first = await flotilla('apply', '-f', EXAMPLES);
    expect(first.code).toBe(0);
    expect(first.out).toContain('namespace/demo created');
    expect(first.out).toContain('deployment/web created');
    const again = await flotilla('apply', '-f', EXAMPLES);
    expect(again.out).toContain('deployment/web unchanged');

    const pods = await flotilla('get', 'pods', '-n', 'demo', '-o', 'wide');
    expect(pods.out).toMatch(/^NAME +READY +STATUS +RESTARTS +AGE +IP +NODE\nhello +0\/1 +Pending +0 +\S+ +<none> +<none>\n$/);
    const json = await flotilla('get', 'deployment', 'web', '-n', 'demo', '-o', 'json');
    expect(JSON.parse(json.out)).toMatchObject({ kind: 'Deployment', spec: { replicas: 3 } });
    const all = await flotilla('get', 'all', '-A');
    expect(all.out).toContain('NAMESPACE');
    const described = await flotilla('describe', 'svc', 'web', '-n', 'demo');
    expect(described.out).toContain('Name:              web');
    expect(described.out).toContain('Events:');
  });

  test('apply changes what changed', async () => {
    const file = join(dir, 'cm.yaml');
    writeFileSync(file, 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {mode: a}\n');
    expect((await flotilla('apply', '-f', file)).out).toContain('configmap/settings created');
    writeFileSync(file, 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {mode: b}\n');
    expect((await flotilla('apply', '-f', file)).out).toContain('configmap/settings configured');
    const got = await flotilla('get', 'cm', 'settings', '-o', 'yaml');
    expect(got.out).toContain('mode: b');
  });

  test('a bad manifest names the file, document and field, and changes nothing', async () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: fine-one}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: broken}\nspec:\n  replicas: three\n');
    const r = await flotilla('apply', '-f', file);
    expect(r.code).not.toBe(0);
    expect(r.out).toContain(`${file}: document 2: spec.replicas:`);
    const cm = await flotilla('get', 'configmap', 'fine-one');
    expect(cm.code).not.toBe(0);
    expect(cm.out).toContain('not found');
  });

  test('delete, and a helpful error for an unknown kind', async () => {
    await flotilla('apply', '-f', join(EXAMPLES, 'web.yaml'));
    const del = await flotilla('delete', 'configmap', 'web-config', '-n', 'demo');
    expect(del.out).toContain('configmap "web-config" deleted');
    expect((await flotilla('get', 'cm', 'web-config', '-n', 'demo')).out).toContain('not found');
    const unknown = await flotilla('get', 'widgets');
    expect(unknown.code).not.toBe(0);
    expect(unknown.out).toContain("doesn't have a resource type \"widgets\"");
  });
});
