// The node agent (Flotilla's kubelet): registers its Node, renews its Lease, reports conditions,
// watches the pods bound to it and runs one PodWorker per pod. At start it adopts the containers
// it finds (by their pod-uid label) instead of starting twins, and removes those whose pods are
// gone. Stopping the agent leaves containers running, so a restarted agent adopts them.

import type { Lease, Node, NodeCondition, Pod } from '../proto/api/types.js';
import { isAlreadyExists, isConflict, isNotFound, type AgentApi } from './api.js';
import { sleep, systemClock, type Clock } from './clock.js';
import { AgentHttpServer } from './log-server.js';
import { machineAddress, machineHostname, machineResources, nodeConditions, nodeObject, nodeStatus, samplePressure, type NodeIdentity, type NodeResources, type PressureSample } from './node-status.js';
import { PodWatch } from './pod-watch.js';
import { KUBERNETES_CRASH_BACKOFF, KUBERNETES_IMAGE_BACKOFF, PodWorker, podKey, silentLogger, type BackoffPolicy, type Logger } from './pod-worker.js';
import { dialTcp, type TcpDialer } from './probes.js';
import { ContainerLabel, type ContainerRecord, type ContainerRuntime } from './runtime/runtime.js';

export const LEASE_NAMESPACE = 'kube-node-lease';
export const LEASE_DURATION_SECONDS = 40;
export const LEASE_RENEW_MS = 10_000;
/** How often conditions are computed; written when changed or every NODE_STATUS_REPORT_MS. */
export const NODE_STATUS_CHECK_MS = 10_000;
export const NODE_STATUS_REPORT_MS = 60_000;
/** Grace given to orphaned containers (their pods are gone) before SIGKILL. */
export const ORPHAN_GRACE_MS = 2_000;
/** Registration retries back off up to this. */
export const REGISTER_BACKOFF_MAX_MS = 10_000;
/** Workers of deleted pods remembered, so late events do not restart them. */
export const FINISHED_PODS_REMEMBERED = 10_000;

export interface NodeAgentOptions {
  readonly nodeName: string;
  readonly api: AgentApi;
  readonly runtime: ContainerRuntime;
  readonly clock?: Clock;
  readonly labels?: Readonly<Record<string, string>>;
  readonly internalIP?: string;
  readonly hostname?: string;
  readonly resources?: Partial<NodeResources>;
  /** Serve logs on HOST:PORT (port 0 picks one); undefined = no endpoint. */
  readonly listen?: { readonly host: string; readonly port: number };
  /** Overrides the endpoint written in the Node (when HOST is 0.0.0.0). */
  readonly advertiseEndpoint?: string;
  readonly httpToken?: string;
  /** Whether the API accepts a bearer token that is not httpToken (the masters present their callers'). */
  readonly verifyToken?: (token: string) => Promise<boolean>;
  readonly crashBackoff?: BackoffPolicy;
  readonly imageBackoff?: BackoffPolicy;
  readonly secondMs?: number;
  readonly dialTcp?: TcpDialer;
  readonly logger?: Logger;
  readonly leaseRenewMs?: number;
  readonly nodeStatusCheckMs?: number;
  readonly diskPath?: string;
  readonly samplePressure?: () => PressureSample;
}

export class NodeAgent {
  readonly nodeName: string;
  private readonly api: AgentApi;
  private readonly runtime: ContainerRuntime;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly workers = new Map<string, PodWorker>();
  private readonly byName = new Map<string, PodWorker>();
  private readonly finishedUids = new Set<string>();
  private readonly cancels: (() => void)[] = [];
  private podWatch: PodWatch | undefined;
  private http: AgentHttpServer | undefined;
  private identity: NodeIdentity | undefined;
  private lease: Lease | undefined;
  private lastConditions: NodeCondition[] | undefined;
  private lastStatusWrite = 0;
  private stopped = false;
  private adoptable = new Map<string, ContainerRecord[]>();
  /** Resolves after the first pod list was handled (adoption and orphan removal done). */
  readonly synced: Promise<void>;
  private markSynced: () => void = () => undefined;
  /** HOST:PORT of the log endpoint, once listening. */
  endpoint: string | undefined;

  private constructor(private readonly opts: NodeAgentOptions) {
    this.nodeName = opts.nodeName;
    this.api = opts.api;
    this.runtime = opts.runtime;
    this.clock = opts.clock ?? systemClock;
    this.logger = opts.logger ?? silentLogger;
    this.synced = new Promise((resolve) => (this.markSynced = resolve));
  }

  static async start(opts: NodeAgentOptions): Promise<NodeAgent> {
    const agent = new NodeAgent(opts);
    await agent.run();
    return agent;
  }

