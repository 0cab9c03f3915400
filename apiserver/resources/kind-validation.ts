// Per-kind validation of everything but ObjectMeta and PodSpec (see meta-validation.ts and
// pod-validation.ts). Each function takes the new object and, on update, the stored one.

import { isIP } from 'node:net';
import type {
  ConfigMap,
  Deployment,
  Endpoints,
  Event,
  IntOrString,
  LabelSelector,
  Lease,
  Namespace,
  Node,
  Pod,
  PodTemplateSpec,
  ReplicaSet,
  Secret,
  Service,
} from '../../proto/api/types.js';
import { type Violations, checkNonNegative, checkPort, checkPositive, duplicate, forbidden, immutable, invalid, required, sameJson } from './field-errors.js';
import { qualifiedNameProblems } from './names.js';
import { checkIntOrStringPort, portNameProblems, validatePodSpec, validatePodSpecUpdate, validatePodTemplate, validateResourceList } from './pod-validation.js';
import { labelSelectorMatcher, validateLabelSelector } from './selectors.js';

/** Kubernetes' limit on the data of one ConfigMap or Secret (keys and values). */
export const MAX_CONFIG_DATA_BYTES = 1024 * 1024;
export const MAX_CONFIG_KEY_LENGTH = 253;
export const NODE_PORT_MIN = 30000;
export const NODE_PORT_MAX = 32767;

const CONFIG_KEY = /^[-._a-zA-Z0-9]+$/;

export function validateNamespace(_ns: Namespace): Violations {
  return [];
}

export function validateNode(node: Node, old?: Node): Violations {
  const out: Violations = [];
  (node.spec?.taints ?? []).forEach((t, i) => {
    if (!t.key) out.push(required(`spec.taints[${i}].key`));
    else for (const p of qualifiedNameProblems(t.key)) out.push(invalid(`spec.taints[${i}].key`, t.key, p));
    if (!t.effect) out.push(required(`spec.taints[${i}].effect`));
  });
  validateResourceList(out, node.status?.capacity, 'status.capacity');
  validateResourceList(out, node.status?.allocatable, 'status.allocatable');
  if (old !== undefined) {
    // The node's pod network and cloud identity are fixed once assigned: pods already use them.
    if (old.spec?.podCIDR && node.spec?.podCIDR !== old.spec.podCIDR) out.push(forbidden('spec.podCIDR', 'podCIDR may not be changed once set'));
    if (old.spec?.providerID && node.spec?.providerID !== old.spec.providerID) out.push(forbidden('spec.providerID', 'providerID may not be changed once set'));
  }
  return out;
}

export function validatePod(pod: Pod, old?: Pod): Violations {
  const out: Violations = [];
  validatePodSpec(out, pod.spec, 'spec');
  if (old !== undefined) validatePodSpecUpdate(out, pod.spec, old.spec);
  return out;
}

function validateSelectorAndTemplate(
  out: Violations,
  selector: LabelSelector | undefined,
  template: PodTemplateSpec | undefined,
): void {
  if (selector === undefined) out.push(required('spec.selector'));
  else {
    out.push(...validateLabelSelector(selector, 'spec.selector'));
    if (Object.keys(selector.matchLabels ?? {}).length === 0 && (selector.matchExpressions ?? []).length === 0) {
      out.push(invalid('spec.selector', selector, 'empty selector is invalid for deployment or replica set'));
    } else if (!labelSelectorMatcher(selector).matches(template?.metadata?.labels ?? {})) {
      out.push(invalid('spec.template.metadata.labels', template?.metadata?.labels ?? {}, '`selector` does not match template `labels`'));
    }
  }
  validatePodTemplate(out, template, 'spec.template');
}

function validateSelectorUpdate(out: Violations, selector: LabelSelector | undefined, old: LabelSelector | undefined): void {
  // apps/v1 made selectors immutable: changing one would orphan the pods the old one selected.
  if (!sameJson(selector, old)) out.push(immutable('spec.selector', selector ?? null));
}

export function validateReplicaSet(rs: ReplicaSet, old?: ReplicaSet): Violations {
  const out: Violations = [];
  checkNonNegative(out, 'spec.replicas', rs.spec?.replicas);
  checkNonNegative(out, 'spec.minReadySeconds', rs.spec?.minReadySeconds);
  validateSelectorAndTemplate(out, rs.spec?.selector, rs.spec?.template);
  if (old !== undefined) validateSelectorUpdate(out, rs.spec?.selector, old.spec?.selector);
  return out;
}

