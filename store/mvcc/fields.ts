// Readers that turn an untrusted decoded value into a typed one, or throw an error naming the field.
// Used for commands (InvalidCommandError) and snapshots (SnapshotFormatError) alike: the caller
// passes the error constructor.

import { InvalidCommandError } from './errors.js';

export type FieldErrorFactory = (field: string, reason: string) => Error;

export const commandFieldError: FieldErrorFactory = (field, reason) => new InvalidCommandError(field, reason);

/** How an error names the whole value rather than one of its fields. */
export const ROOT_FIELD = '(command)';

export type FieldRecord = { readonly [name: string]: unknown };

export class FieldReader {
  constructor(readonly fail: FieldErrorFactory) {}

  /** A plain map, its fields not yet checked (read its discriminating field, then call record). */
  map(value: unknown, field: string): FieldRecord {
    if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) {
      throw this.fail(field === '' ? ROOT_FIELD : field, 'must be a map');
    }
    const prototype: unknown = Object.getPrototypeOf(value);
    if (prototype !== Object.prototype && prototype !== null) {
      throw this.fail(field === '' ? ROOT_FIELD : field, 'must be a plain map');
    }
    return value as FieldRecord;
  }

  /** A plain map whose keys are all among `allowed` (unknown fields are refused, not ignored). */
  record(value: unknown, field: string, allowed: readonly string[]): FieldRecord {
    this.map(value, field);
    for (const name of Object.keys(value as object)) {
      if (!allowed.includes(name)) throw this.fail(join(field, name), 'unknown field');
    }
    return value as FieldRecord;
  }

  array(value: unknown, field: string, maxLength: number): readonly unknown[] {
    if (!Array.isArray(value)) throw this.fail(field, 'must be an array');
    if (value.length > maxLength) throw this.fail(field, `has ${value.length} entries, more than ${maxLength}`);
    return value as readonly unknown[];
  }

  /** Bytes, copied into a plain Uint8Array so the result never aliases the decoder's input buffer. */
  bytes(value: unknown, field: string, options: { readonly maxBytes: number; readonly nonEmpty?: boolean }): Uint8Array {
    if (!(value instanceof Uint8Array)) throw this.fail(field, 'must be bytes');
    if (options.nonEmpty === true && value.length === 0) throw this.fail(field, 'must not be empty');
    if (value.length > options.maxBytes) throw this.fail(field, `is ${value.length} bytes, more than ${options.maxBytes}`);
    return new Uint8Array(value);
  }

  optionalBytes(value: unknown, field: string, maxBytes: number): Uint8Array {
    return value === undefined ? new Uint8Array(0) : this.bytes(value, field, { maxBytes });
  }

  integer(value: unknown, field: string, min: number, max: number): number {
    if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw this.fail(field, 'must be a safe integer');
    if (value < min || value > max) throw this.fail(field, `must be in [${min}, ${max}], got ${value}`);
    // -0 is 0: one number, one encoding.
    return value === 0 ? 0 : value;
  }

  optionalInteger(value: unknown, field: string, min: number, max: number): number {
    return value === undefined ? 0 : this.integer(value, field, min, max);
  }

  optionalBoolean(value: unknown, field: string): boolean {
    if (value === undefined) return false;
    if (typeof value !== 'boolean') throw this.fail(field, 'must be a boolean');
    return value;
  }

  oneOf<T extends string>(value: unknown, field: string, allowed: readonly T[]): T {
    if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
      throw this.fail(field, `must be one of ${allowed.join(', ')}`);
    }
    return value as T;
  }

  optionalOneOf<T extends string>(value: unknown, field: string, allowed: readonly T[], fallback: T): T {
    return value === undefined ? fallback : this.oneOf(value, field, allowed);
  }
}

/** `txn.success[2]` + `key` → `txn.success[2].key`; the root field is the bare name. */
export function join(parent: string, name: string): string {
  return parent === '' ? name : `${parent}.${name}`;
}