  private async run(): Promise<void> {
    const runtimeVersion = await this.runtime.version();
    if (this.opts.listen !== undefined) {
      this.http = new AgentHttpServer({ logs: (ns, pod, c, o) => this.logsOf(ns, pod, c, o) }, this.opts.httpToken, this.opts.verifyToken);
      const bound = await this.http.listen(this.opts.listen.host, this.opts.listen.port);
      this.endpoint = this.opts.advertiseEndpoint ?? (this.opts.listen.host === '0.0.0.0' ? `${this.opts.internalIP ?? machineAddress()}:${bound.slice(bound.lastIndexOf(':') + 1)}` : bound);
    }
    this.identity = {
      name: this.nodeName,
      labels: this.opts.labels ?? {},
      internalIP: this.opts.internalIP ?? machineAddress(),
      hostname: this.opts.hostname ?? machineHostname(),
      resources: { ...machineResources(), ...(this.opts.resources ?? {}) },
      endpoint: this.endpoint,
      runtimeVersion,
    };
    await this.registerWithRetry();
    this.every(this.opts.leaseRenewMs ?? LEASE_RENEW_MS, () => this.renewLease());
    this.every(this.opts.nodeStatusCheckMs ?? NODE_STATUS_CHECK_MS, () => this.reportNodeStatus(false));
    await this.renewLease().catch((err: unknown) => this.logger.warn('lease renewal failed', { error: (err as Error).message }));

    for (const c of await this.runtime.list()) {
      const uid = c.labels[ContainerLabel.podUid] ?? '';
      const list = this.adoptable.get(uid) ?? [];
      list.push(c);
      this.adoptable.set(uid, list);
    }
    this.podWatch = new PodWatch(this.api, this.nodeName, { onSynced: (pods) => this.onSynced(pods), onUpsert: (p) => this.onUpsert(p), onDelete: (p) => this.onDelete(p) }, this.clock, this.logger);
    this.podWatch.start();
  }

  private every(ms: number, fn: () => Promise<void>): void {
    let cancel: () => void = () => undefined;
    const tick = (): void => {
      if (this.stopped) return;
      void fn()
        .catch((err: unknown) => this.logger.warn('periodic task failed', { error: (err as Error).message }))
        .finally(() => {
          if (!this.stopped) cancel = this.clock.after(ms, tick);
        });
    };
    cancel = this.clock.after(ms, tick);
    this.cancels.push(() => cancel());
  }

  // ---- node and lease ----

  private async registerWithRetry(): Promise<void> {
    let backoff = 200;
    for (;;) {
      try {
        await this.register();
        return;
      } catch (err) {
        if (this.stopped) throw err;
        this.logger.warn('node registration failed; retrying', { node: this.nodeName, error: (err as Error).message, backoffMs: backoff });
        await sleep(this.clock, backoff);
        backoff = Math.min(backoff * 2, REGISTER_BACKOFF_MAX_MS);
      }
    }
  }

  private async register(): Promise<void> {
    const identity = this.identity;
    if (identity === undefined) return;
    let node: Node;
    try {
      const existing = await this.api.get<Node>('Node', this.nodeName);
      node = await this.api.update<Node>(nodeObject(identity, existing));
    } catch (err) {
      if (!isNotFound(err)) throw err;
      node = await this.api.create<Node>(nodeObject(identity));
    }
    this.logger.info('node registered', { node: this.nodeName });
    await this.writeNodeStatus(node);
  }

  private conditionsNow(runtimeReady: boolean, message: string): NodeCondition[] {
    const sample = this.opts.samplePressure?.() ?? samplePressure(this.opts.diskPath ?? '/');
    return nodeConditions(sample, runtimeReady, message, this.lastConditions, new Date(this.clock.now()));
  }

