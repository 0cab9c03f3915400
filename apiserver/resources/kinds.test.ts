import { describe, expect, it } from 'vitest';
import type { FieldViolation } from '../../proto/api/object.js';
import { samplePodSpec, samples } from '../../proto/api/samples.suite.js';
import { ALL_KINDS, type Deployment, type Event, type Namespace, type Node, type Pod, type ReplicaSet, type Secret, type Service } from '../../proto/api/types.js';
import { KINDS, applyDefaults, kindInfo, lookupKind, selectableFields, validateObject } from './kinds.js';

const fields = (violations: readonly FieldViolation[]) => violations.map((v) => v.field);
const lines = (violations: readonly FieldViolation[]) => violations.map((v) => `${v.field}: ${v.description}`);

const minimalPod = (spec: Partial<Pod['spec']> = {}): Pod => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'p', namespace: 'default' },
  spec: { containers: [{ name: 'c', image: 'busybox' }], ...spec },
});

describe('registry', () => {
  it('every kind has an entry with its names and scope', () => {
    for (const kind of ALL_KINDS) expect(kindInfo(kind).kind).toBe(kind);
    expect(KINDS.Pod).toMatchObject({ apiVersion: 'v1', group: '', version: 'v1', plural: 'pods', singular: 'pod', shortNames: ['po'], namespaced: true, hasStatus: true });
    expect(KINDS.Deployment).toMatchObject({ apiVersion: 'apps/v1', group: 'apps', version: 'v1', plural: 'deployments', shortNames: ['deploy'] });
    expect(KINDS.Lease).toMatchObject({ group: 'coordination.k8s.io', plural: 'leases', namespaced: true });
    expect(KINDS.Node.namespaced).toBe(false);
    expect(KINDS.Namespace.namespaced).toBe(false);
    expect(KINDS.ConfigMap.hasStatus).toBe(false);
  });

  it.each([
    ['pod', 'Pod'],
    ['pods', 'Pod'],
    ['po', 'Pod'],
    ['Pod', 'Pod'],
    ['PODS', 'Pod'],
    ['no', 'Node'],
    ['ns', 'Namespace'],
    ['deploy', 'Deployment'],
    ['deployments', 'Deployment'],
    ['rs', 'ReplicaSet'],
    ['svc', 'Service'],
    ['ep', 'Endpoints'],
    ['endpoints', 'Endpoints'],
    ['cm', 'ConfigMap'],
    ['configmap', 'ConfigMap'],
    ['ev', 'Event'],
    ['secret', 'Secret'],
    ['lease', 'Lease'],
  ])('lookupKind(%j) is %s', (name, kind) => {
    expect(lookupKind(name)?.kind).toBe(kind);
  });

  it('lookupKind of an unknown name is undefined', () => {
    expect(lookupKind('widgets')).toBeUndefined();
  });
});

