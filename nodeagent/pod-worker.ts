// One pod's life on this node: start its containers, watch their exits, restart them by the
// pod's restart policy with CrashLoopBackOff, run probes, write the status, and on deletion stop
// the containers within the grace period and delete the pod with grace 0.
//
// All changes go through one serialized sync: events (a pod update, an exit, a timer, a probe
// result) only mark the worker dirty and kick the loop, so two syncs never interleave.
// Invariant: a slot's runtimeId names the container of its latest attempt; an exit of any other
// id is stale and ignored.

import { createHash } from 'node:crypto';
import { cpuMillis, memoryBytes } from '../apiserver/resources/quantity.js';
import type { Container, Pod, PodStatus, RestartPolicy } from '../proto/api/types.js';
import { isConflict, isNotFound, type AgentApi } from './api.js';
import type { Clock } from './clock.js';
import { containerStatusOf, podConditionsOf, podPhaseOf, terminationReason, type ContainerObservation, type Termination } from './pod-status.js';
import { ProbeRunner, type TcpDialer } from './probes.js';
import { ContainerLabel, ContainerStartError, ImagePullError, type ContainerExit, type ContainerRecord, type ContainerRuntime, type ContainerSpec } from './runtime/runtime.js';

export interface BackoffPolicy {
  /** First delay; doubles per crash up to capMs (Kubernetes: 10 s, 5 min). */
  readonly baseMs: number;
  readonly capMs: number;
  /** A container that ran this long resets its backoff (Kubernetes: 10 min). */
  readonly resetAfterMs: number;
}

export const KUBERNETES_CRASH_BACKOFF: BackoffPolicy = { baseMs: 10_000, capMs: 300_000, resetAfterMs: 600_000 };
export const KUBERNETES_IMAGE_BACKOFF: BackoffPolicy = { baseMs: 10_000, capMs: 300_000, resetAfterMs: 600_000 };
/** Status writes retried after a Conflict (each re-reads the pod). */
export const STATUS_WRITE_ATTEMPTS = 5;
/** The grace period when neither the deletion nor the pod gives one. */
export const DEFAULT_GRACE_SECONDS = 30;

export interface Logger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
}

export const silentLogger: Logger = { info: () => undefined, warn: () => undefined };

export interface PodWorkerDeps {
  readonly api: AgentApi;
  readonly runtime: ContainerRuntime;
  readonly clock: Clock;
  readonly hostIP: string;
  readonly crashBackoff: BackoffPolicy;
  readonly imageBackoff: BackoffPolicy;
  readonly dialTcp: TcpDialer;
  /** Milliseconds per pod-spec second (probe timings, grace periods); 1000 but in tests. */
  readonly secondMs: number;
  readonly logger: Logger;
}

interface ContainerSlot {
  readonly spec: Container;
  /** The latest attempt's container id; undefined before the first start. */
  runtimeId: string | undefined;
  /** The attempt before (kept for `logs --previous`), removed when the next one starts. */
  previousRuntimeId: string | undefined;
  /** Containers created so far for this slot. */
  attempts: number;
  state: ContainerObservation['state'];
  lastTermination: Termination | undefined;
  ready: boolean;
  /** Earliest time of the next start (crash or image-pull backoff). */
  notBefore: number;
  crashDelayMs: number;
  imageFailures: number;
  probes: ProbeRunner[];
  cancelWake: (() => void) | undefined;
}

/** A container id that is unique per pod, container and attempt, and valid for containerd. */
export function containerIdFor(podUid: string, containerName: string, attempt: number): string {
  const h = createHash('sha256').update(`${podUid}/${containerName}`).digest('hex').slice(0, 20);
  return `fl-${h}-${attempt}`;
}

/** resourceVersions are decimal store revisions; an unparsable one sorts first. */
function revisionOf(pod: Pod): bigint {
  const rv = pod.metadata.resourceVersion ?? '';
  return /^\d+$/.test(rv) ? BigInt(rv) : -1n;
}

export function podKey(pod: Pod): string {
  return `${pod.metadata.namespace ?? ''}/${pod.metadata.name ?? ''}`;
}