  private async writeNodeStatus(node: Node, conditions?: NodeCondition[]): Promise<void> {
    const identity = this.identity;
    if (identity === undefined) return;
    const conds = conditions ?? this.conditionsNow(true, 'flotilla agent is posting ready status');
    let current = node;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.api.updateStatus<Node>({ ...current, status: nodeStatus(identity, conds) });
        this.lastConditions = conds;
        this.lastStatusWrite = this.clock.now();
        return;
      } catch (err) {
        if (!isConflict(err) || attempt >= 3) throw err;
        current = await this.api.get<Node>('Node', this.nodeName);
      }
    }
  }

  private async reportNodeStatus(force: boolean): Promise<void> {
    let ready = true;
    let message = 'flotilla agent is posting ready status';
    try {
      await this.runtime.version();
    } catch (err) {
      ready = false;
      message = `container runtime is down: ${(err as Error).message}`;
    }
    const conds = this.conditionsNow(ready, message);
    const changed = JSON.stringify(conds.map((c) => [c.type, c.status])) !== JSON.stringify((this.lastConditions ?? []).map((c) => [c.type, c.status]));
    if (!force && !changed && this.clock.now() - this.lastStatusWrite < NODE_STATUS_REPORT_MS) return;
    try {
      await this.writeNodeStatus(await this.api.get<Node>('Node', this.nodeName), conds);
    } catch (err) {
      if (isNotFound(err)) await this.register();
      else throw err;
    }
  }

  private async renewLease(): Promise<void> {
    const now = new Date(this.clock.now()).toISOString();
    const spec = { holderIdentity: this.nodeName, leaseDurationSeconds: LEASE_DURATION_SECONDS, renewTime: now };
    if (this.lease !== undefined) {
      try {
        this.lease = await this.api.update<Lease>({ ...this.lease, spec: { ...this.lease.spec, ...spec } });
        return;
      } catch (err) {
        if (!isConflict(err) && !isNotFound(err)) throw err;
        this.lease = undefined;
      }
    }
    try {
      const existing = await this.api.get<Lease>('Lease', this.nodeName, LEASE_NAMESPACE);
      this.lease = await this.api.update<Lease>({ ...existing, spec: { ...existing.spec, ...spec } });
    } catch (err) {
      if (!isNotFound(err)) throw err;
      try {
        this.lease = await this.api.create<Lease>({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: this.nodeName, namespace: LEASE_NAMESPACE }, spec: { ...spec, acquireTime: now } });
      } catch (e) {
        if (!isAlreadyExists(e)) throw e;
      }
    }
  }

  // ---- pods ----

  private workerDeps(): ConstructorParameters<typeof PodWorker>[1] {
    return {
      api: this.api,
      runtime: this.runtime,
      clock: this.clock,
      hostIP: this.identity?.internalIP ?? '127.0.0.1',
      crashBackoff: this.opts.crashBackoff ?? KUBERNETES_CRASH_BACKOFF,
      imageBackoff: this.opts.imageBackoff ?? KUBERNETES_IMAGE_BACKOFF,
      dialTcp: this.opts.dialTcp ?? dialTcp,
      secondMs: this.opts.secondMs ?? 1000,
      logger: this.logger,
    };
  }

  private async onSynced(pods: readonly Pod[]): Promise<void> {
    for (const pod of pods) this.onUpsert(pod);
    // What is left was not claimed by any pod bound here: orphans.
    const orphans = [...this.adoptable.values()].flat();
    this.adoptable.clear();
    // In the background: a pod bound here must not wait for an orphan's grace period.
    void Promise.all(
      orphans.map(async (c) => {
        this.logger.info('removing orphaned container', { id: c.id, podUid: c.labels[ContainerLabel.podUid] ?? '' });
        await this.runtime.stop(c.id, ORPHAN_GRACE_MS).catch(() => undefined);
        await this.runtime.remove(c.id).catch((err: unknown) => this.logger.warn('orphan removal failed', { id: c.id, error: (err as Error).message }));
      }),
    ).then(() => this.markSynced());
  }

  private onUpsert(pod: Pod): void {
    if (this.stopped) return;
    const uid = pod.metadata.uid ?? '';
    if (this.finishedUids.has(uid)) return;
    const existing = this.workers.get(uid);
    if (existing !== undefined) {
      existing.update(pod);
      return;
    }
    const adopted = this.adoptable.get(uid) ?? [];
    this.adoptable.delete(uid);
    const phase = pod.status?.phase;
    // A finished pod whose containers are gone is not run again; only its deletion is handled.
    if ((phase === 'Succeeded' || phase === 'Failed') && adopted.length === 0 && pod.metadata.deletionTimestamp === undefined) return;
    const worker = new PodWorker(pod, this.workerDeps(), adopted);
    this.workers.set(uid, worker);
    this.byName.set(podKey(pod), worker);
    void worker.whenFinished().then(() => this.forget(uid, podKey(pod)));
    worker.kick();
  }

  private onDelete(pod: Pod): void {
    const uid = pod.metadata.uid ?? '';
    const w = this.workers.get(uid);
    if (w !== undefined) w.removed();
  }

  private forget(uid: string, key: string): void {
    this.workers.delete(uid);
    if (this.byName.get(key)?.uid === uid) this.byName.delete(key);
    this.finishedUids.add(uid);
    if (this.finishedUids.size > FINISHED_PODS_REMEMBERED) {
      const oldest = this.finishedUids.values().next().value;
      if (oldest !== undefined) this.finishedUids.delete(oldest);
    }
  }

  /** The worker of a pod running here, by namespace and name. */
  worker(namespace: string, name: string): PodWorker | undefined {
    return this.byName.get(`${namespace}/${name}`);
  }

  get podCount(): number {
    return this.workers.size;
  }

  private logsOf(namespace: string, pod: string, container: string, opts: { follow: boolean; previous: boolean; signal: AbortSignal }): AsyncIterable<Uint8Array> | undefined {
    const w = this.worker(namespace, pod);
    const id = w?.logContainerId(container, opts.previous);
    if (id === undefined) return undefined;
    return this.runtime.logs(id, { follow: opts.follow, signal: opts.signal });
  }

  /** Stops watching and heartbeating; containers keep running for the next agent to adopt. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const c of this.cancels.splice(0)) c();
    await this.podWatch?.stop();
    for (const w of this.workers.values()) w.detach();
    await this.http?.close();
  }
}
