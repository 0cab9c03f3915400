import { describe, expect, it } from 'vitest';
import { decodeObject, encodeObject } from '../../proto/api/codec.js';
import { samples } from '../../proto/api/samples.suite.js';
import { ALL_KINDS, type Secret } from '../../proto/api/types.js';
import { type FromJsonResult, fromJson } from './from-json.js';

function violationsOf(result: FromJsonResult): string[] {
  if ('object' in result) throw new Error('expected violations, got an object');
  return result.violations.map((v) => `${v.field}: ${v.description}`);
}

function objectOf(result: FromJsonResult) {
  if ('violations' in result) throw new Error(`unexpected violations: ${JSON.stringify(result.violations)}`);
  return result.object;
}

const pod = (spec: unknown) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec });

describe('fromJson accepts every kind', () => {
  for (const kind of ALL_KINDS) {
    it(`${kind}: the full sample passes unchanged and survives the codec`, () => {
      const json: unknown = JSON.parse(JSON.stringify(samples[kind]));
      const object = objectOf(fromJson(json));
      expect(object).toEqual(samples[kind]);
      expect(decodeObject(kind, encodeObject(object))).toEqual(samples[kind]);
    });
  }

  it('treats null as absent and supplies empty metadata', () => {
    expect(objectOf(fromJson({ apiVersion: 'v1', kind: 'ConfigMap', data: null }))).toEqual({ apiVersion: 'v1', kind: 'ConfigMap', metadata: {} });
  });
});

describe('fromJson reports each problem with its full path', () => {
  it('wrong scalar types', () => {
    const result = fromJson(
      pod({
        containers: [{ name: 'c', image: 'i', ports: [{ containerPort: 80 }, { containerPort: '80' }] }],
        terminationGracePeriodSeconds: 1.5,
        nodeSelector: { zone: 3 },
        hostname: ['x'],
      }),
    );
    expect(violationsOf(result)).toEqual([
      'spec.containers[0].ports[1].containerPort: expected an integer, got "80"',
      'spec.terminationGracePeriodSeconds: expected an integer, got 1.5',
      'spec.nodeSelector[zone]: expected a string, got 3',
      'spec.hostname: expected a string, got an array',
    ]);
  });

  it('booleans, arrays, objects and ranges', () => {
    expect(violationsOf(fromJson({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'n', labels: 'x' }, spec: { unschedulable: 'true', taints: {} } }))).toEqual([
      'metadata.labels: expected an object (a map), got "x"',
      'spec.unschedulable: expected a boolean, got "true"',
      'spec.taints: expected an array, got an object',
    ]);
    expect(violationsOf(fromJson(pod({ containers: [{ name: 'c', ports: [{ containerPort: 2 ** 31 }] }] })))).toEqual([
      'spec.containers[0].ports[0].containerPort: integer 2147483648 out of range [-2147483648, 2147483647]',
    ]);
    expect(violationsOf(fromJson(pod('nope')))).toEqual(['spec: expected an object, got "nope"']);
    expect(violationsOf(fromJson(pod({ containers: ['c'] })))).toEqual(['spec.containers[0]: expected an object, got "c"']);
  });

  it('unknown fields, at any depth', () => {
    expect(violationsOf(fromJson({ ...pod({ containers: [{ name: 'c', imagePullPolicy: 'Always', imagePolicy: 'x' }], nodename: 'n' }), extra: 1 }))).toEqual([
      'spec.containers[0].imagePolicy: unknown field "imagePolicy"',
      'spec.nodename: unknown field "nodename"',
      'extra: unknown field "extra"',
    ]);
  });

  it('proto spellings are not JSON spellings', () => {
    expect(violationsOf(fromJson({ apiVersion: 'v1', kind: 'Node', metadata: {}, spec: { podCidr: 'x', pod_cidr: 'y' } }))).toEqual([
      'spec.podCidr: unknown field "podCidr"',
      'spec.pod_cidr: unknown field "pod_cidr"',
    ]);
  });

  it('bad enum values name the supported ones', () => {
    expect(violationsOf(fromJson(pod({ containers: [], restartPolicy: 'Sometimes' })))).toEqual([
      'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"',
    ]);
    expect(violationsOf(fromJson({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: {}, spec: { selector: { matchExpressions: [{ key: 'a', operator: 'in' }] } } }))).toEqual([
      'spec.selector.matchExpressions[0].operator: Unsupported value: "in": supported values: "In", "NotIn", "Exists", "DoesNotExist"',
    ]);
  });

  it('IntOrString accepts both, nothing else', () => {
    const deployment = (rollingUpdate: unknown) => ({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: {}, spec: { strategy: { rollingUpdate } } });
    expect('object' in fromJson(deployment({ maxSurge: 1, maxUnavailable: '25%' }))).toBe(true);
    expect(violationsOf(fromJson(deployment({ maxSurge: true, maxUnavailable: 1.5 })))).toEqual([
      'spec.strategy.rollingUpdate.maxSurge: expected an integer or a string, got true',
      'spec.strategy.rollingUpdate.maxUnavailable: expected an integer or a string, got 1.5',
    ]);
  });

  it('bad base64', () => {
    expect(violationsOf(fromJson({ apiVersion: 'v1', kind: 'Secret', metadata: {}, data: { ok: 'aGk=', bad: 'not base64!', num: 3 } }))).toEqual([
      'data[bad]: expected base64-encoded data, got a string that is not valid base64',
      'data[num]: expected base64-encoded data, got 3',
    ]);
    expect(violationsOf(fromJson({ apiVersion: 'v1', kind: 'ConfigMap', metadata: {}, binaryData: { b: 'aGk' } }))).toHaveLength(1);
  });

  it('times must be RFC 3339', () => {
    expect(violationsOf(fromJson({ apiVersion: 'v1', kind: 'Namespace', metadata: { creationTimestamp: 'yesterday' } }))).toEqual([
      'metadata.creationTimestamp: expected an RFC 3339 time (e.g. 2026-01-02T03:04:05Z), got "yesterday"',
    ]);
    expect('object' in fromJson({ apiVersion: 'v1', kind: 'Namespace', metadata: { creationTimestamp: '2026-01-02T03:04:05.123+02:00' } })).toBe(true);
  });

  it('long wrong values are quoted only in part', () => {
    const [line] = violationsOf(fromJson(pod({ containers: [], priority: 'x'.repeat(1000) })));
    expect(line).toMatch(/^spec\.priority: expected an integer, got "x{63}… \(1002 characters\)$/);
  });

  it('integers beyond 2^53 are refused rather than rounded', () => {
    expect(violationsOf(fromJson({ apiVersion: 'v1', kind: 'Namespace', metadata: { generation: 2 ** 53 } }))).toEqual([
      'metadata.generation: integer 9007199254740992 out of range [-9007199254740991, 9007199254740991]',
    ]);
  });
});

