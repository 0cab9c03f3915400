// The outcome of one plugin at one extension point. Plugins return a Status for every expected
// outcome (a node that does not fit, a pod the plugin does not care about); they throw only for a
// bug. `reasons` are the user-facing phrases Kubernetes prints ("Insufficient cpu"); the
// scheduler counts them across nodes into the "0/N nodes are available: ..." message.

export const Code = {
  Success: 'Success',
  /** Does not fit now; may fit after the cluster changes (preemption could help, in Kubernetes). */
  Unschedulable: 'Unschedulable',
  /** Does not fit, and no change to other pods would help (a taint, a selector). */
  UnschedulableAndUnresolvable: 'UnschedulableAndUnresolvable',
  /** Something went wrong (a malformed quantity, an API failure); the pod is retried with backoff. */
  Error: 'Error',
  /** The plugin has nothing to do for this pod: its later points are skipped for this cycle. */
  Skip: 'Skip',
} as const;
export type Code = (typeof Code)[keyof typeof Code];

export interface Status {
  readonly code: Code;
  readonly reasons: readonly string[];
  /** The plugin that produced it; the runtime fills it in when a plugin leaves it out. */
  readonly plugin?: string;
}

/** Shared, frozen: the hot path returns these without allocating. */
export const SUCCESS: Status = Object.freeze({ code: Code.Success, reasons: Object.freeze([]) as readonly string[] });
export const SKIP: Status = Object.freeze({ code: Code.Skip, reasons: Object.freeze([]) as readonly string[] });

export function status(code: Code, ...reasons: string[]): Status {
  return Object.freeze({ code, reasons: Object.freeze(reasons) });
}

export function unschedulable(...reasons: string[]): Status {
  return status(Code.Unschedulable, ...reasons);
}

export function unresolvable(...reasons: string[]): Status {
  return status(Code.UnschedulableAndUnresolvable, ...reasons);
}

export function errorStatus(message: string): Status {
  return status(Code.Error, message);
}

export function withPlugin(s: Status, plugin: string): Status {
  return s.plugin === plugin ? s : Object.freeze({ code: s.code, reasons: s.reasons, plugin });
}

export function isSuccess(s: Status): boolean {
  return s.code === Code.Success;
}

/** Unschedulable or UnschedulableAndUnresolvable: the pod does not fit (as opposed to an Error). */
export function isRejection(s: Status): boolean {
  return s.code === Code.Unschedulable || s.code === Code.UnschedulableAndUnresolvable;
}