export class PodWorker {
  private pod: Pod;
  private readonly slots: ContainerSlot[];
  private dirty = false;
  private loop: Promise<void> | undefined;
  private lastWritten = '';
  private readonly startTime: number;
  /** Set once deletion began; containers are not restarted after. */
  private terminating = false;
  /** The pod is gone from the API (DELETED, or we deleted it). */
  private gone = false;
  private finished = false;
  private readonly finishedWaiters: (() => void)[] = [];

  constructor(
    pod: Pod,
    private readonly deps: PodWorkerDeps,
    /** Containers of this pod found in the runtime at the agent's start. */
    adopted: readonly ContainerRecord[] = [],
  ) {
    this.pod = pod;
    this.startTime = pod.status?.startTime !== undefined ? Date.parse(pod.status.startTime) : deps.clock.now();
    this.slots = (pod.spec?.containers ?? []).map((spec) => ({
      spec,
      runtimeId: undefined,
      previousRuntimeId: undefined,
      attempts: 0,
      state: { kind: 'waiting', reason: 'ContainerCreating' },
      lastTermination: undefined,
      ready: false,
      notBefore: 0,
      crashDelayMs: 0,
      imageFailures: 0,
      probes: [],
      cancelWake: undefined,
    }));
    this.adopt(adopted);
  }

  get uid(): string {
    return this.pod.metadata.uid ?? '';
  }

  get isFinished(): boolean {
    return this.finished;
  }

  /** The container to read logs from: the current attempt, or the one before. */
  logContainerId(containerName: string, previous = false): string | undefined {
    const slot = this.slots.find((s) => s.spec.name === containerName);
    return previous ? slot?.previousRuntimeId : slot?.runtimeId;
  }

  get containerNames(): string[] {
    return this.slots.map((s) => s.spec.name);
  }

  private get restartPolicy(): RestartPolicy {
    return this.pod.spec?.restartPolicy ?? 'Always';
  }

  /** A newer version of the pod from the watch. */
  update(pod: Pod): void {
    if (pod.metadata.uid !== this.pod.metadata.uid) return;
    // The watch may deliver a version older than the one our own status write returned.
    if (revisionOf(pod) < revisionOf(this.pod)) return;
    this.pod = pod;
    this.kick();
  }

  /** The pod was removed from the API without us (force delete): stop its containers. */
  removed(): void {
    this.gone = true;
    this.kick();
  }

  /** Resolves once the pod's containers are stopped and removed after its deletion. */
  whenFinished(): Promise<void> {
    if (this.finished) return Promise.resolve();
    return new Promise((resolve) => this.finishedWaiters.push(resolve));
  }

  kick(): void {
    this.dirty = true;
    this.loop ??= this.runLoop().finally(() => {
      this.loop = undefined;
      if (this.dirty && !this.finished) this.kick();
    });
  }

  /** Stops timers and probes without touching containers (the agent is shutting down). */
  detach(): void {
    this.finished = true;
    for (const s of this.slots) this.quiesce(s);
  }

  private async runLoop(): Promise<void> {
    while (this.dirty && !this.finished) {
      this.dirty = false;
      try {
        await this.syncOnce();
      } catch (err) {
        this.deps.logger.warn('pod sync failed', { pod: podKey(this.pod), error: (err as Error).message });
        // Try again soon rather than spin.
        this.deps.clock.after(1_000, () => this.kick());
        return;
      }
    }
  }

  // ---- adoption ----

