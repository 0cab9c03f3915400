// Defaulting, applied on create and update before validation, as Kubernetes' SetDefaults_*: what
// a user leaves out gets the value the rest of the system assumes. Each function returns a new
// object and leaves fields the user set alone.

import type {
  Container,
  Deployment,
  Endpoints,
  Namespace,
  Node,
  Pod,
  PodSpec,
  PodTemplateSpec,
  Probe,
  ReplicaSet,
  Secret,
  Service,
} from '../../proto/api/types.js';

export const DEFAULT_RESTART_POLICY = 'Always';
export const DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS = 30;
export const DEFAULT_SCHEDULER_NAME = 'default-scheduler';
export const DEFAULT_IMAGE_PULL_POLICY = 'IfNotPresent';
export const DEFAULT_PROTOCOL = 'TCP';
export const DEFAULT_REPLICAS = 1;
export const DEFAULT_MAX_SURGE = '25%';
export const DEFAULT_MAX_UNAVAILABLE = '25%';
export const DEFAULT_REVISION_HISTORY_LIMIT = 10;
export const DEFAULT_PROGRESS_DEADLINE_SECONDS = 600;
export const DEFAULT_SECRET_TYPE = 'Opaque';
export const DEFAULT_PROBE_PERIOD_SECONDS = 10;
export const DEFAULT_PROBE_TIMEOUT_SECONDS = 1;
export const DEFAULT_PROBE_SUCCESS_THRESHOLD = 1;
export const DEFAULT_PROBE_FAILURE_THRESHOLD = 3;

function defaultProbe(probe: Probe | undefined): Probe | undefined {
  if (probe === undefined) return undefined;
  return {
    ...probe,
    periodSeconds: probe.periodSeconds ?? DEFAULT_PROBE_PERIOD_SECONDS,
    timeoutSeconds: probe.timeoutSeconds ?? DEFAULT_PROBE_TIMEOUT_SECONDS,
    successThreshold: probe.successThreshold ?? DEFAULT_PROBE_SUCCESS_THRESHOLD,
    failureThreshold: probe.failureThreshold ?? DEFAULT_PROBE_FAILURE_THRESHOLD,
  };
}

function defaultContainer(c: Container): Container {
  const out: Container = {
    ...c,
    imagePullPolicy: c.imagePullPolicy || DEFAULT_IMAGE_PULL_POLICY,
    ...(c.ports ? { ports: c.ports.map((p) => ({ ...p, protocol: p.protocol || DEFAULT_PROTOCOL })) } : {}),
  };
  const liveness = defaultProbe(c.livenessProbe);
  const readiness = defaultProbe(c.readinessProbe);
  return { ...out, ...(liveness ? { livenessProbe: liveness } : {}), ...(readiness ? { readinessProbe: readiness } : {}) };
}

export function defaultPodSpec(spec: PodSpec): PodSpec {
  return {
    ...spec,
    containers: (spec.containers ?? []).map(defaultContainer),
    ...(spec.initContainers ? { initContainers: spec.initContainers.map(defaultContainer) } : {}),
    restartPolicy: spec.restartPolicy || DEFAULT_RESTART_POLICY,
    terminationGracePeriodSeconds: spec.terminationGracePeriodSeconds ?? DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS,
    schedulerName: spec.schedulerName || DEFAULT_SCHEDULER_NAME,
  };
}

function defaultTemplate(template: PodTemplateSpec | undefined): PodTemplateSpec | undefined {
  if (template?.spec === undefined) return template;
  return { ...template, spec: defaultPodSpec(template.spec) };
}

export function defaultPod(pod: Pod): Pod {
  return pod.spec === undefined ? pod : { ...pod, spec: defaultPodSpec(pod.spec) };
}

export function defaultReplicaSet(rs: ReplicaSet): ReplicaSet {
  const spec = rs.spec ?? {};
  const template = defaultTemplate(spec.template);
  return { ...rs, spec: { ...spec, replicas: spec.replicas ?? DEFAULT_REPLICAS, ...(template ? { template } : {}) } };
}

export function defaultDeployment(d: Deployment): Deployment {
  const spec = d.spec ?? {};
  const template = defaultTemplate(spec.template);
  const type = spec.strategy?.type || 'RollingUpdate';
  // Recreate has no rolling parameters: defaulting them would make the object invalid.
  const strategy =
    type === 'RollingUpdate'
      ? {
          type,
          rollingUpdate: {
            maxSurge: spec.strategy?.rollingUpdate?.maxSurge ?? DEFAULT_MAX_SURGE,
            maxUnavailable: spec.strategy?.rollingUpdate?.maxUnavailable ?? DEFAULT_MAX_UNAVAILABLE,
          },
        }
      : { ...spec.strategy, type };
  return {
    ...d,
    spec: {
      ...spec,
      replicas: spec.replicas ?? DEFAULT_REPLICAS,
      strategy,
      revisionHistoryLimit: spec.revisionHistoryLimit ?? DEFAULT_REVISION_HISTORY_LIMIT,
      progressDeadlineSeconds: spec.progressDeadlineSeconds ?? DEFAULT_PROGRESS_DEADLINE_SECONDS,
      ...(template ? { template } : {}),
    },
  };
}

export function defaultService(svc: Service): Service {
  const spec = svc.spec ?? {};
  const type = spec.type || 'ClusterIP';
  return {
    ...svc,
    spec: {
      ...spec,
      type,
      ...(type === 'ExternalName' ? {} : { sessionAffinity: spec.sessionAffinity || 'None' }),
      ...(spec.ports
        ? { ports: spec.ports.map((p) => ({ ...p, protocol: p.protocol || DEFAULT_PROTOCOL, targetPort: p.targetPort ?? p.port })) }
        : {}),
    },
  };
}

export function defaultEndpoints(ep: Endpoints): Endpoints {
  if (ep.subsets === undefined) return ep;
  return { ...ep, subsets: ep.subsets.map((s) => (s.ports ? { ...s, ports: s.ports.map((p) => ({ ...p, protocol: p.protocol || DEFAULT_PROTOCOL })) } : s)) };
}

export function defaultNamespace(ns: Namespace): Namespace {
  return { ...ns, status: { ...ns.status, phase: ns.status?.phase || 'Active' } };
}

/** A node that reports capacity but not allocatable has all of it allocatable. */
export function defaultNode(node: Node): Node {
  const status = node.status;
  if (status?.capacity === undefined || status.allocatable !== undefined) return node;
  return { ...node, status: { ...status, allocatable: { ...status.capacity } } };
}

export function defaultSecret(secret: Secret): Secret {
  return { ...secret, type: secret.type || DEFAULT_SECRET_TYPE };
}