describe('defaults', () => {
  it('pods', () => {
    const pod = applyDefaults(minimalPod({ containers: [{ name: 'c', image: 'i', ports: [{ containerPort: 80 }], readinessProbe: { tcpSocket: { port: 80 } } }] })) as Pod;
    expect(pod.spec).toEqual({
      containers: [
        {
          name: 'c',
          image: 'i',
          imagePullPolicy: 'IfNotPresent',
          ports: [{ containerPort: 80, protocol: 'TCP' }],
          readinessProbe: { tcpSocket: { port: 80 }, periodSeconds: 10, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 3 },
        },
      ],
      restartPolicy: 'Always',
      terminationGracePeriodSeconds: 30,
      schedulerName: 'default-scheduler',
    });
  });

  it('keeps what the user set, including zeros', () => {
    const pod = applyDefaults(minimalPod({ restartPolicy: 'Never', terminationGracePeriodSeconds: 0, schedulerName: 'mine' })) as Pod;
    expect(pod.spec).toMatchObject({ restartPolicy: 'Never', terminationGracePeriodSeconds: 0, schedulerName: 'mine' });
    const d = applyDefaults({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: {}, spec: { replicas: 0 } }) as Deployment;
    expect(d.spec?.replicas).toBe(0);
  });

  it('deployments, and the pod template inside', () => {
    const d = applyDefaults({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: {}, spec: { template: { spec: { containers: [{ name: 'c' }] } } } }) as Deployment;
    expect(d.spec).toMatchObject({
      replicas: 1,
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } },
      revisionHistoryLimit: 10,
      progressDeadlineSeconds: 600,
    });
    expect(d.spec?.template?.spec?.restartPolicy).toBe('Always');
    const recreate = applyDefaults({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: {}, spec: { strategy: { type: 'Recreate' } } }) as Deployment;
    expect(recreate.spec?.strategy).toEqual({ type: 'Recreate' });
    const partial = applyDefaults({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: {}, spec: { strategy: { rollingUpdate: { maxSurge: 0 } } } }) as Deployment;
    expect(partial.spec?.strategy?.rollingUpdate).toEqual({ maxSurge: 0, maxUnavailable: '25%' });
  });

  it('replica sets', () => {
    expect((applyDefaults({ apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: {} }) as ReplicaSet).spec?.replicas).toBe(1);
  });

  it('services: ClusterIP, TCP, targetPort = port', () => {
    const svc = applyDefaults({ apiVersion: 'v1', kind: 'Service', metadata: {}, spec: { ports: [{ port: 80 }, { port: 53, protocol: 'UDP', targetPort: 'dns' }] } }) as Service;
    expect(svc.spec).toEqual({
      type: 'ClusterIP',
      sessionAffinity: 'None',
      ports: [
        { port: 80, protocol: 'TCP', targetPort: 80 },
        { port: 53, protocol: 'UDP', targetPort: 'dns' },
      ],
    });
  });

  it('namespaces are Active, secrets Opaque, nodes allocate their capacity', () => {
    expect((applyDefaults({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'a' } }) as Namespace).status?.phase).toBe('Active');
    expect((applyDefaults({ apiVersion: 'v1', kind: 'Secret', metadata: {} }) as Secret).type).toBe('Opaque');
    expect((applyDefaults({ apiVersion: 'v1', kind: 'Node', metadata: {}, status: { capacity: { cpu: '2' } } }) as Node).status?.allocatable).toEqual({ cpu: '2' });
  });

  it('is idempotent', () => {
    for (const kind of ALL_KINDS) {
      const once = applyDefaults(samples[kind]);
      expect(applyDefaults(once)).toEqual(once);
    }
  });
});

describe('validation: metadata', () => {
  it('every defaulted sample is valid', () => {
    for (const kind of ALL_KINDS) expect(lines(validateObject(applyDefaults(samples[kind]))), kind).toEqual([]);
  });

  it('name or generateName is required; names follow the kind’s rule', () => {
    expect(lines(validateObject({ ...minimalPod(), metadata: { namespace: 'default' } }))).toEqual(['metadata.name: Required value: name or generateName is required']);
    expect(fields(validateObject({ ...minimalPod(), metadata: { generateName: 'web-', namespace: 'default' } }))).toEqual([]);
    expect(fields(validateObject({ ...minimalPod(), metadata: { generateName: 'Web-', namespace: 'default' } }))).toEqual(['metadata.generateName']);
    expect(lines(validateObject({ ...minimalPod(), metadata: { name: 'Web_0', namespace: 'default' } }))).toEqual([
      `metadata.name: Invalid value: "Web_0": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`,
    ]);
    // Pods may have dots in their names; namespaces and services may not.
    expect(validateObject({ ...minimalPod(), metadata: { name: 'a.b', namespace: 'default' } })).toEqual([]);
    expect(fields(validateObject({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'a.b' } }))).toEqual(['metadata.name']);
    expect(fields(validateObject({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'a.b', namespace: 'd' }, spec: { ports: [{ port: 1 }] } }))).toEqual(['metadata.name']);
    expect(lines(validateObject({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'x'.repeat(64) } }))[0]).toMatch(/must be no more than 63 characters/);
  });

  it('namespace is required for namespaced kinds, forbidden for the others', () => {
    expect(lines(validateObject({ ...minimalPod(), metadata: { name: 'p' } }))).toEqual(['metadata.namespace: Required value']);
    expect(lines(validateObject({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'n', namespace: 'default' } }))).toEqual(['metadata.namespace: Forbidden: not allowed on this type']);
  });

  it('labels, annotations, owner references', () => {
    const pod = minimalPod();
    const bad: Pod = {
      ...pod,
      metadata: {
        ...pod.metadata,
        labels: { 'bad key': 'x' },
        ownerReferences: [
          { apiVersion: 'v1', kind: 'K', name: 'a', uid: '1', controller: true },
          { apiVersion: 'v1', kind: 'K', name: '', uid: '2', controller: true },
        ],
      },
    };
    expect(fields(validateObject(bad))).toEqual(['metadata.labels', 'metadata.ownerReferences[1].name', 'metadata.ownerReferences']);
  });

  it('name, namespace, uid and kind are immutable', () => {
    const old = { ...minimalPod(), metadata: { name: 'p', namespace: 'default', uid: 'u1' } };
    expect(fields(validateObject({ ...old, metadata: { name: 'q', namespace: 'other', uid: 'u2' } }, old))).toEqual(['metadata.name', 'metadata.namespace', 'metadata.uid']);
    expect(fields(validateObject(samples.Node, samples.Pod))).toEqual(['kind']);
  });
});

