// Validation of what every object shares: ObjectMeta, and the update rules on it.

import type { ObjectMeta } from '../../proto/api/object.js';
import { type Violations, forbidden, immutable, invalid, required } from './field-errors.js';
import { dns1123LabelProblems, dns1123SubdomainProblems, qualifiedNameProblems, validateAnnotations, validateLabels } from './names.js';

/** Which rule a kind's object names follow. */
export type NameRule = 'dns1123-subdomain' | 'dns1123-label';

export function nameProblems(rule: NameRule, name: string): string[] {
  return rule === 'dns1123-label' ? dns1123LabelProblems(name) : dns1123SubdomainProblems(name);
}

export interface MetaRules {
  readonly nameRule: NameRule;
  readonly namespaced: boolean;
}

export function validateObjectMeta(out: Violations, meta: ObjectMeta, rules: MetaRules, field = 'metadata'): void {
  const name = meta.name ?? '';
  const generateName = meta.generateName ?? '';
  if (name === '') {
    if (generateName === '') out.push(required(`${field}.name`, 'name or generateName is required'));
  } else {
    for (const p of nameProblems(rules.nameRule, name)) out.push(invalid(`${field}.name`, name, p));
  }
  if (generateName !== '') {
    // The prefix may end in '-' (web-): only the rest must be a valid name, as in Kubernetes.
    const prefix = generateName.replace(/-+$/, '');
    if (prefix !== '') for (const p of nameProblems(rules.nameRule, prefix)) out.push(invalid(`${field}.generateName`, generateName, p));
  }
  const namespace = meta.namespace ?? '';
  if (rules.namespaced) {
    if (namespace === '') out.push(required(`${field}.namespace`));
    else for (const p of dns1123LabelProblems(namespace)) out.push(invalid(`${field}.namespace`, namespace, p));
  } else if (namespace !== '') {
    out.push(forbidden(`${field}.namespace`, 'not allowed on this type'));
  }
  out.push(...validateLabels(meta.labels, `${field}.labels`));
  out.push(...validateAnnotations(meta.annotations, `${field}.annotations`));
  (meta.finalizers ?? []).forEach((f, i) => {
    for (const p of qualifiedNameProblems(f)) out.push(invalid(`${field}.finalizers[${i}]`, f, p));
  });
  (meta.ownerReferences ?? []).forEach((ref, i) => {
    const at = `${field}.ownerReferences[${i}]`;
    if (!ref.apiVersion) out.push(required(`${at}.apiVersion`));
    if (!ref.kind) out.push(required(`${at}.kind`));
    if (!ref.name) out.push(required(`${at}.name`));
    if (!ref.uid) out.push(required(`${at}.uid`));
  });
  const controllers = (meta.ownerReferences ?? []).filter((ref) => ref.controller === true).length;
  if (controllers > 1) out.push(invalid(`${field}.ownerReferences`, controllers, 'Only one reference can have Controller set to true'));
  if (meta.generation !== undefined && meta.generation < 0) out.push(invalid(`${field}.generation`, meta.generation, 'must be greater than or equal to 0'));
  if (meta.deletionGracePeriodSeconds !== undefined && meta.deletionGracePeriodSeconds < 0) {
    out.push(invalid(`${field}.deletionGracePeriodSeconds`, meta.deletionGracePeriodSeconds, 'must be greater than or equal to 0'));
  }
}

/** Identity fields cannot change: the object would be a different object. */
export function validateObjectMetaUpdate(out: Violations, meta: ObjectMeta, old: ObjectMeta): void {
  if ((meta.name ?? '') !== (old.name ?? '')) out.push(immutable('metadata.name', meta.name ?? ''));
  if ((meta.namespace ?? '') !== (old.namespace ?? '')) out.push(immutable('metadata.namespace', meta.namespace ?? ''));
  if (old.uid && meta.uid !== old.uid) out.push(immutable('metadata.uid', meta.uid ?? ''));
  if (old.creationTimestamp && meta.creationTimestamp !== old.creationTimestamp) out.push(immutable('metadata.creationTimestamp', meta.creationTimestamp ?? ''));
}
