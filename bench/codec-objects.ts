// A Pod and a Node with realistic content for bench/codec.bench.ts: two containers with
// resources, env, ports and probes; labels, annotations, an owner; status with conditions and
// container statuses; a Node with capacity, conditions, addresses and node info.

import type { Container, Node, Pod } from '../proto/api/types.js';

const container = (name: string, image: string, port: number): Container => ({
  name,
  image,
  command: ['/bin/server'],
  args: ['--port', String(port), '--log-level=info'],
  env: [
    { name: 'MODE', value: 'production' },
    { name: 'POD_NAMESPACE', value: 'default' },
    { name: 'GOMAXPROCS', value: '2' },
  ],
  ports: [
    { name: 'http', containerPort: port, protocol: 'TCP' },
    { name: 'metrics', containerPort: 9090, protocol: 'TCP' },
  ],
  resources: { requests: { cpu: '250m', memory: '512Mi' }, limits: { cpu: '1', memory: '1Gi' } },
  livenessProbe: { httpGet: { path: '/healthz', port: 'http' }, initialDelaySeconds: 5, periodSeconds: 10, failureThreshold: 3 },
  readinessProbe: { tcpSocket: { port }, timeoutSeconds: 1, successThreshold: 1 },
  imagePullPolicy: 'IfNotPresent',
});

export const benchPod: Pod = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: {
    name: 'web-7d4b9c8f6d-x2k9q',
    namespace: 'default',
    uid: '6f1c3f9e-8a9b-4c1e-9d6a-2b7c0f1e2d3a',
    resourceVersion: '1048576',
    generation: 1,
    labels: { app: 'web', 'pod-template-hash': '7d4b9c8f6d', tier: 'frontend', 'app.kubernetes.io/name': 'web' },
    annotations: { 'flotilla.io/created-by': 'replicaset-controller', 'prometheus.io/scrape': 'true' },
    ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-7d4b9c8f6d', uid: '0d9e8f7a-6b5c-4d3e-2f1a-0b9c8d7e6f5a', controller: true, blockOwnerDeletion: true }],
    creationTimestamp: '2026-01-02T03:04:05Z',
  },
  spec: {
    containers: [container('web', 'registry.example.com/web:1.27.3', 8080), container('sidecar', 'registry.example.com/proxy:2.1', 15001)],
    restartPolicy: 'Always',
    nodeSelector: { 'kubernetes.io/os': 'linux' },
    tolerations: [{ key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 }],
    nodeName: 'node-1234',
    schedulerName: 'default-scheduler',
    priority: 0,
    terminationGracePeriodSeconds: 30,
    serviceAccountName: 'default',
  },
  status: {
    phase: 'Running',
    conditions: [
      { type: 'PodScheduled', status: 'True', lastTransitionTime: '2026-01-02T03:04:05Z' },
      { type: 'Initialized', status: 'True', lastTransitionTime: '2026-01-02T03:04:06Z' },
      { type: 'ContainersReady', status: 'True', lastTransitionTime: '2026-01-02T03:04:09Z' },
      { type: 'Ready', status: 'True', lastTransitionTime: '2026-01-02T03:04:09Z' },
    ],
    hostIP: '10.0.4.210',
    podIP: '10.244.17.5',
    startTime: '2026-01-02T03:04:05Z',
    containerStatuses: ['web', 'sidecar'].map((name, i) => ({
      name,
      ready: true,
      restartCount: i,
      image: `registry.example.com/${name}:1`,
      imageID: `sha256:${'ab'.repeat(32)}`,
      containerID: `containerd://${'cd'.repeat(32)}`,
      started: true,
      state: { running: { startedAt: '2026-01-02T03:04:07Z' } },
    })),
  },
};

export const benchNode: Node = {
  apiVersion: 'v1',
  kind: 'Node',
  metadata: {
    name: 'node-1234',
    uid: '1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d',
    resourceVersion: '2097152',
    labels: { 'kubernetes.io/hostname': 'node-1234', 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64', 'topology.kubernetes.io/zone': 'zone-b' },
    annotations: { 'flotilla.io/agent-version': 'v0.1.0' },
    creationTimestamp: '2026-01-01T00:00:00Z',
  },
  spec: { podCIDR: '10.244.17.0/24', providerID: 'flotilla://node-1234', taints: [{ key: 'dedicated', value: 'web', effect: 'PreferNoSchedule' }] },
  status: {
    capacity: { cpu: '32', memory: '128Gi', pods: '110', 'ephemeral-storage': '500Gi' },
    allocatable: { cpu: '31800m', memory: '126Gi', pods: '110', 'ephemeral-storage': '480Gi' },
    conditions: [
      { type: 'Ready', status: 'True', reason: 'AgentReady', message: 'node agent is posting ready status', lastHeartbeatTime: '2026-01-02T03:04:05Z', lastTransitionTime: '2026-01-01T00:00:10Z' },
      { type: 'MemoryPressure', status: 'False', reason: 'AgentHasSufficientMemory', message: 'ok', lastHeartbeatTime: '2026-01-02T03:04:05Z', lastTransitionTime: '2026-01-01T00:00:10Z' },
      { type: 'DiskPressure', status: 'False', reason: 'AgentHasNoDiskPressure', message: 'ok', lastHeartbeatTime: '2026-01-02T03:04:05Z', lastTransitionTime: '2026-01-01T00:00:10Z' },
    ],
    addresses: [{ type: 'InternalIP', address: '10.0.4.210' }, { type: 'Hostname', address: 'node-1234' }],
    nodeInfo: { machineID: 'm-1234', systemUUID: 's-1234', bootID: 'b-1234', kernelVersion: '6.1.0-18-amd64', osImage: 'Debian GNU/Linux 12 (bookworm)', containerRuntimeVersion: 'containerd://1.7.13', kubeletVersion: 'v0.1.0', operatingSystem: 'linux', architecture: 'amd64' },
  },
};
