// One full object per kind, in the JSON form, for round-trip tests here and in apiserver/resources.
// Every field is set to a non-zero value, so a field the codec drops shows up as a difference.

import type { AnyObject, Kind, PodSpec } from './types.js';

const meta = (name: string, namespace?: string) => ({
  name,
  ...(namespace !== undefined ? { namespace } : {}),
  uid: '6f1c3f9e-8a9b-4c1e-9d6a-2b7c0f1e2d3a',
  resourceVersion: '42',
  generation: 3,
  labels: { app: 'web', 'app.kubernetes.io/name': 'web' },
  annotations: { note: 'hello', empty: '' },
  creationTimestamp: '2026-01-02T03:04:05Z',
});

export const samplePodSpec: PodSpec = {
  containers: [
    {
      name: 'web',
      image: 'nginx:1.27',
      command: ['nginx'],
      args: ['-g', 'daemon off;'],
      env: [{ name: 'MODE', value: 'prod' }, { name: 'EMPTY' }],
      ports: [{ name: 'http', containerPort: 80, protocol: 'TCP', hostPort: 8080 }],
      resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '1', memory: '1Gi' } },
      livenessProbe: { httpGet: { path: '/healthz', port: 'http' }, initialDelaySeconds: 5, periodSeconds: 10, failureThreshold: 3 },
      readinessProbe: { tcpSocket: { port: 80 }, timeoutSeconds: 1, successThreshold: 1 },
      imagePullPolicy: 'IfNotPresent',
      workingDir: '/srv',
    },
  ],
  initContainers: [{ name: 'init', image: 'busybox', command: ['true'] }],
  restartPolicy: 'Always',
  nodeSelector: { disktype: 'ssd' },
  affinity: {
    nodeAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: {
        nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a', 'b'] }], matchFields: [{ key: 'metadata.name', operator: 'NotIn', values: ['n9'] }] }],
      },
      preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 10, preference: { matchExpressions: [{ key: 'gpu', operator: 'Exists' }] } }],
    },
    podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { app: 'db' } }, topologyKey: 'zone', namespaces: ['data'] }] },
    podAntiAffinity: {
      preferredDuringSchedulingIgnoredDuringExecution: [
        { weight: 100, podAffinityTerm: { labelSelector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['web'] }] }, topologyKey: 'kubernetes.io/hostname' } },
      ],
    },
  },
  tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'web', effect: 'NoExecute', tolerationSeconds: 300 }, { operator: 'Exists' }],
  nodeName: 'n1',
  schedulerName: 'default-scheduler',
  priority: 0,
  terminationGracePeriodSeconds: 30,
  hostname: 'web-0',
  serviceAccountName: 'default',
  activeDeadlineSeconds: 600,
};