describe('validation: pods', () => {
  it('containers, names, images, ports', () => {
    expect(lines(validateObject(minimalPod({ containers: [] })))).toEqual(['spec.containers: Required value']);
    const pod = minimalPod({
      containers: [
        { name: 'c', image: 'i', ports: [{ containerPort: 0 }, { containerPort: 80, name: 'http' }, { containerPort: 81, name: 'http' }] },
        { name: 'c' },
        { name: 'Bad' , image: 'i', env: [{ name: '1x' }] },
      ],
    });
    expect(lines(validateObject(pod))).toEqual([
      'spec.containers[0].ports[0].containerPort: Invalid value: 0: must be between 1 and 65535, inclusive',
      'spec.containers[0].ports[2].name: Duplicate value: "http"',
      'spec.containers[1].image: Required value',
      'spec.containers[1].name: Duplicate value: "c"',
      `spec.containers[2].name: Invalid value: "Bad": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character`,
      `spec.containers[2].env[0].name: Invalid value: "1x": a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit`,
    ]);
  });

  it('resource quantities and requests ≤ limits', () => {
    const pod = minimalPod({
      containers: [{ name: 'c', image: 'i', resources: { requests: { cpu: '2', memory: '1Gi', gpu: 'lots' }, limits: { cpu: '1500m', memory: '1G', other: '-1' } } }],
    });
    expect(lines(validateObject(pod))).toEqual([
      'spec.containers[0].resources.requests[gpu]: Invalid value: "lots": invalid quantity "lots": must match the regular expression \'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$\' (e.g. 500m, 2, 1.5, 128Mi, 1G, 1e3)',
      'spec.containers[0].resources.limits[other]: Invalid value: "-1": must be greater than or equal to 0',
      'spec.containers[0].resources.requests[cpu]: Invalid value: "2": must be less than or equal to cpu limit of 1500m',
      'spec.containers[0].resources.requests[memory]: Invalid value: "1Gi": must be less than or equal to memory limit of 1G',
    ]);
  });

  it('probes, tolerations, affinity', () => {
    const pod = minimalPod({
      containers: [{ name: 'c', image: 'i', livenessProbe: { periodSeconds: 0 }, readinessProbe: { exec: { command: ['true'] }, httpGet: { port: 'x'.repeat(16) } } }],
      tolerations: [{ operator: 'Equal', value: 'v' }, { key: 'k', operator: 'Exists', value: 'v' }, { key: 'k', tolerationSeconds: 5, effect: 'NoSchedule' }],
      affinity: {
        nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'a', operator: 'Gt', values: ['x'] }] }] } },
        podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ topologyKey: '' }], preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 101, podAffinityTerm: { topologyKey: 'z' } }] },
      },
    });
    expect(fields(validateObject(pod))).toEqual([
      'spec.containers[0].livenessProbe',
      'spec.containers[0].livenessProbe.periodSeconds',
      'spec.containers[0].readinessProbe',
      'spec.containers[0].readinessProbe.httpGet.port',
      'spec.tolerations[0].operator',
      'spec.tolerations[1].operator',
      'spec.tolerations[2].effect',
      'spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values',
      'spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey',
      'spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight',
    ]);
  });

  describe('updates', () => {
    const old = applyDefaults({ ...minimalPod(), spec: { ...samplePodSpec, nodeName: undefined, activeDeadlineSeconds: 600 } }) as Pod;
    const spec = old.spec ?? samplePodSpec;
    const update = (change: Partial<Pod['spec']>) => validateObject({ ...old, spec: { ...spec, ...change } }, old);

    it('images, activeDeadlineSeconds (down) and added tolerations may change', () => {
      expect(update({ containers: spec.containers.map((c) => ({ ...c, image: 'nginx:1.28' })), initContainers: spec.initContainers?.map((c) => ({ ...c, image: 'b2' })) })).toEqual([]);
      expect(update({ activeDeadlineSeconds: 300 })).toEqual([]);
      expect(update({ tolerations: [...(spec.tolerations ?? []), { key: 'new', operator: 'Exists' }] })).toEqual([]);
    });

    it('names, commands and nodeName may not', () => {
      expect(lines(update({ nodeName: 'n2' }))).toEqual(['spec.nodeName: Forbidden: may only be set by binding the pod (the pods/binding subresource), and never changed']);
      expect(fields(update({ containers: spec.containers.map((c) => ({ ...c, name: 'renamed' })) }))).toEqual(['spec.containers']);
      expect(fields(update({ containers: [...spec.containers, { name: 'extra', image: 'i' }] }))).toEqual(['spec.containers']);
      expect(fields(update({ containers: spec.containers.map((c) => ({ ...c, command: ['sh'] })) }))).toEqual(['spec.containers[0].command']);
      expect(fields(update({ tolerations: [] }))).toEqual(['spec.tolerations']);
      expect(fields(update({ activeDeadlineSeconds: 900 }))).toEqual(['spec.activeDeadlineSeconds']);
    });

    it('anything else is one general violation', () => {
      expect(lines(update({ restartPolicy: 'Never' }))).toEqual([expect.stringMatching(/^spec: Forbidden: pod updates may not change fields other than/)]);
      expect(fields(update({ containers: spec.containers.map((c) => ({ ...c, resources: {} })) }))).toEqual(['spec']);
    });

    it('nodeName may be given at create', () => {
      expect(validateObject(minimalPod({ nodeName: 'n1' }))).toEqual([]);
    });
  });
});

