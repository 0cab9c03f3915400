// Call outcomes, as gRPC numbers them, and the one error type handlers throw and callers catch.

/** gRPC status codes (https://grpc.github.io/grpc/core/md_doc_statuscodes.html). */
export const StatusCode = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

export type StatusCode = (typeof StatusCode)[keyof typeof StatusCode];
export type StatusCodeName = keyof typeof StatusCode;

const CODE_NAMES = new Map<number, StatusCodeName>(Object.entries(StatusCode).map(([name, code]) => [code, name as StatusCodeName]));

export function isStatusCode(n: number): n is StatusCode {
  return CODE_NAMES.has(n);
}

export function statusCodeName(code: number): string {
  return CODE_NAMES.get(code) ?? `CODE_${code}`;
}

/** One problem with one field of a request; `field` is a path such as spec.containers[0].image. */
export interface FieldViolation {
  readonly field: string;
  readonly description: string;
}

/** A call's final status as it travels (proto flotilla.rpc.v1.Status). */
export interface WireStatus {
  readonly code: number;
  readonly message: string;
  readonly reason: string;
  readonly violations: readonly FieldViolation[];
  readonly metadata: Readonly<Record<string, string>>;
}

export interface RpcErrorOptions {
  /** A Kubernetes-style reason: 'Conflict', 'Expired', 'NotFound', ... */
  readonly reason?: string;
  readonly violations?: readonly FieldViolation[];
  readonly metadata?: Readonly<Record<string, string>>;
  /**
   * The request may or may not have taken effect (the connection dropped after it was sent).
   * A caller retrying a write must first find out, e.g. by reading back.
   */
  readonly outcomeUnknown?: boolean;
  readonly cause?: unknown;
}

export class RpcError extends Error {
  override readonly name = 'RpcError';
  readonly code: StatusCode;
  readonly reason: string | undefined;
  readonly violations: FieldViolation[];
  readonly metadata: Record<string, string>;
  readonly outcomeUnknown: boolean;

  constructor(code: StatusCode, message: string, opts: RpcErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.code = code;
    this.reason = opts.reason;
    this.violations = (opts.violations ?? []).map((v) => ({ field: v.field, description: v.description }));
    this.metadata = { ...(opts.metadata ?? {}) };
    this.outcomeUnknown = opts.outcomeUnknown ?? false;
  }

  get codeName(): string {
    return statusCodeName(this.code);
  }

  /**
   * The error a non-OK status from the wire stands for. A code this build does not know becomes
   * UNKNOWN (the original number is kept in metadata as 'rpc-code') rather than being trusted.
   */
  static fromStatus(status: WireStatus): RpcError {
    const known = isStatusCode(status.code);
    const metadata = known ? status.metadata : { ...status.metadata, 'rpc-code': String(status.code) };
    return new RpcError(known ? status.code : StatusCode.UNKNOWN, status.message, {
      ...(status.reason === '' ? {} : { reason: status.reason }),
      violations: status.violations,
      metadata,
    });
  }

  toStatus(): WireStatus {
    return { code: this.code, message: this.message, reason: this.reason ?? '', violations: this.violations, metadata: this.metadata };
  }
}

export const OK_STATUS: WireStatus = { code: StatusCode.OK, message: '', reason: '', violations: [], metadata: {} };

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
