import { describe, expect, it } from 'vitest';
import { MAX_MANIFEST_BYTES, MAX_MANIFEST_OBJECTS, ManifestError, type ManifestResult, formatManifestProblem, loadManifest, parseManifest } from './manifest.js';

function problems(result: ManifestResult): string[] {
  if ('objects' in result) throw new Error(`expected problems, got ${result.objects.length} objects`);
  return result.problems.map(formatManifestProblem);
}

function objects(result: ManifestResult) {
  if ('problems' in result) throw new Error(`unexpected problems: ${problems(result).join('\n')}`);
  return result.objects;
}

const deployment = (replicas: string) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: ${replicas}
  selector:
    matchLabels: {app: web}
`;

describe('parseManifest', () => {
  it('reads several YAML documents and skips empty ones', () => {
    const text = `---\napiVersion: v1\nkind: Namespace\nmetadata: {name: team}\n---\n# nothing here\n---\n${deployment('3')}---\n`;
    const result = objects(parseManifest(text, 'all.yaml'));
    expect(result.map((o) => o.kind)).toEqual(['Namespace', 'Deployment']);
    expect(result[1]).toMatchObject({ spec: { replicas: 3 } });
  });

  it('names the file, document and field', () => {
    const text = `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\n${deployment('three')}`;
    expect(problems(parseManifest(text, 'deploy.yaml'))).toEqual(['deploy.yaml: document 2: spec.replicas: expected an integer, got "three"']);
  });

  it('YAML scalars keep their YAML 1.2 types: a quoted number is a string', () => {
    expect(problems(parseManifest(deployment('"3"'), 'd.yaml'))).toEqual(['d.yaml: document 1: spec.replicas: expected an integer, got "3"']);
    expect(problems(parseManifest(`apiVersion: v1\nkind: Node\nmetadata: {name: n}\nspec: {unschedulable: yes}\n`, 'n.yaml'))).toEqual([
      'n.yaml: document 1: spec.unschedulable: expected a boolean, got "yes"',
    ]);
  });

  it('is all-or-nothing and reports every document’s problems', () => {
    const text = `apiVersion: v1\nkind: Widget\n---\n${deployment('1')}---\napiVersion: v1\nkind: Pod\nmetadata: {name: p, nam: x}\n`;
    expect(problems(parseManifest(text, 'm.yaml'))).toEqual([
      'm.yaml: document 1: kind: Unsupported value: "Widget": supported kinds: Namespace, Node, Pod, ReplicaSet, Deployment, Service, Endpoints, ConfigMap, Secret, Lease, Event',
      'm.yaml: document 3: metadata.nam: unknown field "nam"',
    ]);
  });

  it('reports YAML syntax errors with the line', () => {
    expect(problems(parseManifest('apiVersion: v1\nkind: Pod\nmetadata:\n  name: a: b\n', 'bad.yaml'))).toEqual([
      'bad.yaml: document 1: Nested mappings are not allowed in compact mappings at line 4, column 9',
    ]);
    expect(problems(parseManifest('a: 1\n---\nkind: Pod\nkind: Node\n', 'dup.yaml'))).toEqual(['dup.yaml: document 2: Map keys must be unique at line 4, column 1']);
  });

  it('a document that is not an object', () => {
    expect(problems(parseManifest('- a\n- b\n', 'l.yaml'))).toEqual(['l.yaml: document 1: expected an object, got an array']);
    expect(problems(parseManifest('just text\n', 't.yaml'))).toEqual(['t.yaml: document 1: expected an object, got "just text"']);
  });

  it('reads JSON, a single object or a List', () => {
    expect(objects(parseManifest('{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"a"}}', 'ns.json'))).toHaveLength(1);
    const list = JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: [
        { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'a' } },
        { apiVersion: 'v1', kind: 'Service', metadata: { name: 's' }, spec: { ports: [{ port: '80' }] } },
      ],
    });
    expect(problems(parseManifest(list, 'list.json'))).toEqual(['list.json: document 1: items[1].spec.ports[0].port: expected an integer, got "80"']);
  });

  it('reads a YAML List', () => {
    const text = 'apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Namespace, metadata: {name: a}}\n- {apiVersion: v1, kind: Namespace, metadata: {name: b}}\n';
    expect(objects(parseManifest(text, 'l.yaml')).map((o) => o.metadata.name)).toEqual(['a', 'b']);
    expect(problems(parseManifest('kind: List\nitems: 3\n', 'l.yaml'))).toEqual(['l.yaml: items: expected an array'.replace('l.yaml: ', 'l.yaml: document 1: ')]);
  });

  it('reports JSON syntax errors with the line', () => {
    expect(problems(parseManifest('{\n  "kind": "Pod",\n  oops\n}', 'p.json'))[0]).toMatch(/^p\.json: invalid JSON at line 3, column 3: /);
  });

  it('an empty manifest has no objects', () => {
    expect(objects(parseManifest('', 'e.yaml'))).toEqual([]);
    expect(objects(parseManifest('---\n---\n', 'e.yaml'))).toEqual([]);
  });

  it('enforces the size and count bounds', () => {
    expect(problems(parseManifest(`# ${'x'.repeat(MAX_MANIFEST_BYTES)}`, 'big.yaml'))[0]).toMatch(/^big\.yaml: manifest is \d+ bytes, more than the 4194304 allowed$/);
    const many = Array.from({ length: MAX_MANIFEST_OBJECTS + 1 }, (_, i) => `{apiVersion: v1, kind: Namespace, metadata: {name: n${i}}}`).join('\n---\n');
    expect(problems(parseManifest(many, 'many.yaml'))).toEqual(['many.yaml: more than 1000 documents']);
    const items = Array.from({ length: MAX_MANIFEST_OBJECTS + 1 }, (_, i) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: `n${i}` } }));
    expect(problems(parseManifest(JSON.stringify({ kind: 'List', items }), 'many.json'))).toEqual(['many.json: document 1: more than 1000 objects']);
  });

  it('bounds alias expansion', () => {
    const bomb = `a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n`;
    expect(problems(parseManifest(bomb, 'bomb.yaml'))[0]).toMatch(/^bomb\.yaml: document 1: .*alias/i);
  });
});

describe('loadManifest', () => {
  it('throws a ManifestError carrying every problem', () => {
    expect(() => loadManifest(deployment('x'), 'd.yaml')).toThrow(ManifestError);
    try {
      loadManifest(deployment('x'), 'd.yaml');
    } catch (err) {
      expect((err as ManifestError).name).toBe('ManifestError');
      expect((err as ManifestError).problems).toEqual([{ file: 'd.yaml', document: 1, field: 'spec.replicas', message: 'expected an integer, got "x"' }]);
      expect((err as ManifestError).message).toBe('d.yaml: document 1: spec.replicas: expected an integer, got "x"');
    }
  });

  it('returns the objects', () => {
    expect(loadManifest(deployment('2'), 'd.yaml')).toHaveLength(1);
  });
});
