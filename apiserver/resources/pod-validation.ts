// Validation of PodSpec (for Pods and for the pod templates of ReplicaSets and Deployments), and
// the Pod update rules: a running pod's spec is what the node agent acts on, so only the fields a
// node agent can apply in place may change (images, activeDeadlineSeconds, added tolerations).

import type {
  Container,
  IntOrString,
  PodAffinity,
  PodSpec,
  PodTemplateSpec,
  Probe,
  ResourceRequirements,
  StringMap,
  Toleration,
} from '../../proto/api/types.js';
import { type Violations, checkNonNegative, checkPort, checkPositive, duplicate, forbidden, invalid, required, sameJson } from './field-errors.js';
import { dns1123LabelProblems, dns1123SubdomainProblems, qualifiedNameProblems, validateLabels } from './names.js';
import { parseQuantity, quantityProblem } from './quantity.js';
import { validateLabelSelector, validateNodeSelectorRequirement } from './selectors.js';

/** Kubernetes' IANA_SVC_NAME: named ports are at most 15 characters. */
export const MAX_PORT_NAME_LENGTH = 15;
export const MIN_AFFINITY_WEIGHT = 1;
export const MAX_AFFINITY_WEIGHT = 100;

const PORT_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const ENV_VAR_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;

export function portNameProblems(name: string): string[] {
  const problems: string[] = [];
  if (name.length > MAX_PORT_NAME_LENGTH) problems.push(`must be no more than ${MAX_PORT_NAME_LENGTH} characters`);
  if (!PORT_NAME.test(name)) problems.push("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)");
  else if (name.includes('--')) problems.push('must not contain consecutive hyphens');
  if (!/[a-z]/.test(name)) problems.push('must contain at least one letter (a-z)');
  return problems;
}

/** A port given as a number or as the name of a container port. */
export function checkIntOrStringPort(out: Violations, field: string, port: IntOrString | undefined): void {
  if (port === undefined) return;
  if (typeof port === 'number') checkPort(out, field, port);
  else for (const p of portNameProblems(port)) out.push(invalid(field, port, p));
}

/** Each resource: a valid, non-negative quantity; and for each resource in both, request ≤ limit. */
export function validateResourceList(out: Violations, resources: StringMap | undefined, field: string): void {
  for (const [name, value] of Object.entries(resources ?? {})) {
    const at = `${field}[${name}]`;
    for (const p of qualifiedNameProblems(name)) out.push(invalid(field, name, p));
    const problem = quantityProblem(value);
    if (problem !== undefined) out.push(invalid(at, value, problem.message));
    else if (parseQuantity(value).milli < 0n) out.push(invalid(at, value, 'must be greater than or equal to 0'));
  }
}

export function validateResourceRequirements(out: Violations, resources: ResourceRequirements | undefined, field: string): void {
  if (resources === undefined) return;
  validateResourceList(out, resources.requests, `${field}.requests`);
  validateResourceList(out, resources.limits, `${field}.limits`);
  for (const [name, request] of Object.entries(resources.requests ?? {})) {
    const limit = resources.limits?.[name];
    if (limit === undefined || quantityProblem(request) || quantityProblem(limit)) continue;
    if (parseQuantity(request).milli > parseQuantity(limit).milli) {
      out.push(invalid(`${field}.requests[${name}]`, request, `must be less than or equal to ${name} limit of ${limit}`));
    }
  }
}

function validateProbe(out: Violations, probe: Probe | undefined, field: string): void {
  if (probe === undefined) return;
  const handlers = [probe.exec, probe.tcpSocket, probe.httpGet].filter((h) => h !== undefined).length;
  if (handlers === 0) out.push(required(field, 'must specify a handler type'));
  if (handlers > 1) out.push(forbidden(field, 'may not specify more than 1 handler type'));
  if (probe.tcpSocket) checkIntOrStringPort(out, `${field}.tcpSocket.port`, probe.tcpSocket.port);
  if (probe.httpGet) checkIntOrStringPort(out, `${field}.httpGet.port`, probe.httpGet.port);
  if (probe.exec && (probe.exec.command ?? []).length === 0) out.push(required(`${field}.exec.command`));
  checkNonNegative(out, `${field}.initialDelaySeconds`, probe.initialDelaySeconds);
  checkPositive(out, `${field}.periodSeconds`, probe.periodSeconds);
  checkPositive(out, `${field}.timeoutSeconds`, probe.timeoutSeconds);
  checkPositive(out, `${field}.successThreshold`, probe.successThreshold);
  checkPositive(out, `${field}.failureThreshold`, probe.failureThreshold);
}

