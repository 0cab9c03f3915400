// Label selectors (string syntax and the LabelSelector message), field selectors, and node
// selector terms. All compile to matchers with the same shape, so list, watch, the controllers'
// informers and the scheduler share one semantics, Kubernetes' (apimachinery/pkg/labels).

import type { FieldViolation } from '../../proto/api/object.js';
import type { LabelSelector, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm } from '../../proto/api/types.js';
import { labelValueProblems, qualifiedNameProblems } from './names.js';

/** A selector string longer than this is refused before parsing (it arrives in a URL query). */
export const MAX_SELECTOR_LENGTH = 16 * 1024;

export type Labels = Readonly<Record<string, string>>;

export class SelectorParseError extends Error {
  override readonly name = 'SelectorParseError';
  constructor(readonly selector: string, readonly position: number, reason: string) {
    super(`unable to parse selector ${JSON.stringify(selector)} at position ${position}: ${reason}`);
  }
}

/** A field selector names a field the kind does not offer for selection. */
export class UnsupportedFieldError extends Error {
  override readonly name = 'UnsupportedFieldError';
  constructor(readonly field: string, readonly kind: string | undefined, readonly supported: readonly string[]) {
    super(`field label not supported${kind ? ` for ${kind}` : ''}: ${field} (supported: ${supported.join(', ')})`);
  }
}

export type RequirementOperator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist' | 'Gt' | 'Lt';

export interface Requirement {
  readonly key: string;
  readonly operator: RequirementOperator;
  readonly values: readonly string[];
}

export interface LabelMatcher {
  /** All must hold (AND). Empty: matches everything. */
  readonly requirements: readonly Requirement[];
  /** false only for the selector that matches nothing (a missing LabelSelector, as in Kubernetes). */
  readonly matchesAnything: boolean;
  matches(labels: Labels | undefined): boolean;
  /** Labels every match has with exactly this value (`a=b`, `a in (b)`): what an index can narrow on. */
  requiredEquals(): ReadonlyMap<string, string>;
  toString(): string;
}

function integerOf(value: string): bigint | undefined {
  return /^[+-]?\d+$/.test(value) ? BigInt(value) : undefined;
}

export function requirementMatches(requirement: Requirement, labels: Labels | undefined): boolean {
  const has = labels !== undefined && Object.prototype.hasOwnProperty.call(labels, requirement.key);
  const value = has ? labels[requirement.key] : undefined;
  switch (requirement.operator) {
    case 'In':
      return value !== undefined && requirement.values.includes(value);
    case 'NotIn':
      return value === undefined || !requirement.values.includes(value);
    case 'Exists':
      return value !== undefined;
    case 'DoesNotExist':
      return value === undefined;
    case 'Gt':
    case 'Lt': {
      // Kubernetes: a missing label, a non-integer label, or a malformed bound never matches.
      if (value === undefined || requirement.values.length !== 1) return false;
      const actual = integerOf(value);
      const bound = integerOf(requirement.values[0] ?? '');
      if (actual === undefined || bound === undefined) return false;
      return requirement.operator === 'Gt' ? actual > bound : actual < bound;
    }
  }
}

function requirementText(r: Requirement): string {
  switch (r.operator) {
    case 'Exists':
      return r.key;
    case 'DoesNotExist':
      return `!${r.key}`;
    case 'In':
      return r.values.length === 1 ? `${r.key}=${r.values[0]}` : `${r.key} in (${r.values.join(',')})`;
    case 'NotIn':
      return r.values.length === 1 ? `${r.key}!=${r.values[0]}` : `${r.key} notin (${r.values.join(',')})`;
    case 'Gt':
      return `${r.key}>${r.values[0] ?? ''}`;
    case 'Lt':
      return `${r.key}<${r.values[0] ?? ''}`;
  }
}

