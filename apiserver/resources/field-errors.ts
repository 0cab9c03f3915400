// Kubernetes' field.Error vocabulary ("Required value", "Invalid value: ...", "Forbidden: ..."),
// so violations read as users of kubectl expect, and shared range checks.

import type { FieldViolation } from '../../proto/api/object.js';

export type Violations = FieldViolation[];

export function required(field: string, detail?: string): FieldViolation {
  return { field, description: detail ? `Required value: ${detail}` : 'Required value' };
}

export function invalid(field: string, value: unknown, detail: string): FieldViolation {
  return { field, description: `Invalid value: ${JSON.stringify(value)}: ${detail}` };
}

export function forbidden(field: string, detail: string): FieldViolation {
  return { field, description: `Forbidden: ${detail}` };
}

export function duplicate(field: string, value: unknown): FieldViolation {
  return { field, description: `Duplicate value: ${JSON.stringify(value)}` };
}

export function immutable(field: string, value: unknown): FieldViolation {
  return invalid(field, value, 'field is immutable');
}

export const MIN_PORT = 1;
export const MAX_PORT = 65535;

export function checkPort(out: Violations, field: string, port: number | undefined, allowZero = false): void {
  if (port === undefined) return;
  if (allowZero && port === 0) return;
  if (port < MIN_PORT || port > MAX_PORT) out.push(invalid(field, port, `must be between ${MIN_PORT} and ${MAX_PORT}, inclusive`));
}

export function checkNonNegative(out: Violations, field: string, value: number | undefined): void {
  if (value !== undefined && value < 0) out.push(invalid(field, value, 'must be greater than or equal to 0'));
}

export function checkPositive(out: Violations, field: string, value: number | undefined): void {
  if (value !== undefined && value <= 0) out.push(invalid(field, value, 'must be greater than 0'));
}

/** Deep equality of JSON-form values (plain objects, arrays, scalars); key order does not matter. */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x: unknown, i) => sameJson(x, b[i]));
  }
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  const ka = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
  const kb = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
  return ka.length === kb.length && ka.every((k) => sameJson((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}
