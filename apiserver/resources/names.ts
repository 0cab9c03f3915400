// Kubernetes' rules for object names, label keys and values, and annotations, with Kubernetes'
// own messages: users search for those words, and the CLI prints them as they are.

import type { FieldViolation } from '../../proto/api/object.js';

export const DNS1123_SUBDOMAIN_MAX_LENGTH = 253;
export const DNS1123_LABEL_MAX_LENGTH = 63;
/** The name part of a label key or annotation key (after the optional "prefix/"). */
export const QUALIFIED_NAME_MAX_LENGTH = 63;
export const LABEL_VALUE_MAX_LENGTH = 63;
/** The sum of all annotation keys and values of one object, as in Kubernetes (TotalAnnotationSizeLimitB). */
export const ANNOTATIONS_MAX_TOTAL_BYTES = 256 * 1024;
export const GENERATED_NAME_SUFFIX_LENGTH = 5;
/** Kubernetes truncates the generateName prefix so that prefix + suffix is a valid DNS label. */
export const GENERATED_NAME_MAX_PREFIX_LENGTH = DNS1123_LABEL_MAX_LENGTH - GENERATED_NAME_SUFFIX_LENGTH;
/** Kubernetes' alphabet for generated suffixes: no vowels (no accidental words) and no 0/1/3 (look like o/l/e). */
export const GENERATED_NAME_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

export const DNS1123_LABEL_MESSAGE =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character";
export const DNS1123_SUBDOMAIN_MESSAGE =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
export const QUALIFIED_NAME_MESSAGE =
  "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
export const LABEL_VALUE_MESSAGE =
  "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";

function maxLength(max: number): string {
  return `must be no more than ${max} characters`;
}

/** Problems with a DNS-1123 label (namespaces, services, container names); empty when valid. */
export function dns1123LabelProblems(value: string): string[] {
  const problems: string[] = [];
  if (value.length > DNS1123_LABEL_MAX_LENGTH) problems.push(maxLength(DNS1123_LABEL_MAX_LENGTH));
  if (!DNS1123_LABEL.test(value)) problems.push(DNS1123_LABEL_MESSAGE);
  return problems;
}

/** Problems with a DNS-1123 subdomain (most object names); empty when valid. */
export function dns1123SubdomainProblems(value: string): string[] {
  const problems: string[] = [];
  if (value.length > DNS1123_SUBDOMAIN_MAX_LENGTH) problems.push(maxLength(DNS1123_SUBDOMAIN_MAX_LENGTH));
  if (!DNS1123_SUBDOMAIN.test(value)) problems.push(DNS1123_SUBDOMAIN_MESSAGE);
  return problems;
}

/** Problems with a label or annotation key: [DNS-subdomain prefix "/"] name; empty when valid. */
export function qualifiedNameProblems(value: string): string[] {
  const parts = value.split('/');
  let name: string;
  const problems: string[] = [];
  if (parts.length === 1) {
    name = parts[0] ?? '';
  } else if (parts.length === 2) {
    const prefix = parts[0] ?? '';
    name = parts[1] ?? '';
    if (prefix.length === 0) problems.push('prefix part must be non-empty');
    else problems.push(...dns1123SubdomainProblems(prefix).map((p) => `prefix part ${p}`));
  } else {
    return [`a qualified name ${QUALIFIED_NAME_MESSAGE.replace('name part ', '')} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')`];
  }
  if (name.length === 0) problems.push('name part must be non-empty');
  else {
    if (name.length > QUALIFIED_NAME_MAX_LENGTH) problems.push(`name part ${maxLength(QUALIFIED_NAME_MAX_LENGTH)}`);
    if (!QUALIFIED_NAME.test(name)) problems.push(QUALIFIED_NAME_MESSAGE);
  }
  return problems;
}

export function labelValueProblems(value: string): string[] {
  const problems: string[] = [];
  if (value.length > LABEL_VALUE_MAX_LENGTH) problems.push(maxLength(LABEL_VALUE_MAX_LENGTH));
  if (!LABEL_VALUE.test(value)) problems.push(LABEL_VALUE_MESSAGE);
  return problems;
}

function quote(value: string): string {
  return JSON.stringify(value);
}

/** Violations of the label rules, reported at `${field}[key]` as Kubernetes does. */
export function validateLabels(labels: Readonly<Record<string, string>> | undefined, field: string): FieldViolation[] {
  const violations: FieldViolation[] = [];
  for (const [key, value] of Object.entries(labels ?? {})) {
    for (const p of qualifiedNameProblems(key)) violations.push({ field, description: `Invalid value: ${quote(key)}: ${p}` });
    for (const p of labelValueProblems(value)) violations.push({ field: `${field}[${key}]`, description: `Invalid value: ${quote(value)}: ${p}` });
  }
  return violations;
}

export function validateAnnotations(annotations: Readonly<Record<string, string>> | undefined, field: string): FieldViolation[] {
  const violations: FieldViolation[] = [];
  let totalBytes = 0;
  for (const [key, value] of Object.entries(annotations ?? {})) {
    for (const p of qualifiedNameProblems(key.toLowerCase())) violations.push({ field, description: `Invalid value: ${quote(key)}: ${p}` });
    totalBytes += Buffer.byteLength(key) + Buffer.byteLength(value);
  }
  if (totalBytes > ANNOTATIONS_MAX_TOTAL_BYTES) {
    violations.push({ field, description: `Too long: must have at most ${ANNOTATIONS_MAX_TOTAL_BYTES} bytes` });
  }
  return violations;
}

/** A source of uniform numbers in [0, 1), injected so tests can pin generated names. */
export type RandomSource = () => number;

/** Kubernetes' names.SimpleNameGenerator: the prefix (truncated) and 5 random characters. */
export function generateName(prefix: string, random: RandomSource): string {
  const base = prefix.length > GENERATED_NAME_MAX_PREFIX_LENGTH ? prefix.slice(0, GENERATED_NAME_MAX_PREFIX_LENGTH) : prefix;
  let suffix = '';
  for (let i = 0; i < GENERATED_NAME_SUFFIX_LENGTH; i++) {
    const index = Math.min(GENERATED_NAME_ALPHABET.length - 1, Math.floor(random() * GENERATED_NAME_ALPHABET.length));
    suffix += GENERATED_NAME_ALPHABET[index] ?? '';
  }
  return base + suffix;
}
