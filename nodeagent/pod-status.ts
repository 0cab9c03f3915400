// A pod's status as pure functions of what the worker observed: each container's state, the
// pod's phase (Kubernetes' getPhase), and its conditions. Timestamps are RFC 3339.

import type { ContainerState, ContainerStatus, PodCondition, PodPhase, RestartPolicy } from '../proto/api/types.js';

export interface Termination {
  readonly exitCode: number;
  /** Completed, Error, OOMKilled, StartError, ... */
  readonly reason: string;
  readonly message?: string;
  readonly startedAt: number;
  readonly finishedAt: number;
  readonly containerId: string;
}

/** What the worker knows of one container of the pod. */
export interface ContainerObservation {
  readonly name: string;
  readonly image: string;
  readonly restartCount: number;
  readonly containerId: string | undefined;
  /** Exactly one of: running since, waiting for a reason, terminated for good. */
  readonly state: { readonly kind: 'running'; readonly startedAt: number } | { readonly kind: 'waiting'; readonly reason: string; readonly message?: string } | { readonly kind: 'terminated'; readonly termination: Termination };
  /** The last termination (the one before the current run, or the one being waited out). */
  readonly lastTermination: Termination | undefined;
  readonly ready: boolean;
}

const iso = (ms: number): string => new Date(ms).toISOString();

function terminatedState(t: Termination): ContainerState {
  return {
    terminated: {
      exitCode: t.exitCode,
      reason: t.reason,
      ...(t.message !== undefined ? { message: t.message } : {}),
      startedAt: iso(t.startedAt),
      finishedAt: iso(t.finishedAt),
      containerID: `containerd://${t.containerId}`,
    },
  };
}

export function terminationReason(exitCode: number, oomKilled: boolean): string {
  if (oomKilled) return 'OOMKilled';
  return exitCode === 0 ? 'Completed' : 'Error';
}

export function containerStatusOf(c: ContainerObservation): ContainerStatus {
  const state: ContainerState =
    c.state.kind === 'running'
      ? { running: { startedAt: iso(c.state.startedAt) } }
      : c.state.kind === 'waiting'
        ? { waiting: { reason: c.state.reason, ...(c.state.message !== undefined ? { message: c.state.message } : {}) } }
        : terminatedState(c.state.termination);
  return {
    name: c.name,
    image: c.image,
    imageID: '',
    ...(c.containerId !== undefined ? { containerID: `containerd://${c.containerId}` } : {}),
    restartCount: c.restartCount,
    ready: c.ready,
    started: c.state.kind === 'running',
    state,
    ...(c.lastTermination !== undefined && c.state.kind !== 'terminated' ? { lastState: terminatedState(c.lastTermination) } : {}),
  };
}

/**
 * Kubernetes' getPhase: a container that never ran holds the pod Pending; one running makes it
 * Running; when none runs, the restart policy and the exit codes decide. A container waiting to
 * restart counts as stopped with its last exit.
 */
export function podPhaseOf(containers: readonly ContainerObservation[], restartPolicy: RestartPolicy): PodPhase {
  let pending = 0;
  let running = 0;
  let stopped = 0;
  let succeeded = 0;
  for (const c of containers) {
    if (c.state.kind === 'running') running++;
    else {
      const last = c.state.kind === 'terminated' ? c.state.termination : c.lastTermination;
      if (last === undefined) pending++;
      else {
        stopped++;
        if (last.exitCode === 0) succeeded++;
      }
    }
  }
  if (pending > 0) return 'Pending';
  if (running > 0) return 'Running';
  if (stopped > 0) {
    if (restartPolicy === 'Always') return 'Running';
    if (stopped === succeeded) return 'Succeeded';
    return restartPolicy === 'Never' ? 'Failed' : 'Running';
  }
  return 'Pending';
}

/** PodScheduled, Initialized, ContainersReady, Ready; keeps lastTransitionTime of unchanged ones. */
export function podConditionsOf(containers: readonly ContainerObservation[], phase: PodPhase, previous: readonly PodCondition[] | undefined, now: number): PodCondition[] {
  const notReady = containers.filter((c) => !c.ready).map((c) => c.name);
  const terminal = phase === 'Succeeded' || phase === 'Failed';
  const ready: Omit<PodCondition, 'type'> =
    terminal ? { status: 'False', reason: 'PodCompleted' } : notReady.length === 0 ? { status: 'True' } : { status: 'False', reason: 'ContainersNotReady', message: `containers with unready status: [${notReady.join(' ')}]` };
  const wanted: PodCondition[] = [
    { type: 'Initialized', status: 'True' },
    { type: 'Ready', ...ready },
    { type: 'ContainersReady', ...ready },
    { type: 'PodScheduled', status: 'True' },
  ];
  return wanted.map((c) => {
    const old = previous?.find((p) => p.type === c.type);
    const since = old !== undefined && old.status === c.status && old.lastTransitionTime !== undefined ? old.lastTransitionTime : iso(now);
    return { ...c, lastTransitionTime: since };
  });
}
