// Errors of the API server's resource operations. Each carries a Kubernetes StatusReason (what
// kubectl users know: NotFound, AlreadyExists, Conflict, Invalid, Expired...) and what a person needs
// to act on it: the kind, namespace and name, the resourceVersion, the fields at fault. The RPC face
// maps reasons to gRPC-style status codes (apiserver/service.ts); nothing here knows the wire.

import type { FieldViolation } from '../../proto/api/object.js';

export const StatusReason = {
  NotFound: 'NotFound',
  AlreadyExists: 'AlreadyExists',
  /** A stale resourceVersion, or a precondition on uid/resourceVersion that no longer holds. */
  Conflict: 'Conflict',
  Invalid: 'Invalid',
  BadRequest: 'BadRequest',
  /** The resourceVersion asked for is older than the history kept; list again. */
  Expired: 'Expired',
  /** The operation is not allowed in the object's state (e.g. a namespace being terminated). */
  Forbidden: 'Forbidden',
  /** The cluster cannot serve the request now (no leader, shutting down); safe to retry. */
  ServiceUnavailable: 'ServiceUnavailable',
  /** The request was not answered in time; a write may still have taken effect. */
  Timeout: 'Timeout',
  TooManyRequests: 'TooManyRequests',
  RequestEntityTooLarge: 'RequestEntityTooLarge',
  /** The resourceVersion asked for is ahead of what this master has seen. */
  TooLargeResourceVersion: 'TooLargeResourceVersion',
  /** A watcher fell behind and was closed; resume from the resourceVersion it carries. */
  SlowWatcher: 'SlowWatcher',
  InternalError: 'InternalError',
} as const;
export type StatusReason = (typeof StatusReason)[keyof typeof StatusReason];

export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly reason: StatusReason,
    message: string,
    readonly violations: readonly FieldViolation[] = [],
    /** For Expired and SlowWatcher: where the client may resume; otherwise the revision in play. */
    readonly resourceVersion?: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** "pods \"web-1\" in namespace \"default\"", the way Kubernetes names an object in messages. */
export function describeObject(plural: string, namespace: string | undefined, name: string): string {
  return namespace === undefined || namespace === '' ? `${plural} "${name}"` : `${plural} "${name}" in namespace "${namespace}"`;
}

export function notFound(plural: string, namespace: string | undefined, name: string): ApiError {
  return new ApiError(StatusReason.NotFound, `${describeObject(plural, namespace, name)} not found`);
}

export function invalid(kind: string, name: string, violations: readonly FieldViolation[]): ApiError {
  const list = violations.map((v) => `${v.field}: ${v.description}`).join('; ');
  return new ApiError(StatusReason.Invalid, `${kind} "${name}" is invalid: ${list}`, violations);
}