  private adopt(records: readonly ContainerRecord[]): void {
    for (const slot of this.slots) {
      const mine = records
        .filter((r) => r.labels[ContainerLabel.containerName] === slot.spec.name)
        .sort((a, b) => Number(a.labels[ContainerLabel.restartCount] ?? 0) - Number(b.labels[ContainerLabel.restartCount] ?? 0));
      const current = mine.at(-1);
      if (current === undefined) continue;
      const previous = mine.at(-2);
      for (const extra of mine.slice(0, -2)) void this.deps.runtime.remove(extra.id).catch(() => undefined);
      const restartCount = Number(current.labels[ContainerLabel.restartCount] ?? 0);
      slot.attempts = restartCount + 1;
      slot.runtimeId = current.id;
      slot.previousRuntimeId = previous?.id;
      const startedAt = Number(current.labels[ContainerLabel.startedAt] ?? this.deps.clock.now());
      // An exited one is seen through wait(), which reports its exit at once.
      slot.state = { kind: 'running', startedAt };
      slot.ready = slot.spec.readinessProbe === undefined;
      this.deps.logger.info('adopted container', { pod: podKey(this.pod), container: slot.spec.name, id: current.id, state: current.state });
      this.startProbes(slot, current.id);
      this.watchExit(slot, current.id, startedAt);
    }
  }

  // ---- the sync ----

  private async syncOnce(): Promise<void> {
    if (this.gone || this.pod.metadata.deletionTimestamp !== undefined) {
      await this.terminate();
      return;
    }
    const now = this.deps.clock.now();
    for (const slot of this.slots) {
      if (slot.state.kind === 'running') continue;
      if (slot.lastTermination !== undefined && !this.shouldRestart(slot.lastTermination)) {
        slot.state = { kind: 'terminated', termination: slot.lastTermination };
        continue;
      }
      if (now < slot.notBefore) {
        this.wakeAt(slot, slot.notBefore);
        continue;
      }
      await this.startContainer(slot);
    }
    await this.writeStatus();
  }

  private shouldRestart(t: Termination): boolean {
    if (this.terminating) return false;
    const policy = this.restartPolicy;
    return policy === 'Always' || (policy === 'OnFailure' && t.exitCode !== 0);
  }

  private wakeAt(slot: ContainerSlot, at: number): void {
    slot.cancelWake?.();
    slot.cancelWake = this.deps.clock.after(at - this.deps.clock.now(), () => {
      slot.cancelWake = undefined;
      this.kick();
    });
  }

  private containerSpec(slot: ContainerSlot, id: string): ContainerSpec {
    const c = slot.spec;
    const limits = c.resources?.limits ?? {};
    const memory = limits['memory'];
    const cpu = limits['cpu'];
    return {
      id,
      image: c.image ?? '',
      argv: [...(c.command ?? []), ...(c.args ?? [])],
      env: (c.env ?? []).map((e) => ({ name: e.name, value: e.value ?? '' })),
      labels: {
        [ContainerLabel.podUid]: this.uid,
        [ContainerLabel.podName]: this.pod.metadata.name ?? '',
        [ContainerLabel.podNamespace]: this.pod.metadata.namespace ?? '',
        [ContainerLabel.containerName]: c.name,
        [ContainerLabel.restartCount]: String(slot.attempts),
        [ContainerLabel.startedAt]: String(this.deps.clock.now()),
      },
      ...(c.workingDir !== undefined ? { workingDir: c.workingDir } : {}),
      ...(memory !== undefined ? { memoryLimitBytes: memoryBytes(memory) } : {}),
      ...(cpu !== undefined ? { cpuLimitMillis: cpuMillis(cpu) } : {}),
    };
  }