describe('validation: workloads', () => {
  const deployment = (spec: Partial<Deployment['spec']>): Deployment =>
    applyDefaults({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'd', namespace: 'default' },
      spec: { selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'i' }] } }, ...spec },
    }) as Deployment;

  it('the selector must be present, non-empty and match the template', () => {
    expect(validateObject(deployment({}))).toEqual([]);
    expect(lines(validateObject({ ...deployment({}), spec: { ...deployment({}).spec, selector: undefined } }))).toEqual(['spec.selector: Required value']);
    expect(fields(validateObject(deployment({ selector: {} })))).toEqual(['spec.selector']);
    expect(lines(validateObject(deployment({ selector: { matchLabels: { app: 'db' } } })))).toEqual(['spec.template.metadata.labels: Invalid value: {"app":"web"}: `selector` does not match template `labels`']);
  });

  it('the template must restart Always and be a valid pod spec', () => {
    expect(fields(validateObject(deployment({ template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c' }], restartPolicy: 'OnFailure' } } })))).toEqual([
      'spec.template.spec.containers[0].image',
      'spec.template.spec.restartPolicy',
    ]);
  });

  it('rolling update parameters', () => {
    expect(fields(validateObject(deployment({ strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 0, maxUnavailable: '0%' } } })))).toEqual(['spec.strategy.rollingUpdate.maxUnavailable']);
    expect(fields(validateObject(deployment({ strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '150%', maxUnavailable: 'half' } } })))).toEqual([
      'spec.strategy.rollingUpdate.maxSurge',
      'spec.strategy.rollingUpdate.maxUnavailable',
    ]);
    expect(fields(validateObject(deployment({ replicas: -1, progressDeadlineSeconds: 5, minReadySeconds: 10 })))).toEqual(['spec.replicas', 'spec.progressDeadlineSeconds']);
  });

  it('selectors are immutable on update', () => {
    const old = deployment({});
    const changed = deployment({ selector: { matchLabels: { app: 'web', v: '2' } }, template: { metadata: { labels: { app: 'web', v: '2' } }, spec: { containers: [{ name: 'c', image: 'i' }] } } });
    expect(lines(validateObject(changed, old))).toEqual(['spec.selector: Invalid value: {"matchLabels":{"app":"web","v":"2"}}: field is immutable']);
    expect(validateObject(deployment({ replicas: 5 }), old)).toEqual([]);
    const rs = applyDefaults(samples.ReplicaSet) as ReplicaSet;
    expect(fields(validateObject({ ...rs, spec: { ...rs.spec, selector: { matchLabels: { app: 'web', x: 'y' } } } }, rs))).toContain('spec.selector');
  });
});

