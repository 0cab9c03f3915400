// The container runtime as the node agent sees it: images, containers with labels and cgroup
// limits, exits, exec, logs. Two implementations pass the same suite: `ctr.ts` drives a real
// containerd through its `ctr` client; `simulated.ts` runs containers as timers for the
// benchmark's thousands of nodes.
//
// Invariant: a container id is unique for the runtime's lifetime; the agent never reuses one
// (each restart of a pod's container is a new id), so an exit is never confused between runs.

/** Labels the agent puts on every container; adoption after a restart reads them back. */
export const ContainerLabel = {
  podUid: 'io.flotilla.pod.uid',
  podName: 'io.flotilla.pod.name',
  podNamespace: 'io.flotilla.pod.namespace',
  containerName: 'io.flotilla.container.name',
  restartCount: 'io.flotilla.container.restart-count',
  /** Milliseconds since the epoch, when the agent started the container. */
  startedAt: 'io.flotilla.container.started-at',
} as const;

export interface ContainerSpec {
  /** [A-Za-z0-9][A-Za-z0-9_.-]*, at most 76 characters (containerd's bound). */
  readonly id: string;
  readonly image: string;
  /** The whole argv; empty runs the image's default command. */
  readonly argv: readonly string[];
  readonly env: readonly { readonly name: string; readonly value: string }[];
  readonly labels: Readonly<Record<string, string>>;
  readonly workingDir?: string;
  /** cgroup memory limit; undefined = none. */
  readonly memoryLimitBytes?: number;
  /** CFS quota as thousandths of a CPU; undefined = none. */
  readonly cpuLimitMillis?: number;
}

export type ContainerRunState = 'created' | 'running' | 'exited' | 'unknown';

export interface ContainerRecord {
  readonly id: string;
  readonly image: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly state: ContainerRunState;
}

export interface ContainerExit {
  readonly id: string;
  readonly exitCode: number;
  /** The kernel's OOM killer killed a process of the container's cgroup. */
  readonly oomKilled: boolean;
  /** ms since the epoch. */
  readonly finishedAt: number;
}

export interface ExecResult {
  readonly exitCode: number;
  readonly output: string;
}

export interface LogOptions {
  /** Keep streaming until the container is removed or the signal aborts. */
  readonly follow?: boolean;
  readonly signal?: AbortSignal;
}

export interface ContainerRuntime {
  /** e.g. "containerd 1.6.20" or "simulated". */
  version(): Promise<string>;
  /** Makes the image present (import from a local archive if need be). Throws ImagePullError. */
  ensureImage(image: string): Promise<void>;
  /** Creates and starts; resolves once the process runs. Throws ContainerStartError. */
  start(spec: ContainerSpec): Promise<void>;
  /**
   * Resolves with the container's exit: at once if it has exited, else when it does. For a
   * container that does not exist, rejects with ContainerNotFoundError.
   */
  wait(id: string): Promise<ContainerExit>;
  /** SIGTERM, then SIGKILL once graceMs has passed; resolves with the exit. */
  stop(id: string, graceMs: number): Promise<ContainerExit | undefined>;
  /** Deletes the task, the container, its snapshot and its log. Idempotent. */
  remove(id: string): Promise<void>;
  /** Every container of this runtime's namespace, with its labels. */
  list(): Promise<ContainerRecord[]>;
  /** Runs a command inside a running container (exec probes). */
  exec(id: string, argv: readonly string[], timeoutMs: number): Promise<ExecResult>;
  /** The container's output (stdout and stderr interleaved, as written). */
  logs(id: string, opts?: LogOptions): AsyncIterable<Uint8Array>;
  close(): Promise<void>;
}

export class ImagePullError extends Error {
  override readonly name = 'ImagePullError';
  constructor(readonly image: string, reason: string, options?: { cause?: unknown }) {
    super(`image ${image}: ${reason}`, options);
  }
}

export class ContainerStartError extends Error {
  override readonly name = 'ContainerStartError';
  constructor(readonly containerId: string, reason: string, options?: { cause?: unknown }) {
    super(`container ${containerId} failed to start: ${reason}`, options);
  }
}

export class ContainerNotFoundError extends Error {
  override readonly name = 'ContainerNotFoundError';
  constructor(readonly containerId: string) {
    super(`no container ${containerId}`);
  }
}

export class RuntimeCommandError extends Error {
  override readonly name = 'RuntimeCommandError';
  constructor(readonly argv: readonly string[], readonly exitCode: number | null, readonly stderr: string) {
    super(`${argv.join(' ')} failed (${exitCode ?? 'killed'}): ${stderr.trim().slice(0, 500)}`);
  }
}

const CONTAINER_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,75}$/;

export function isValidContainerId(id: string): boolean {
  return CONTAINER_ID_PATTERN.test(id);
}