function validateContainer(out: Violations, c: Container, field: string): void {
  if (!c.name) out.push(required(`${field}.name`));
  else for (const p of dns1123LabelProblems(c.name)) out.push(invalid(`${field}.name`, c.name, p));
  if (!c.image) out.push(required(`${field}.image`));
  const portNames = new Set<string>();
  (c.ports ?? []).forEach((port, i) => {
    const at = `${field}.ports[${i}]`;
    if (port.containerPort === undefined) out.push(required(`${at}.containerPort`));
    else checkPort(out, `${at}.containerPort`, port.containerPort);
    checkPort(out, `${at}.hostPort`, port.hostPort, true);
    if (port.name) {
      for (const p of portNameProblems(port.name)) out.push(invalid(`${at}.name`, port.name, p));
      if (portNames.has(port.name)) out.push(duplicate(`${at}.name`, port.name));
      portNames.add(port.name);
    }
  });
  (c.env ?? []).forEach((env, i) => {
    if (!env.name) out.push(required(`${field}.env[${i}].name`));
    else if (!ENV_VAR_NAME.test(env.name)) {
      out.push(invalid(`${field}.env[${i}].name`, env.name, "a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit"));
    }
  });
  validateResourceRequirements(out, c.resources, `${field}.resources`);
  validateProbe(out, c.livenessProbe, `${field}.livenessProbe`);
  validateProbe(out, c.readinessProbe, `${field}.readinessProbe`);
  if (c.livenessProbe?.successThreshold !== undefined && c.livenessProbe.successThreshold !== 1) {
    out.push(invalid(`${field}.livenessProbe.successThreshold`, c.livenessProbe.successThreshold, 'must be 1'));
  }
}

function validateToleration(out: Violations, t: Toleration, field: string): void {
  if (t.key) for (const p of qualifiedNameProblems(t.key)) out.push(invalid(`${field}.key`, t.key, p));
  if (!t.key && t.operator !== 'Exists') out.push(invalid(`${field}.operator`, t.operator ?? '', 'operator must be Exists when `key` is empty, which means "match all values and all keys"'));
  if (t.operator === 'Exists' && t.value) out.push(invalid(`${field}.operator`, t.operator, 'value must be empty when `operator` is \'Exists\''));
  if (t.tolerationSeconds !== undefined && t.effect !== 'NoExecute') out.push(invalid(`${field}.effect`, t.effect ?? '', 'effect must be \'NoExecute\' when `tolerationSeconds` is set'));
}

function validatePodAffinity(out: Violations, affinity: PodAffinity | undefined, field: string): void {
  (affinity?.requiredDuringSchedulingIgnoredDuringExecution ?? []).forEach((term, i) => {
    const at = `${field}.requiredDuringSchedulingIgnoredDuringExecution[${i}]`;
    if (!term.topologyKey) out.push(required(`${at}.topologyKey`, 'can not be empty'));
    out.push(...validateLabelSelector(term.labelSelector, `${at}.labelSelector`));
  });
  (affinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []).forEach((weighted, i) => {
    const at = `${field}.preferredDuringSchedulingIgnoredDuringExecution[${i}]`;
    checkWeight(out, `${at}.weight`, weighted.weight);
    if (!weighted.podAffinityTerm) out.push(required(`${at}.podAffinityTerm`));
    else if (!weighted.podAffinityTerm.topologyKey) out.push(required(`${at}.podAffinityTerm.topologyKey`, 'can not be empty'));
  });
}