/** maxSurge and maxUnavailable: a non-negative count or a percentage ("25%"). */
function checkCountOrPercent(out: Violations, field: string, value: IntOrString | undefined): void {
  if (value === undefined) return;
  if (typeof value === 'number') checkNonNegative(out, field, value);
  else if (!/^\d+%$/.test(value)) out.push(invalid(field, value, "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%')"));
  else if (Number(value.slice(0, -1)) > 100) out.push(invalid(field, value, 'must not be greater than 100%'));
}

function isZeroCountOrPercent(value: IntOrString | undefined): boolean {
  return value === 0 || value === '0%';
}

export function validateDeployment(d: Deployment, old?: Deployment): Violations {
  const out: Violations = [];
  const spec = d.spec;
  checkNonNegative(out, 'spec.replicas', spec?.replicas);
  checkNonNegative(out, 'spec.minReadySeconds', spec?.minReadySeconds);
  checkNonNegative(out, 'spec.revisionHistoryLimit', spec?.revisionHistoryLimit);
  checkPositive(out, 'spec.progressDeadlineSeconds', spec?.progressDeadlineSeconds);
  if (spec?.progressDeadlineSeconds !== undefined && spec.progressDeadlineSeconds <= (spec.minReadySeconds ?? 0)) {
    out.push(invalid('spec.progressDeadlineSeconds', spec.progressDeadlineSeconds, 'must be greater than minReadySeconds'));
  }
  validateSelectorAndTemplate(out, spec?.selector, spec?.template);
  const strategy = spec?.strategy;
  if (strategy?.type === 'Recreate' && strategy.rollingUpdate !== undefined) {
    out.push(forbidden('spec.strategy.rollingUpdate', 'may not be specified when strategy `type` is \'Recreate\''));
  }
  const rolling = strategy?.rollingUpdate;
  if (rolling !== undefined) {
    checkCountOrPercent(out, 'spec.strategy.rollingUpdate.maxSurge', rolling.maxSurge);
    checkCountOrPercent(out, 'spec.strategy.rollingUpdate.maxUnavailable', rolling.maxUnavailable);
    // Both zero would make a rollout that can neither add nor remove a pod.
    if (isZeroCountOrPercent(rolling.maxSurge) && isZeroCountOrPercent(rolling.maxUnavailable)) {
      out.push(invalid('spec.strategy.rollingUpdate.maxUnavailable', rolling.maxUnavailable, 'may not be 0 when `maxSurge` is 0'));
    }
  }
  if (old !== undefined) validateSelectorUpdate(out, spec?.selector, old.spec?.selector);
  return out;
}

export function validateService(svc: Service, old?: Service): Violations {
  const out: Violations = [];
  const spec = svc.spec ?? {};
  const type = spec.type ?? 'ClusterIP';
  const ports = spec.ports ?? [];
  if (type === 'ExternalName') {
    if (!spec.externalName) out.push(required('spec.externalName'));
  } else if (ports.length === 0 && spec.clusterIP !== 'None') {
    out.push(required('spec.ports'));
  }
  const names = new Set<string>();
  ports.forEach((port, i) => {
    const at = `spec.ports[${i}]`;
    if (ports.length > 1 && !port.name) out.push(required(`${at}.name`, 'must be specified when there is more than one port'));
    if (port.name) {
      for (const p of portNameProblems(port.name)) out.push(invalid(`${at}.name`, port.name, p));
      if (names.has(port.name)) out.push(duplicate(`${at}.name`, port.name));
      names.add(port.name);
    }
    if (port.port === undefined) out.push(required(`${at}.port`));
    else checkPort(out, `${at}.port`, port.port);
    checkIntOrStringPort(out, `${at}.targetPort`, port.targetPort);
    if (port.nodePort !== undefined && port.nodePort !== 0) {
      if (type !== 'NodePort' && type !== 'LoadBalancer') out.push(forbidden(`${at}.nodePort`, 'may not be used when `type` is ' + JSON.stringify(type)));
      else if (port.nodePort < NODE_PORT_MIN || port.nodePort > NODE_PORT_MAX) {
        out.push(invalid(`${at}.nodePort`, port.nodePort, `provided port is not in the valid range. The range of valid ports is ${NODE_PORT_MIN}-${NODE_PORT_MAX}`));
      }
    }
  });
  for (const [key, value] of Object.entries(spec.selector ?? {})) {
    for (const p of qualifiedNameProblems(key)) out.push(invalid('spec.selector', key, p));
    if (value.length > 63) out.push(invalid(`spec.selector[${key}]`, value, 'must be no more than 63 characters'));
  }
  if (spec.clusterIP && spec.clusterIP !== 'None' && isIP(spec.clusterIP) === 0) out.push(invalid('spec.clusterIP', spec.clusterIP, 'must be a valid IP address or "None"'));
  if (old !== undefined && old.spec?.clusterIP && spec.clusterIP !== old.spec.clusterIP && type !== 'ExternalName') {
    out.push(immutable('spec.clusterIP', spec.clusterIP ?? ''));
  }
  return out;
}