function matcherOf(requirements: readonly Requirement[]): LabelMatcher {
  return {
    requirements,
    matchesAnything: true,
    matches: (labels) => requirements.every((r) => requirementMatches(r, labels)),
    requiredEquals: () => {
      const pinned = new Map<string, string>();
      for (const r of requirements) {
        const only = r.values[0];
        if (r.operator === 'In' && r.values.length === 1 && only !== undefined) pinned.set(r.key, only);
      }
      return pinned;
    },
    toString: () => requirements.map(requirementText).join(','),
  };
}

export const EVERYTHING: LabelMatcher = matcherOf([]);

export const NOTHING: LabelMatcher = {
  requirements: [],
  matchesAnything: false,
  matches: () => false,
  requiredEquals: () => new Map(),
  toString: () => '<none>',
};

// ---- the string syntax ----

type Token =
  | { readonly type: 'identifier'; readonly text: string; readonly position: number }
  | { readonly type: '=' | '==' | '!=' | '!' | '(' | ')' | ',' | 'end'; readonly position: number };

const SPECIAL = new Set(['=', '!', '(', ')', ',', ' ', '\t', '\n', '\r']);

function tokenize(selector: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < selector.length) {
    const c = selector[i] ?? '';
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
    } else if (c === '=' && selector[i + 1] === '=') {
      tokens.push({ type: '==', position: i });
      i += 2;
    } else if (c === '!' && selector[i + 1] === '=') {
      tokens.push({ type: '!=', position: i });
      i += 2;
    } else if (c === '=' || c === '!' || c === '(' || c === ')' || c === ',') {
      tokens.push({ type: c, position: i });
      i++;
    } else {
      const start = i;
      while (i < selector.length && !SPECIAL.has(selector[i] ?? '')) i++;
      tokens.push({ type: 'identifier', text: selector.slice(start, i), position: start });
    }
  }
  tokens.push({ type: 'end', position: selector.length });
  return tokens;
}

function describeToken(token: Token): string {
  if (token.type === 'identifier') return JSON.stringify(token.text);
  return token.type === 'end' ? 'the end' : `"${token.type}"`;
}

/**
 * Parses Kubernetes' label selector syntax: comma-joined requirements `a=b`, `a==b`, `a!=b`,
 * `a in (x,y)`, `a notin (x)`, `a`, `!a`. The empty string selects everything.
 */
export function parseLabelSelector(selector: string): LabelMatcher {
  if (selector.length > MAX_SELECTOR_LENGTH) throw new SelectorParseError(selector.slice(0, 64), 0, `longer than ${MAX_SELECTOR_LENGTH} characters`);
  const tokens = tokenize(selector);
  let at = 0;
  const peek = (): Token => tokens[at] ?? { type: 'end', position: selector.length };
  const next = (): Token => {
    const token = peek();
    at++;
    return token;
  };
  const fail = (token: Token, expected: string): never => {
    throw new SelectorParseError(selector, token.position, `expected ${expected}, found ${describeToken(token)}`);
  };
  const key = (): string => {
    const token = next();
    if (token.type !== 'identifier') return fail(token, 'a label key');
    const problems = qualifiedNameProblems(token.text);
    if (problems.length > 0) throw new SelectorParseError(selector, token.position, `invalid label key ${JSON.stringify(token.text)}: ${problems.join('; ')}`);
    return token.text;
  };
  const value = (): string => {
    const token = peek();
    // `a=` selects the empty value, as in Kubernetes.
    if (token.type !== 'identifier') return '';
    at++;
    const problems = labelValueProblems(token.text);
    if (problems.length > 0) throw new SelectorParseError(selector, token.position, `invalid label value ${JSON.stringify(token.text)}: ${problems.join('; ')}`);
    return token.text;
  };
  const valueSet = (): string[] => {
    const open = next();
    if (open.type !== '(') fail(open, '"("');
    const values: string[] = [];
    for (;;) {
      values.push(value());
      const token = next();
      if (token.type === ')') return values;
      if (token.type !== ',') fail(token, '"," or ")"');
    }
  };

  const requirements: Requirement[] = [];
  if (peek().type === 'end') return EVERYTHING;
  for (;;) {
    if (peek().type === '!') {
      next();
      requirements.push({ key: key(), operator: 'DoesNotExist', values: [] });
    } else {
      const k = key();
      const op = peek();
      if (op.type === '=' || op.type === '==') {
        next();
        requirements.push({ key: k, operator: 'In', values: [value()] });
      } else if (op.type === '!=') {
        next();
        requirements.push({ key: k, operator: 'NotIn', values: [value()] });
      } else if (op.type === 'identifier' && (op.text === 'in' || op.text === 'notin')) {
        next();
        requirements.push({ key: k, operator: op.text === 'in' ? 'In' : 'NotIn', values: valueSet() });
      } else if (op.type === ',' || op.type === 'end') {
        requirements.push({ key: k, operator: 'Exists', values: [] });
      } else {
        fail(op, '"=", "==", "!=", "in", "notin", "," or the end');
      }
    }
    const separator = next();
    if (separator.type === 'end') break;
    if (separator.type !== ',') fail(separator, '"," or the end');
  }
  return matcherOf(requirements);
}