export const samples: Readonly<Record<Kind, AnyObject>> = {
  Namespace: { apiVersion: 'v1', kind: 'Namespace', metadata: meta('team-a'), spec: { finalizers: ['kubernetes'] }, status: { phase: 'Active' } },
  Node: {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: meta('n1'),
    spec: { unschedulable: true, taints: [{ key: 'dedicated', value: 'web', effect: 'NoSchedule' }], podCIDR: '10.244.1.0/24', providerID: 'flotilla://n1' },
    status: {
      capacity: { cpu: '4', memory: '8Gi', pods: '110' },
      allocatable: { cpu: '3800m', memory: '7Gi', pods: '110' },
      conditions: [{ type: 'Ready', status: 'True', reason: 'AgentReady', message: 'ok', lastHeartbeatTime: '2026-01-02T03:04:05Z', lastTransitionTime: '2026-01-02T03:00:00Z' }],
      addresses: [{ type: 'InternalIP', address: '10.0.0.1' }, { type: 'Hostname', address: 'n1' }],
      nodeInfo: { machineID: 'm', systemUUID: 's', bootID: 'b', kernelVersion: '6.1', osImage: 'Debian', containerRuntimeVersion: 'fake://1', kubeletVersion: 'v0.1', operatingSystem: 'linux', architecture: 'amd64' },
    },
  },
  Pod: {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { ...meta('web-0', 'default'), ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-abc', uid: 'u1', controller: true, blockOwnerDeletion: true }], finalizers: ['x/y'], deletionTimestamp: '2026-01-02T04:00:00Z', deletionGracePeriodSeconds: 0 },
    spec: samplePodSpec,
    status: {
      phase: 'Running',
      conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: '2026-01-02T03:04:05Z', lastProbeTime: '2026-01-02T03:04:06Z', reason: 'r', message: 'm' }],
      hostIP: '10.0.0.1',
      podIP: '10.244.1.5',
      startTime: '2026-01-02T03:04:05Z',
      reason: 'Started',
      message: 'all good',
      containerStatuses: [
        {
          name: 'web',
          ready: true,
          restartCount: 2,
          image: 'nginx:1.27',
          imageID: 'sha256:abc',
          containerID: 'fake://c1',
          started: false,
          state: { running: { startedAt: '2026-01-02T03:04:05Z' } },
          lastState: { terminated: { exitCode: 137, signal: 9, reason: 'OOMKilled', message: 'oom', startedAt: '2026-01-02T03:00:00Z', finishedAt: '2026-01-02T03:04:00Z', containerID: 'fake://c0' } },
        },
      ],
      initContainerStatuses: [{ name: 'init', state: { terminated: { exitCode: 0, reason: 'Completed' } } }],
    },
  },
  ReplicaSet: {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: meta('web-abc', 'default'),
    spec: { replicas: 0, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: samplePodSpec }, minReadySeconds: 5 },
    status: { replicas: 3, readyReplicas: 2, availableReplicas: 1, fullyLabeledReplicas: 3, observedGeneration: 9007199254740991 },
  },
  Deployment: {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta('web', 'default'),
    spec: {
      replicas: 3,
      selector: { matchLabels: { app: 'web' }, matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['db'] }] },
      template: { metadata: { labels: { app: 'web', tier: 'front' } }, spec: samplePodSpec },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: 0 } },
      minReadySeconds: 10,
      revisionHistoryLimit: 10,
      paused: true,
      progressDeadlineSeconds: 600,
    },
    status: {
      replicas: 3,
      updatedReplicas: 3,
      readyReplicas: 2,
      availableReplicas: 2,
      unavailableReplicas: 1,
      observedGeneration: 3,
      conditions: [{ type: 'Available', status: 'False', reason: 'MinimumReplicasUnavailable', message: 'm', lastUpdateTime: '2026-01-02T03:04:05Z', lastTransitionTime: '2026-01-02T03:04:05Z' }],
    },
  },
  Service: {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta('web', 'default'),
    spec: {
      type: 'NodePort',
      selector: { app: 'web' },
      ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 'http', nodePort: 30080 }, { name: 'metrics', port: 9090, targetPort: 9091 }],
      clusterIP: '10.96.0.10',
      sessionAffinity: 'ClientIP',
    },
    status: { loadBalancer: { ingress: [{ ip: '1.2.3.4', hostname: 'lb.example.com' }] } },
  },
  Endpoints: {
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata: meta('web', 'default'),
    subsets: [
      {
        addresses: [{ ip: '10.244.1.5', hostname: 'web-0', nodeName: 'n1', targetRef: { kind: 'Pod', namespace: 'default', name: 'web-0', uid: 'u2', apiVersion: 'v1', resourceVersion: '7', fieldPath: 'spec' } }],
        notReadyAddresses: [{ ip: '10.244.1.6' }],
        ports: [{ name: 'http', port: 80, protocol: 'TCP' }],
      },
    ],
  },
  ConfigMap: { apiVersion: 'v1', kind: 'ConfigMap', metadata: meta('conf', 'default'), data: { 'app.properties': 'a=b\n', empty: '' }, binaryData: { blob: 'AAEC/w==' }, immutable: true },
  Secret: { apiVersion: 'v1', kind: 'Secret', metadata: meta('creds', 'default'), type: 'Opaque', data: { password: 'aHVudGVyMg==', empty: '' }, immutable: true },
  Lease: {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: meta('n1', 'kube-node-lease'),
    spec: { holderIdentity: 'n1', leaseDurationSeconds: 40, acquireTime: '2026-01-02T03:04:05.000000Z', renewTime: '2026-01-02T03:04:45.123456Z', leaseTransitions: 0 },
  },
  Event: {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: meta('web-0.17a', 'default'),
    involvedObject: { kind: 'Pod', namespace: 'default', name: 'web-0', uid: 'u2', apiVersion: 'v1', resourceVersion: '7', fieldPath: 'spec.containers{web}' },
    reason: 'Scheduled',
    message: 'assigned default/web-0 to n1',
    type: 'Normal',
    count: 2,
    firstTimestamp: '2026-01-02T03:04:05Z',
    lastTimestamp: '2026-01-02T03:05:05Z',
    source: { component: 'default-scheduler', host: 'm1' },
    reportingComponent: 'default-scheduler',
    reportingInstance: 'm1',
    action: 'Binding',
  },
};