function checkWeight(out: Violations, field: string, weight: number | undefined): void {
  if (weight === undefined || weight < MIN_AFFINITY_WEIGHT || weight > MAX_AFFINITY_WEIGHT) {
    out.push(invalid(field, weight ?? 0, `must be in the range ${MIN_AFFINITY_WEIGHT}-${MAX_AFFINITY_WEIGHT}`));
  }
}

export function validatePodSpec(out: Violations, spec: PodSpec | undefined, field: string): void {
  if (spec === undefined) {
    out.push(required(field));
    return;
  }
  if ((spec.containers ?? []).length === 0) out.push(required(`${field}.containers`));
  const names = new Set<string>();
  const checkUnique = (c: Container, at: string) => {
    if (!c.name) return;
    if (names.has(c.name)) out.push(duplicate(`${at}.name`, c.name));
    names.add(c.name);
  };
  (spec.containers ?? []).forEach((c, i) => {
    validateContainer(out, c, `${field}.containers[${i}]`);
    checkUnique(c, `${field}.containers[${i}]`);
  });
  (spec.initContainers ?? []).forEach((c, i) => {
    validateContainer(out, c, `${field}.initContainers[${i}]`);
    checkUnique(c, `${field}.initContainers[${i}]`);
    if (c.livenessProbe || c.readinessProbe) out.push(forbidden(`${field}.initContainers[${i}]`, 'init containers may not have probes'));
  });
  out.push(...validateLabels(spec.nodeSelector, `${field}.nodeSelector`));
  (spec.tolerations ?? []).forEach((t, i) => validateToleration(out, t, `${field}.tolerations[${i}]`));
  const nodeAffinity = spec.affinity?.nodeAffinity;
  const required_ = nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution;
  if (required_ !== undefined) {
    const at = `${field}.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution`;
    if (required_.nodeSelectorTerms.length === 0) out.push(required(`${at}.nodeSelectorTerms`, 'must have at least one node selector term'));
    required_.nodeSelectorTerms.forEach((term, i) => {
      (term.matchExpressions ?? []).forEach((r, j) => out.push(...validateNodeSelectorRequirement(r, `${at}.nodeSelectorTerms[${i}].matchExpressions[${j}]`)));
      (term.matchFields ?? []).forEach((r, j) => {
        const path = `${at}.nodeSelectorTerms[${i}].matchFields[${j}]`;
        if (r.key !== 'metadata.name') out.push(invalid(`${path}.key`, r.key, 'not a valid field selector key; supported: metadata.name'));
        else if ((r.operator !== 'In' && r.operator !== 'NotIn') || r.values?.length !== 1) out.push(invalid(path, r.values ?? [], "must be 'In' or 'NotIn' with exactly one value"));
      });
    });
  }
  (nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []).forEach((p, i) => {
    const at = `${field}.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[${i}]`;
    checkWeight(out, `${at}.weight`, p.weight);
    (p.preference?.matchExpressions ?? []).forEach((r, j) => out.push(...validateNodeSelectorRequirement(r, `${at}.preference.matchExpressions[${j}]`)));
  });
  validatePodAffinity(out, spec.affinity?.podAffinity, `${field}.affinity.podAffinity`);
  validatePodAffinity(out, spec.affinity?.podAntiAffinity, `${field}.affinity.podAntiAffinity`);
  if (spec.nodeName) for (const p of dns1123SubdomainProblems(spec.nodeName)) out.push(invalid(`${field}.nodeName`, spec.nodeName, p));
  if (spec.hostname) for (const p of dns1123LabelProblems(spec.hostname)) out.push(invalid(`${field}.hostname`, spec.hostname, p));
  if (spec.serviceAccountName) for (const p of dns1123SubdomainProblems(spec.serviceAccountName)) out.push(invalid(`${field}.serviceAccountName`, spec.serviceAccountName, p));
  if (spec.schedulerName) for (const p of dns1123SubdomainProblems(spec.schedulerName)) out.push(invalid(`${field}.schedulerName`, spec.schedulerName, p));
  checkNonNegative(out, `${field}.terminationGracePeriodSeconds`, spec.terminationGracePeriodSeconds);
  checkPositive(out, `${field}.activeDeadlineSeconds`, spec.activeDeadlineSeconds);
}