describe('validation: other kinds', () => {
  const service = (spec: Service['spec']): Service => ({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's', namespace: 'd' }, spec });

  it('services', () => {
    expect(fields(validateObject(service({ ports: [{ port: 80 }, { port: 70000, name: 'b', nodePort: 30001 }] })))).toEqual(['spec.ports[0].name', 'spec.ports[1].port', 'spec.ports[1].nodePort']);
    expect(fields(validateObject(service({ type: 'NodePort', ports: [{ port: 80, nodePort: 80 }] })))).toEqual(['spec.ports[0].nodePort']);
    expect(fields(validateObject(service({})))).toEqual(['spec.ports']);
    expect(validateObject(service({ clusterIP: 'None' }))).toEqual([]);
    expect(fields(validateObject(service({ type: 'ExternalName' })))).toEqual(['spec.externalName']);
    expect(fields(validateObject(service({ ports: [{ port: 1 }], clusterIP: '10.0.0.999' })))).toEqual(['spec.clusterIP']);
    const old = service({ ports: [{ port: 1 }], clusterIP: '10.96.0.1' });
    expect(fields(validateObject(service({ ports: [{ port: 1 }], clusterIP: '10.96.0.2' }), old))).toEqual(['spec.clusterIP']);
  });

  it('nodes: quantities, taints, immutable podCIDR', () => {
    const node: Node = { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n' }, spec: { taints: [{ key: '', effect: 'NoSchedule' }] }, status: { capacity: { cpu: '4 cores' } } };
    expect(fields(validateObject(node))).toEqual(['spec.taints[0].key', 'status.capacity[cpu]']);
    const n1 = samples.Node as Node;
    expect(fields(validateObject({ ...n1, spec: { ...n1.spec, podCIDR: '10.0.0.0/24' } }, n1))).toEqual(['spec.podCIDR']);
  });

  it('config maps and secrets: keys, duplicates, immutability', () => {
    expect(fields(validateObject({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'd' }, data: { 'a/b': 'x', k: 'v' }, binaryData: { k: 'eA==' } }))).toEqual([
      'data[a/b]',
      'binaryData[k]',
    ]);
    const frozen = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', namespace: 'd' }, type: 'Opaque', data: { a: 'eA==' }, immutable: true } as const;
    expect(fields(validateObject({ ...frozen, data: { a: 'eQ==' } }, frozen))).toEqual(['data']);
    expect(fields(validateObject({ ...frozen, type: 'kubernetes.io/tls' }, frozen))).toEqual(['type']);
    expect(fields(validateObject({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'd' }, data: { big: 'x'.repeat(1024 * 1024) } }))).toEqual(['']);
  });

  it('events, endpoints, leases', () => {
    expect(fields(validateObject({ ...(samples.Event as Event), metadata: { name: 'e', namespace: 'other' } }))).toEqual(['involvedObject.namespace']);
    expect(fields(validateObject({ apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'e', namespace: 'd' }, subsets: [{ addresses: [{ ip: 'x' }], ports: [{ port: 0 }] }] }))).toEqual([
      'subsets[0].addresses[0].ip',
      'subsets[0].ports[0].port',
    ]);
    expect(fields(validateObject({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'l', namespace: 'd' }, spec: { leaseDurationSeconds: 0 } }))).toEqual(['spec.leaseDurationSeconds']);
  });
});

describe('selectable fields', () => {
  it('pods', () => {
    expect(selectableFields(samples.Pod)).toEqual({
      'metadata.name': 'web-0',
      'metadata.namespace': 'default',
      'spec.nodeName': 'n1',
      'spec.restartPolicy': 'Always',
      'spec.schedulerName': 'default-scheduler',
      'spec.serviceAccountName': 'default',
      'status.phase': 'Running',
      'status.podIP': '10.244.1.5',
    });
    expect(KINDS.Pod.selectableFieldNames).toContain('spec.nodeName');
  });

  it('cluster-scoped kinds have an empty metadata.namespace', () => {
    expect(selectableFields(samples.Node)).toEqual({ 'metadata.name': 'n1', 'metadata.namespace': '', 'spec.unschedulable': 'true' });
  });

  it('events and secrets', () => {
    expect(selectableFields(samples.Event)).toMatchObject({ 'involvedObject.kind': 'Pod', 'involvedObject.name': 'web-0', 'involvedObject.namespace': 'default', 'involvedObject.uid': 'u2', reason: 'Scheduled', type: 'Normal' });
    expect(selectableFields(samples.Secret)).toMatchObject({ type: 'Opaque' });
  });
});