// ---- the LabelSelector message ----

/**
 * The matcher of a LabelSelector message. As in Kubernetes, a missing selector matches nothing and
 * an empty one ({}) matches everything. Validate with validateLabelSelector first: an In with no
 * values here simply matches nothing.
 */
export function labelSelectorMatcher(selector: LabelSelector | undefined): LabelMatcher {
  if (selector === undefined) return NOTHING;
  const requirements: Requirement[] = Object.entries(selector.matchLabels ?? {}).map(([key, v]) => ({ key, operator: 'In', values: [v] }));
  for (const e of selector.matchExpressions ?? []) requirements.push({ key: e.key, operator: e.operator, values: e.values ?? [] });
  return matcherOf(requirements);
}

export function validateLabelSelector(selector: LabelSelector | undefined, field: string): FieldViolation[] {
  const violations: FieldViolation[] = [];
  if (selector === undefined) return violations;
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    for (const p of qualifiedNameProblems(key)) violations.push({ field: `${field}.matchLabels`, description: `Invalid value: ${JSON.stringify(key)}: ${p}` });
    for (const p of labelValueProblems(value)) violations.push({ field: `${field}.matchLabels[${key}]`, description: `Invalid value: ${JSON.stringify(value)}: ${p}` });
  }
  (selector.matchExpressions ?? []).forEach((e, i) => {
    const at = `${field}.matchExpressions[${i}]`;
    for (const p of qualifiedNameProblems(e.key)) violations.push({ field: `${at}.key`, description: `Invalid value: ${JSON.stringify(e.key)}: ${p}` });
    const count = e.values?.length ?? 0;
    if ((e.operator === 'In' || e.operator === 'NotIn') && count === 0) {
      violations.push({ field: `${at}.values`, description: 'Required value: must be specified when `operator` is \'In\' or \'NotIn\'' });
    }
    if ((e.operator === 'Exists' || e.operator === 'DoesNotExist') && count > 0) {
      violations.push({ field: `${at}.values`, description: 'Forbidden: may not be specified when `operator` is \'Exists\' or \'DoesNotExist\'' });
    }
  });
  return violations;
}

// ---- field selectors ----

export interface FieldRequirement {
  readonly field: string;
  readonly operator: '=' | '!=';
  readonly value: string;
}

export interface FieldMatcher {
  readonly requirements: readonly FieldRequirement[];
  /** `fields` is what the kind's selectableFields returns; a field it lacks compares as "". */
  matches(fields: Readonly<Record<string, string>>): boolean;
  /** Fields every match has with exactly this value (`spec.nodeName=n1`). */
  requiredEquals(): ReadonlyMap<string, string>;
}

/** Splits on unescaped `sep`; Kubernetes escapes `\`, `,` and `=` in field selector values with `\`. */
function splitUnescaped(text: string, sep: string): string[] {
  const parts: string[] = [];
  let current = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i] ?? '';
    if (c === '\\' && i + 1 < text.length) {
      current += c + (text[i + 1] ?? '');
      i++;
    } else if (c === sep) {
      parts.push(current);
      current = '';
    } else {
      current += c;
    }
  }
  parts.push(current);
  return parts;
}