/** A pod template of a controller: its labels must match the controller's selector, and it must restart Always. */
export function validatePodTemplate(out: Violations, template: PodTemplateSpec | undefined, field: string): void {
  if (template === undefined) {
    out.push(required(field));
    return;
  }
  out.push(...validateLabels(template.metadata?.labels, `${field}.metadata.labels`));
  validatePodSpec(out, template.spec, `${field}.spec`);
  const policy = template.spec?.restartPolicy;
  if (policy !== undefined && policy !== 'Always') out.push({ field: `${field}.spec.restartPolicy`, description: `Unsupported value: ${JSON.stringify(policy)}: supported values: "Always"` });
}

const POD_UPDATE_MESSAGE =
  'pod updates may not change fields other than `spec.containers[*].image`, `spec.initContainers[*].image`, `spec.activeDeadlineSeconds`, `spec.tolerations` (only additions to existing tolerations)';

function withImagesOf(containers: readonly Container[] | undefined, images: readonly Container[] | undefined): Container[] | undefined {
  return containers?.map((c, i) => {
    const { image: _ignored, ...rest } = c;
    const image = images?.[i]?.image;
    return image === undefined ? rest : { ...rest, image };
  });
}

/**
 * A pod's spec after create. Specific violations for what users try most (renaming containers,
 * changing commands, setting nodeName instead of binding), one general one for the rest.
 */
export function validatePodSpecUpdate(out: Violations, spec: PodSpec | undefined, old: PodSpec | undefined): void {
  if (spec === undefined || old === undefined) return;
  const before = out.length;
  if ((spec.nodeName ?? '') !== (old.nodeName ?? '')) {
    out.push(forbidden('spec.nodeName', 'may only be set by binding the pod (the pods/binding subresource), and never changed'));
  }
  const names = (cs: readonly Container[] | undefined) => (cs ?? []).map((c) => c.name);
  for (const list of ['containers', 'initContainers'] as const) {
    if (!sameJson(names(spec[list]), names(old[list]))) {
      out.push(forbidden(`spec.${list}`, 'containers may not be added, removed or renamed'));
      continue;
    }
    (spec[list] ?? []).forEach((c, i) => {
      const was = old[list]?.[i];
      if (!sameJson(c.command, was?.command)) out.push(invalid(`spec.${list}[${i}].command`, c.command ?? [], 'field is immutable'));
      if (!sameJson(c.args, was?.args)) out.push(invalid(`spec.${list}[${i}].args`, c.args ?? [], 'field is immutable'));
    });
  }
  const oldTolerations = old.tolerations ?? [];
  const newTolerations = spec.tolerations ?? [];
  const onlyAdded = oldTolerations.every((t) => newTolerations.some((n) => sameJson(n, t)));
  if (!onlyAdded) out.push(forbidden('spec.tolerations', 'existing toleration can not be modified except its tolerationSeconds'));
  if (old.activeDeadlineSeconds !== undefined && (spec.activeDeadlineSeconds === undefined || spec.activeDeadlineSeconds > old.activeDeadlineSeconds)) {
    out.push(invalid('spec.activeDeadlineSeconds', spec.activeDeadlineSeconds ?? null, 'must be less than or equal to the previous value'));
  }
  if (out.length > before) return;
  // Everything else: compare with the mutable fields carried over from the new spec.
  const comparable: PodSpec = {
    ...spec,
    containers: withImagesOf(spec.containers, old.containers) ?? [],
    initContainers: withImagesOf(spec.initContainers, old.initContainers),
    activeDeadlineSeconds: old.activeDeadlineSeconds,
    tolerations: old.tolerations,
  };
  if (!sameJson(comparable, old)) out.push(forbidden('spec', POD_UPDATE_MESSAGE));
}