  private async startContainer(slot: ContainerSlot): Promise<void> {
    const image = slot.spec.image ?? '';
    try {
      await this.deps.runtime.ensureImage(image);
      slot.imageFailures = 0;
    } catch (err) {
      if (!(err instanceof ImagePullError)) throw err;
      const reason = slot.imageFailures === 0 ? 'ErrImagePull' : 'ImagePullBackOff';
      const delay = Math.min(this.deps.imageBackoff.baseMs * 2 ** slot.imageFailures, this.deps.imageBackoff.capMs);
      slot.imageFailures++;
      slot.state = { kind: 'waiting', reason, message: err.message };
      slot.notBefore = this.deps.clock.now() + delay;
      this.wakeAt(slot, slot.notBefore);
      // Between attempts Kubernetes shows ImagePullBackOff.
      if (reason === 'ErrImagePull') {
        this.deps.clock.after(Math.min(delay / 2, 1_000), () => {
          if (slot.state.kind === 'waiting' && slot.state.reason === 'ErrImagePull') {
            slot.state = { kind: 'waiting', reason: 'ImagePullBackOff', message: `Back-off pulling image "${image}"` };
            this.kick();
          }
        });
      }
      return;
    }
    const id = containerIdFor(this.uid, slot.spec.name, slot.attempts);
    const spec = this.containerSpec(slot, id);
    // Keep one dead container for `logs --previous`; remove the one before it.
    const stale = slot.previousRuntimeId;
    slot.previousRuntimeId = slot.runtimeId;
    if (stale !== undefined) await this.deps.runtime.remove(stale).catch(() => undefined);
    slot.attempts++;
    slot.runtimeId = id;
    const startedAt = this.deps.clock.now();
    try {
      await this.deps.runtime.start(spec);
    } catch (err) {
      if (!(err instanceof ContainerStartError)) throw err;
      this.recordExit(slot, id, { id, exitCode: 128, oomKilled: false, finishedAt: this.deps.clock.now() }, startedAt, 'StartError', err.message);
      return;
    }
    slot.state = { kind: 'running', startedAt };
    slot.ready = slot.spec.readinessProbe === undefined;
    this.startProbes(slot, id);
    this.watchExit(slot, id, startedAt);
  }

  private watchExit(slot: ContainerSlot, id: string, startedAt: number): void {
    this.deps.runtime.wait(id).then(
      (exit) => this.recordExit(slot, id, exit, startedAt),
      (err: unknown) => this.recordExit(slot, id, { id, exitCode: 137, oomKilled: false, finishedAt: this.deps.clock.now() }, startedAt, 'ContainerStatusUnknown', (err as Error).message),
    );
  }

  private recordExit(slot: ContainerSlot, id: string, exit: ContainerExit, startedAt: number, reason?: string, message?: string): void {
    if (slot.runtimeId !== id || slot.lastTermination?.containerId === id) return;
    this.quiesce(slot);
    const termination: Termination = {
      exitCode: exit.exitCode,
      reason: reason ?? terminationReason(exit.exitCode, exit.oomKilled),
      ...(message !== undefined ? { message } : {}),
      startedAt,
      finishedAt: exit.finishedAt,
      containerId: id,
    };
    slot.lastTermination = termination;
    slot.ready = false;
    const ranMs = exit.finishedAt - startedAt;
    if (ranMs >= this.deps.crashBackoff.resetAfterMs) slot.crashDelayMs = 0;
    // Kubernetes restarts at once after the first crash, then waits base, 2·base, ... up to cap.
    const delay = slot.crashDelayMs;
    slot.crashDelayMs = delay === 0 ? this.deps.crashBackoff.baseMs : Math.min(delay * 2, this.deps.crashBackoff.capMs);
    slot.notBefore = this.deps.clock.now() + delay;
    if (this.shouldRestart(termination) && delay > 0) {
      slot.state = { kind: 'waiting', reason: 'CrashLoopBackOff', message: `back-off ${Math.round(delay / 1000)}s restarting failed container=${slot.spec.name} pod=${this.pod.metadata.name ?? ''}` };
    } else {
      slot.state = { kind: 'terminated', termination };
    }
    this.deps.logger.info('container exited', { pod: podKey(this.pod), container: slot.spec.name, exitCode: exit.exitCode, reason: termination.reason });
    this.kick();
  }

  private quiesce(slot: ContainerSlot): void {
    for (const p of slot.probes) p.stop();
    slot.probes = [];
    slot.cancelWake?.();
    slot.cancelWake = undefined;
  }

  private startProbes(slot: ContainerSlot, id: string): void {
    const target = { runtime: this.deps.runtime, containerId: id, container: slot.spec, dialTcp: this.deps.dialTcp, defaultHost: '127.0.0.1' };
    const { readinessProbe, livenessProbe } = slot.spec;
    if (readinessProbe !== undefined) {
      const r = new ProbeRunner(readinessProbe, target, this.deps.clock, this.deps.secondMs, (result) => {
        if (slot.runtimeId !== id) return;
        slot.ready = result === 'success';
        this.kick();
      });
      slot.probes.push(r);
      r.start();
    }
    if (livenessProbe !== undefined) {
      const l = new ProbeRunner(livenessProbe, target, this.deps.clock, this.deps.secondMs, (result) => {
        if (result !== 'failure' || slot.runtimeId !== id) return;
        this.deps.logger.info('liveness probe failed; killing the container', { pod: podKey(this.pod), container: slot.spec.name });
        void this.deps.runtime.stop(id, this.graceMs()).catch(() => undefined);
      });
      slot.probes.push(l);
      l.start();
    }
  }