describe('fromJson: kind and apiVersion', () => {
  it('an unknown or missing kind is a violation on kind', () => {
    expect(violationsOf(fromJson({ apiVersion: 'v1', kind: 'Widget' }))).toEqual([expect.stringMatching(/^kind: Unsupported value: "Widget": supported kinds: Namespace, Node, Pod/)]);
    expect(violationsOf(fromJson({ apiVersion: 'v1' }))).toEqual(['kind: Required value: must name the kind of object']);
    expect(violationsOf(fromJson({ kind: 7 }))).toEqual(['kind: expected a string, got 7']);
    expect(violationsOf(fromJson({ apiVersion: 'v1', kind: 'PodSpec' }))).toHaveLength(1);
    expect(violationsOf(fromJson([]))).toEqual([': expected an object, got an array']);
  });

  it('apiVersion must be the kind’s group/version', () => {
    expect(violationsOf(fromJson({ apiVersion: 'v1', kind: 'Deployment', metadata: {} }))).toEqual(['apiVersion: Unsupported value: "v1": Deployment is served at apps/v1']);
    expect(violationsOf(fromJson({ apiVersion: 'apps/v1', kind: 'Lease', metadata: {} }))).toEqual(['apiVersion: Unsupported value: "apps/v1": Lease is served at coordination.k8s.io/v1']);
    expect(violationsOf(fromJson({ kind: 'Pod', metadata: {} }))).toEqual(['apiVersion: Required value: Pod is served at v1']);
    expect('object' in fromJson({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: {} })).toBe(true);
  });
});

describe('Secret.stringData', () => {
  it('is folded into data, overriding it', () => {
    const secret = objectOf(fromJson({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, data: { a: 'eA==', b: 'eQ==' }, stringData: { b: 'héllo', c: '' } })) as Secret;
    expect(secret.stringData).toBeUndefined();
    expect(secret.data).toEqual({ a: 'eA==', b: Buffer.from('héllo').toString('base64'), c: '' });
  });

  it('must hold strings', () => {
    expect(violationsOf(fromJson({ apiVersion: 'v1', kind: 'Secret', metadata: {}, stringData: { n: 1 } }))).toEqual(['stringData[n]: expected a string, got 1']);
  });
});
