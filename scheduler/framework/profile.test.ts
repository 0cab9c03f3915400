import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { PodBinder } from './interfaces.js';
import { ProfileError, parseProfileText, readProfileFile, validateProfile } from './profile.js';
import { Framework } from './runtime.js';

const dir = mkdtempSync(join(tmpdir(), 'flotilla-profile-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const binder: PodBinder = { bulkBind: async (b) => b.map(() => ({ ok: true as const })) };

function write(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

function problem(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ProfileError);
    return (err as Error).message;
  }
  throw new Error('expected a ProfileError');
}

async function asyncProblem(fn: () => Promise<unknown>): Promise<string> {
  try {
    await fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ProfileError);
    return (err as Error).message;
  }
  throw new Error('expected a ProfileError');
}

describe('profile loader', () => {
  it('loads a YAML profile: plugins, weights, args, restricted points', async () => {
    const path = write(
      'packing.yaml',
      `schedulerName: packing-scheduler
percentageOfNodesToScore: 30
plugins:
  - name: NodeUnschedulable
  - name: TaintToleration
    weight: 3
    points: [filter]
  - name: NodeResourcesFit
    weight: 5
    args: { scoringStrategy: MostAllocated }
  - name: DefaultBinder
`,
    );
    const fw = await Framework.load(path, { binder });
    expect(fw.schedulerName).toBe('packing-scheduler');
    expect(fw.percentageOfNodesToScore).toBe(30);
    expect(fw.filterPlugins.map((p) => p.name)).toEqual(['NodeUnschedulable', 'TaintToleration', 'NodeResourcesFit']);
    expect(fw.scorePlugins.map((s) => [s.plugin.name, s.weight])).toEqual([['NodeResourcesFit', 5]]);
    expect(fw.bindPlugins.map((p) => p.name)).toEqual(['DefaultBinder']);
  });

  it('loads the same profile as JSON', async () => {
    const path = write('p.json', JSON.stringify({ plugins: [{ name: 'NodeResourcesFit' }, { name: 'DefaultBinder' }] }));
    const fw = await Framework.load(path, { binder });
    expect(fw.schedulerName).toBe('default-scheduler');
    expect(fw.scorePlugins).toHaveLength(1);
  });

  it.each<[string, unknown, RegExp]>([
    ['not a mapping', [1, 2], /must be a mapping/],
    ['unknown top-level field', { plugins: [{ name: 'A' }], percentage: 3 }, /percentage: unknown field/],
    ['no plugins', { plugins: [] }, /plugins: must be a non-empty list/],
    ['percentage out of range', { percentageOfNodesToScore: 150, plugins: [{ name: 'A' }] }, /percentageOfNodesToScore: must be an integer 0..100/],
    ['weight out of range', { plugins: [{ name: 'A', weight: 0 }] }, /plugins\[0\]\.weight: must be an integer 1..100/],
    ['weight not an integer', { plugins: [{ name: 'A', weight: 1.5 }] }, /plugins\[0\]\.weight/],
    ['duplicate plugin', { plugins: [{ name: 'A' }, { name: 'A' }] }, /plugins\[1\]\.name: plugin "A" is listed twice/],
    ['unknown plugin field', { plugins: [{ name: 'A', wieght: 2 }] }, /plugins\[0\]\.wieght: unknown field/],
    ['unknown point', { plugins: [{ name: 'A', points: ['filtre'] }] }, /plugins\[0\]\.points\[0\]: unknown extension point "filtre"/],
    ['args not a mapping', { plugins: [{ name: 'A', args: 'x' }] }, /plugins\[0\]\.args: must be a mapping/],
  ])('rejects %s, naming the field', (_name, doc, pattern) => {
    expect(problem(() => validateProfile(doc, 'profile.yaml'))).toMatch(pattern);
  });

  it('reports malformed YAML and JSON and unreadable files with the file name', async () => {
    expect(problem(() => parseProfileText('plugins: [ {name: A', 'bad.yaml'))).toMatch(/^bad\.yaml: not valid YAML/);
    expect(problem(() => parseProfileText('{"plugins": ', 'bad.json'))).toMatch(/^bad\.json: not valid JSON/);
    expect(await asyncProblem(() => readProfileFile(join(dir, 'missing.yaml')))).toMatch(/missing\.yaml: cannot read/);
  });

  it('rejects unknown plugins, bad plugin args, a point the plugin lacks, and a profile that cannot bind', async () => {
    const unknown = write('u.yaml', 'plugins: [{name: NodeResourceFit}, {name: DefaultBinder}]');
    expect(await asyncProblem(() => Framework.load(unknown, { binder }))).toMatch(/plugins\[0\]\.name: unknown plugin "NodeResourceFit" \(built-in: .*NodeResourcesFit/);
    const args = write('a.yaml', 'plugins: [{name: NodeResourcesFit, args: {scoringStrategy: Spread}}, {name: DefaultBinder}]');
    expect(await asyncProblem(() => Framework.load(args, { binder }))).toMatch(/plugins\[0\]\.args: scoringStrategy/);
    const point = write('pt.yaml', 'plugins: [{name: NodeName, points: [score]}, {name: DefaultBinder}]');
    expect(await asyncProblem(() => Framework.load(point, { binder }))).toMatch(/plugins\[0\]\.points: plugin "NodeName" does not implement score/);
    const nobind = write('nb.yaml', 'plugins: [{name: NodeName}]');
    expect(await asyncProblem(() => Framework.load(nobind, { binder }))).toMatch(/no plugin binds pods/);
  });

  it('loads a custom plugin module by path (a factory given its args) and checks it', async () => {
    write(
      'prefer-even.mjs',
      `export default function create(context) {
  const bonus = context.args.bonus ?? 100;
  return {
    name: 'PreferEvenNodes',
    score(state, pod, node) { return Number(node.name.split('-').pop()) % 2 === 0 ? bonus : 0; },
  };
}
`,
    );
    write('broken.mjs', `export const plugin = { name: 'Broken', filtr() {} };\n`);
    write('misnamed.mjs', `export const plugin = { name: 'Other', filter() { return { code: 'Success', reasons: [] }; } };\n`);
    const path = write('custom.yaml', 'plugins:\n  - {name: PreferEvenNodes, path: ./prefer-even.mjs, weight: 2, args: {bonus: 50}}\n  - {name: DefaultBinder}\n');
    const fw = await Framework.load(path, { binder });
    const custom = fw.scorePlugins[0];
    expect(custom?.plugin.name).toBe('PreferEvenNodes');
    expect(custom?.weight).toBe(2);
    const broken = write('b.yaml', 'plugins: [{name: Broken, path: ./broken.mjs}, {name: DefaultBinder}]');
    expect(await asyncProblem(() => Framework.load(broken, { binder }))).toMatch(/plugin "Broken" implements no extension point/);
    const misnamed = write('m.yaml', 'plugins: [{name: Mine, path: ./misnamed.mjs}, {name: DefaultBinder}]');
    expect(await asyncProblem(() => Framework.load(misnamed, { binder }))).toMatch(/named "Other", not "Mine"/);
    const missing = write('x.yaml', 'plugins: [{name: Gone, path: ./gone.mjs}, {name: DefaultBinder}]');
    expect(await asyncProblem(() => Framework.load(missing, { binder }))).toMatch(/plugins\[0\]\.path: cannot import/);
  });
});