  private graceMs(): number {
    const seconds = this.pod.metadata.deletionGracePeriodSeconds ?? this.pod.spec?.terminationGracePeriodSeconds ?? DEFAULT_GRACE_SECONDS;
    return seconds * this.deps.secondMs;
  }

  // ---- status ----

  private observations(): ContainerObservation[] {
    return this.slots.map((s) => ({
      name: s.spec.name,
      image: s.spec.image ?? '',
      restartCount: Math.max(0, s.attempts - 1),
      containerId: s.runtimeId,
      state: s.state,
      lastTermination: s.lastTermination,
      ready: s.state.kind === 'running' && s.ready,
    }));
  }

  statusNow(): PodStatus {
    const obs = this.observations();
    const phase = podPhaseOf(obs, this.restartPolicy);
    return {
      phase,
      conditions: podConditionsOf(obs, phase, this.pod.status?.conditions, this.deps.clock.now()),
      hostIP: this.deps.hostIP,
      podIP: this.deps.hostIP,
      startTime: new Date(this.startTime).toISOString(),
      containerStatuses: obs.map(containerStatusOf),
    };
  }

  private async writeStatus(): Promise<void> {
    if (this.gone) return;
    const status = this.statusNow();
    const text = JSON.stringify(status);
    if (text === this.lastWritten) return;
    let pod = this.pod;
    for (let attempt = 1; ; attempt++) {
      try {
        this.pod = await this.deps.api.updateStatus<Pod>({ ...pod, status });
        this.lastWritten = text;
        return;
      } catch (err) {
        if (isNotFound(err)) {
          this.gone = true;
          return;
        }
        if (!isConflict(err) || attempt >= STATUS_WRITE_ATTEMPTS) throw err;
        pod = await this.deps.api.get<Pod>('Pod', pod.metadata.name ?? '', pod.metadata.namespace ?? '');
        if (pod.metadata.uid !== this.uid) {
          this.gone = true;
          return;
        }
        this.pod = pod;
      }
    }
  }

  // ---- termination ----

  private async terminate(): Promise<void> {
    this.terminating = true;
    const graceMs = this.graceMs();
    await Promise.all(
      this.slots.map(async (slot) => {
        for (const p of slot.probes) p.stop();
        slot.probes = [];
        slot.cancelWake?.();
        const id = slot.runtimeId;
        if (id === undefined || slot.state.kind !== 'running') return;
        const startedAt = slot.state.startedAt;
        const exit = await this.deps.runtime.stop(id, graceMs).catch(() => undefined);
        if (exit !== undefined) this.recordExit(slot, id, exit, startedAt);
      }),
    );
    // The exits recorded above (through wait) put every container in terminated.
    for (const slot of this.slots) if (slot.state.kind !== 'terminated' && slot.lastTermination !== undefined) slot.state = { kind: 'terminated', termination: slot.lastTermination };
    await this.writeStatus().catch(() => undefined);
    for (const slot of this.slots) {
      for (const id of [slot.runtimeId, slot.previousRuntimeId]) if (id !== undefined) await this.deps.runtime.remove(id).catch(() => undefined);
    }
    if (!this.gone) {
      try {
        await this.deps.api.delete('Pod', this.pod.metadata.name ?? '', this.pod.metadata.namespace ?? '', { gracePeriodSeconds: 0, preconditionUid: this.uid });
      } catch (err) {
        if (!isNotFound(err) && !isConflict(err)) throw err;
      }
      this.gone = true;
    }
    this.finished = true;
    for (const w of this.finishedWaiters.splice(0)) w();
  }
}