export function validateEndpoints(ep: Endpoints): Violations {
  const out: Violations = [];
  (ep.subsets ?? []).forEach((subset, i) => {
    const addresses = (list: typeof subset.addresses, name: string) =>
      (list ?? []).forEach((a, j) => {
        const at = `subsets[${i}].${name}[${j}].ip`;
        if (!a.ip) out.push(required(at));
        else if (isIP(a.ip) === 0) out.push(invalid(at, a.ip, 'must be a valid IP address'));
      });
    addresses(subset.addresses, 'addresses');
    addresses(subset.notReadyAddresses, 'notReadyAddresses');
    (subset.ports ?? []).forEach((p, j) => {
      if (p.port === undefined) out.push(required(`subsets[${i}].ports[${j}].port`));
      else checkPort(out, `subsets[${i}].ports[${j}].port`, p.port);
    });
  });
  return out;
}

function checkConfigKeys(out: Violations, keys: readonly string[], field: string): void {
  for (const key of keys) {
    if (key.length > MAX_CONFIG_KEY_LENGTH) out.push(invalid(`${field}[${key}]`, key, `must be no more than ${MAX_CONFIG_KEY_LENGTH} characters`));
    if (!CONFIG_KEY.test(key)) out.push(invalid(`${field}[${key}]`, key, "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"));
  }
}

function base64Length(value: string): number {
  return Buffer.from(value, 'base64').length;
}

function checkConfigSize(out: Violations, bytes: number, field: string): void {
  if (bytes > MAX_CONFIG_DATA_BYTES) out.push({ field, description: `Too long: must have at most ${MAX_CONFIG_DATA_BYTES} bytes` });
}

export function validateConfigMap(cm: ConfigMap, old?: ConfigMap): Violations {
  const out: Violations = [];
  const data = cm.data ?? {};
  const binary = cm.binaryData ?? {};
  checkConfigKeys(out, Object.keys(data), 'data');
  checkConfigKeys(out, Object.keys(binary), 'binaryData');
  for (const key of Object.keys(binary)) if (key in data) out.push(duplicate(`binaryData[${key}]`, key));
  let bytes = 0;
  for (const [k, v] of Object.entries(data)) bytes += k.length + Buffer.byteLength(v);
  for (const [k, v] of Object.entries(binary)) bytes += k.length + base64Length(v);
  checkConfigSize(out, bytes, '');
  if (old?.immutable) {
    if (!sameJson(cm.data, old.data)) out.push(forbidden('data', 'field is immutable when `immutable` is set'));
    if (!sameJson(cm.binaryData, old.binaryData)) out.push(forbidden('binaryData', 'field is immutable when `immutable` is set'));
    if (!cm.immutable) out.push(forbidden('immutable', 'field is immutable when `immutable` is set'));
  }
  return out;
}

export function validateSecret(secret: Secret, old?: Secret): Violations {
  const out: Violations = [];
  const data = secret.data ?? {};
  checkConfigKeys(out, Object.keys(data), 'data');
  let bytes = 0;
  for (const [k, v] of Object.entries(data)) bytes += k.length + base64Length(v);
  checkConfigSize(out, bytes, 'data');
  if (old !== undefined) {
    if ((secret.type ?? '') !== (old.type ?? '')) out.push(immutable('type', secret.type ?? ''));
    if (old.immutable) {
      if (!sameJson(secret.data, old.data)) out.push(forbidden('data', 'field is immutable when `immutable` is set'));
      if (!secret.immutable) out.push(forbidden('immutable', 'field is immutable when `immutable` is set'));
    }
  }
  return out;
}

export function validateLease(lease: Lease): Violations {
  const out: Violations = [];
  checkPositive(out, 'spec.leaseDurationSeconds', lease.spec?.leaseDurationSeconds);
  checkNonNegative(out, 'spec.leaseTransitions', lease.spec?.leaseTransitions);
  return out;
}

export function validateEvent(event: Event): Violations {
  const out: Violations = [];
  if (event.involvedObject === undefined) out.push(required('involvedObject'));
  else if (!event.involvedObject.kind) out.push(required('involvedObject.kind'));
  // An event about a namespaced object lives in that object's namespace, so RBAC on one covers the other.
  const ns = event.involvedObject?.namespace;
  if (ns && event.metadata.namespace && ns !== event.metadata.namespace) {
    out.push(invalid('involvedObject.namespace', ns, 'does not match event.namespace'));
  }
  checkNonNegative(out, 'count', event.count);
  return out;
}