function unescape(text: string): string {
  return text.replace(/\\(.)/g, '$1');
}

/**
 * Parses `key=value`, `key==value`, `key!=value`, comma-joined. With `supported` (the kind's
 * selectable fields), a field outside it is an UnsupportedFieldError naming the field.
 */
export function parseFieldSelector(selector: string, supported?: readonly string[], kind?: string): FieldMatcher {
  if (selector.length > MAX_SELECTOR_LENGTH) throw new SelectorParseError(selector.slice(0, 64), 0, `longer than ${MAX_SELECTOR_LENGTH} characters`);
  const requirements: FieldRequirement[] = [];
  let position = 0;
  if (selector.trim() !== '') {
    for (const part of splitUnescaped(selector, ',')) {
      const match = /^\s*([^=!\s]+)\s*(==|=|!=)(.*)$/s.exec(part);
      if (match === null) throw new SelectorParseError(selector, position, `expected field=value, field==value or field!=value, found ${JSON.stringify(part)}`);
      const [, field = '', op, rawValue = ''] = match;
      if (supported !== undefined && !supported.includes(field)) throw new UnsupportedFieldError(field, kind, supported);
      requirements.push({ field, operator: op === '!=' ? '!=' : '=', value: unescape(rawValue.trim()) });
      position += part.length + 1;
    }
  }
  return {
    requirements,
    matches: (fields) => requirements.every((r) => ((fields[r.field] ?? '') === r.value) === (r.operator === '=')),
    requiredEquals: () => new Map(requirements.filter((r) => r.operator === '=').map((r) => [r.field, r.value])),
  };
}

// ---- node selectors (the scheduler's NodeAffinity) ----

function nodeRequirementMatches(requirement: NodeSelectorRequirement, values: Labels | undefined): boolean {
  return requirementMatches({ key: requirement.key, operator: requirement.operator, values: requirement.values ?? [] }, values);
}

/**
 * One term: all its matchExpressions hold against the node's labels, and all its matchFields
 * against its fields (Kubernetes supports only metadata.name). A term with no requirements matches
 * no node, as in Kubernetes.
 */
export function nodeSelectorTermMatches(term: NodeSelectorTerm, nodeLabels: Labels | undefined, nodeFields: Labels = {}): boolean {
  const expressions = term.matchExpressions ?? [];
  const fields = term.matchFields ?? [];
  if (expressions.length === 0 && fields.length === 0) return false;
  return expressions.every((r) => nodeRequirementMatches(r, nodeLabels)) && fields.every((r) => nodeRequirementMatches(r, nodeFields));
}

/** The terms are ORed: a node matches when any term does. No terms: no node matches. */
export function nodeSelectorMatches(selector: NodeSelector, nodeLabels: Labels | undefined, nodeFields: Labels = {}): boolean {
  return selector.nodeSelectorTerms.some((term) => nodeSelectorTermMatches(term, nodeLabels, nodeFields));
}

export function validateNodeSelectorRequirement(requirement: NodeSelectorRequirement, field: string): FieldViolation[] {
  const violations: FieldViolation[] = [];
  const count = requirement.values?.length ?? 0;
  for (const p of qualifiedNameProblems(requirement.key)) violations.push({ field: `${field}.key`, description: `Invalid value: ${JSON.stringify(requirement.key)}: ${p}` });
  switch (requirement.operator) {
    case 'In':
    case 'NotIn':
      if (count === 0) violations.push({ field: `${field}.values`, description: "Required value: must be specified when `operator` is 'In' or 'NotIn'" });
      break;
    case 'Exists':
    case 'DoesNotExist':
      if (count > 0) violations.push({ field: `${field}.values`, description: "Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'" });
      break;
    case 'Gt':
    case 'Lt':
      if (count !== 1 || integerOf(requirement.values?.[0] ?? '') === undefined) {
        violations.push({ field: `${field}.values`, description: "Required value: must be specified single value when `operator` is 'Lt' or 'Gt'" });
      }
      break;
  }
  return violations;
}
