// The ContainerRuntime over containerd's `ctr` client: every call is a spawned `ctr` with
// --address and --namespace (never a shell string). Measured against containerd 1.6 on Debian 12:
//
// - `ctr run -d` creates and starts in ~0.15 s; `--log-uri file://PATH` makes the shim write the
//   container's stdout and stderr to PATH, so output outlives this process and the ctr client.
// - 1.6 has no `ctr task wait`. Exits come from one long-lived `ctr events` (/tasks/exit, whose
//   `id` equals `container_id` for the init process and an exec id otherwise); a poll of
//   `ctr task ls` every POLL_INTERVAL_MS covers an events stream that died or a missed line.
// - A stopped task's exit code is read back from `ctr task delete`, which reports it
//   ("task X exit with non-zero exit code N"); so a task is deleted only once its exit is known.
// - OOM: the container's memory cgroup counts OOM kills (v1 memory.oom_control `oom_kill`, v2
//   memory.events `oom_kill`); it is read at the exit, before the task (and cgroup) is deleted.
//   The /tasks/oom event is not emitted when the victim is not the init process, so it is not used.
// - Containers use the host network (`--net-host`): no CNI is assumed, so a pod's IP is the node's
//   and TCP probes dial 127.0.0.1.

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import {
  ContainerNotFoundError,
  ContainerStartError,
  ImagePullError,
  RuntimeCommandError,
  type ContainerExit,
  type ContainerRecord,
  type ContainerRunState,
  type ContainerRuntime,
  type ContainerSpec,
  type ExecResult,
  type LogOptions,
} from './runtime.js';
import { imageArchiveFileName, normalizeImageRef } from './image-ref.js';

/** How often running containers' tasks are polled, in case an exit event was missed. */
export const POLL_INTERVAL_MS = 2_000;
/** How long an exited task's output gets to reach its log before the task is deleted. */
export const LOG_DRAIN_MS = 200;
/** Deadline of one ordinary `ctr` call (imports get IMPORT_TIMEOUT_MS). */
export const CTR_TIMEOUT_MS = 30_000;
export const IMPORT_TIMEOUT_MS = 120_000;
/** Delay before the events stream is restarted after it ended. */
export const EVENTS_RESTART_MS = 500;
/** How often a followed log is read for new bytes. */
export const LOG_FOLLOW_POLL_MS = 100;
/** Bytes read from a log file at once. */
export const LOG_CHUNK_BYTES = 64 * 1024;
/** Parallel `ctr container info` calls while listing. */
export const LIST_PARALLELISM = 8;
/** Output an exec keeps (probes need little). */
export const MAX_EXEC_OUTPUT_BYTES = 64 * 1024;
/** CFS period for CPU limits, as Kubernetes uses. */
export const CPU_PERIOD_US = 100_000;
/** The kernel's minimum CFS quota. */
export const MIN_CPU_QUOTA_US = 1_000;

export interface CtrRuntimeOptions {
  /** containerd's socket. */
  readonly address: string;
  /** The containerd namespace the agent owns. */
  readonly namespace: string;
  /** Where containers' output files live. */
  readonly logDir: string;
  /** Where OCI archives of images are looked up (`<ref with /:@ as _>.tar`). */
  readonly imageDir?: string;
  readonly ctrPath?: string;
  readonly cgroupRoot?: string;
  readonly pollIntervalMs?: number;
  /** ctr's default (overlayfs) unless given. */
  readonly snapshotter?: string;
}

interface CtrResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

const EXIT_CODE_IN_DELETE = /exit with non-zero exit code (\d+)/;
/** Where an exit read back by deleting a task is kept, for the next agent to find. */
export const EXIT_CODE_LABEL = 'io.flotilla.container.exit-code';
export const OOM_KILLED_LABEL = 'io.flotilla.container.oom-killed';

export class CtrRuntime implements ContainerRuntime {
  private readonly ctr: string;
  private readonly cgroupRoot: string;
  /** Exits seen for containers not yet removed. */
  private readonly exits = new Map<string, ContainerExit>();
  private readonly waiters = new Map<string, ((exit: ContainerExit) => void)[]>();
  /** Exits being finalized (OOM read, task deleted), so each is finalized once. */
  private readonly finalizing = new Map<string, Promise<ContainerExit>>();
  /** Containers this client started and has not seen exit: wait() needs no ctr call for them. */
  private readonly startedHere = new Set<string>();
  private readonly presentImages = new Set<string>();
  private readonly imageLoads = new Map<string, Promise<void>>();
  private events: ChildProcess | undefined;
  private eventsReady: Promise<void> | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private closed = false;

  private constructor(private readonly opts: CtrRuntimeOptions) {
    this.ctr = opts.ctrPath ?? 'ctr';
    this.cgroupRoot = opts.cgroupRoot ?? '/sys/fs/cgroup';
  }

  /** Checks containerd answers, then subscribes to its events before anything can exit. */
  static async open(opts: CtrRuntimeOptions): Promise<CtrRuntime> {
    mkdirSync(opts.logDir, { recursive: true });
    const rt = new CtrRuntime(opts);
    await rt.version();
    rt.startEvents();
    await rt.eventsReady;
    rt.pollTimer = setInterval(() => void rt.pollExits(), opts.pollIntervalMs ?? POLL_INTERVAL_MS);
    rt.pollTimer.unref();
    return rt;
  }

  private run(args: readonly string[], timeoutMs = CTR_TIMEOUT_MS): Promise<CtrResult> {
    const argv = ['--address', this.opts.address, '--namespace', this.opts.namespace, ...args];
    return new Promise((resolve, reject) => {
      const child = spawn(this.ctr, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (s: string) => {
        if (stdout.length < MAX_EXEC_OUTPUT_BYTES * 16) stdout += s;
      });
      child.stderr.setEncoding('utf8').on('data', (s: string) => {
        if (stderr.length < MAX_EXEC_OUTPUT_BYTES) stderr += s;
      });
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.on('error', (err) => {
        clearTimeout(timer);
        reject(new RuntimeCommandError([this.ctr, ...argv], null, err.message));
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });
  }

  private async runOk(args: readonly string[], timeoutMs = CTR_TIMEOUT_MS): Promise<string> {
    const r = await this.run(args, timeoutMs);
    if (r.code !== 0) throw new RuntimeCommandError(['ctr', ...args], r.code, r.stderr);
    return r.stdout;
  }

  async version(): Promise<string> {
    const out = await this.runOk(['version'], 10_000);
    const server = /Server:[\s\S]*?Version:\s*(\S+)/.exec(out);
    return `containerd ${server?.[1] ?? 'unknown'}`;
  }

  // ---- exits ----

  private startEvents(): void {
    if (this.closed) return;
    const child = spawn(this.ctr, ['--address', this.opts.address, 'events'], { stdio: ['ignore', 'pipe', 'ignore'] });
    this.events = child;
    // `ctr events` prints nothing until an event; give the subscription a moment to be in place.
    this.eventsReady = new Promise((resolve) => setTimeout(resolve, 100));
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => this.onEventLine(line));
    child.on('error', () => undefined);
    child.on('close', () => {
      if (this.closed) return;
      setTimeout(() => {
        this.startEvents();
        void this.pollExits();
      }, EVENTS_RESTART_MS).unref();
    });
  }

  /** "2026-12-01 18:16:49.23 +0000 UTC <namespace> /tasks/exit {json}" */
  private onEventLine(line: string): void {
    const m = /^\S+ \S+ \S+ \S+ (\S+) (\/tasks\/exit) (\{.*\})$/.exec(line);
    if (m === null || m[1] !== this.opts.namespace) return;
    let ev: { container_id?: string; id?: string; exit_status?: number; exited_at?: string };
    try {
      ev = JSON.parse(m[3] ?? '') as typeof ev;
    } catch {
      return;
    }
    if (ev.container_id === undefined || ev.id !== ev.container_id) return; // an exec process
    const finishedAt = ev.exited_at !== undefined ? Date.parse(ev.exited_at) : Date.now();
    this.recordExit(ev.container_id, ev.exit_status ?? 0, finishedAt);
  }

  private recordExit(id: string, exitCode: number, finishedAt: number): void {
    if (this.exits.has(id)) return;
    const exit: ContainerExit = { id, exitCode, oomKilled: exitCode !== 0 && this.oomKills(id) > 0, finishedAt };
    this.exits.set(id, exit);
    for (const w of this.waiters.get(id) ?? []) w(exit);
    this.waiters.delete(id);
  }

  /** OOM kills counted in the container's memory cgroup (0 if it cannot be read). */
  private oomKills(id: string): number {
    const candidates = [
      join(this.cgroupRoot, 'memory', this.opts.namespace, id, 'memory.oom_control'),
      join(this.cgroupRoot, this.opts.namespace, id, 'memory.events'),
    ];
    for (const file of candidates) {
      try {
        const m = /^oom_kill (\d+)$/m.exec(readFileSync(file, 'utf8'));
        if (m !== null) return Number(m[1]);
      } catch {
        // not this cgroup version
      }
    }
    return 0;
  }

  private async taskStates(): Promise<Map<string, string>> {
    const out = await this.runOk(['task', 'ls']);
    const states = new Map<string, string>();
    for (const line of out.split('\n').slice(1)) {
      const [id, , status] = line.trim().split(/\s+/);
      if (id !== undefined && id !== '' && status !== undefined) states.set(id, status);
    }
    return states;
  }

  /** The exit of a task that is stopped (or gone), read back by deleting the task. */
  private finalizeStopped(id: string): Promise<ContainerExit> {
    const known = this.exits.get(id);
    if (known !== undefined) return Promise.resolve(known);
    let p = this.finalizing.get(id);
    if (p === undefined) {
      p = (async () => {
        // A task deleted earlier left its exit in the container's labels.
        const info = await this.run(['container', 'info', id]);
        const labels = info.code === 0 ? ((JSON.parse(info.stdout) as { Labels?: Record<string, string> | null }).Labels ?? {}) : {};
        const recorded = labels[EXIT_CODE_LABEL];
        let exitCode: number;
        let oomKilled: boolean;
        if (recorded !== undefined) {
          exitCode = Number(recorded);
          oomKilled = labels[OOM_KILLED_LABEL] === 'true';
        } else {
          const oom = this.oomKills(id);
          // The shim copies stdout and stderr into the log file on their own; deleting the task at
          // once can cut the last lines of one of them (seen here: a final stderr line lost).
          await new Promise((resolve) => setTimeout(resolve, LOG_DRAIN_MS));
          const r = await this.run(['task', 'delete', id]);
          const again = this.exits.get(id);
          if (again !== undefined) return again;
          const m = EXIT_CODE_IN_DELETE.exec(r.stderr);
          // No task at all and no label: the exit is lost (containerd's state was wiped).
          exitCode = m !== null ? Number(m[1]) : r.code === 0 ? 0 : 255;
          oomKilled = exitCode !== 0 && oom > 0;
          if (info.code === 0) await this.run(['container', 'label', id, `${EXIT_CODE_LABEL}=${exitCode}`, `${OOM_KILLED_LABEL}=${oomKilled}`]);
        }
        const exit: ContainerExit = { id, exitCode, oomKilled, finishedAt: Date.now() };
        this.exits.set(id, exit);
        for (const w of this.waiters.get(id) ?? []) w(exit);
        this.waiters.delete(id);
        return exit;
      })().finally(() => this.finalizing.delete(id));
      this.finalizing.set(id, p);
    }
    return p;
  }

  private async pollExits(): Promise<void> {
    if (this.closed || this.waiters.size === 0) return;
    let states: Map<string, string>;
    try {
      states = await this.taskStates();
    } catch {
      return;
    }
    for (const id of [...this.waiters.keys()]) {
      const st = states.get(id);
      if (st !== 'RUNNING' && st !== 'CREATED' && st !== 'PAUSED' && st !== 'PAUSING') void this.finalizeStopped(id).catch(() => undefined);
    }
  }

  async wait(id: string): Promise<ContainerExit> {
    return (await this.subscribe(id)).exit;
  }

  /** Resolves once the container is known to exist, with a promise of its exit. */
  private async subscribe(id: string): Promise<{ exit: Promise<ContainerExit> }> {
    const known = this.exits.get(id);
    if (known !== undefined) return { exit: Promise.resolve(known) };
    const pending = new Promise<ContainerExit>((resolve) => {
      const list = this.waiters.get(id) ?? [];
      list.push(resolve);
      this.waiters.set(id, list);
    });
    // Started by this client after the events subscription: its exit event cannot be missed
    // (and the poll covers a dead stream).
    if (this.startedHere.has(id)) return { exit: pending };
    const [states, containers] = await Promise.all([this.taskStates(), this.run(['container', 'ls', '-q'])]);
    if (!containers.stdout.split('\n').includes(id)) {
      this.waiters.delete(id);
      throw new ContainerNotFoundError(id);
    }
    const st = states.get(id);
    if (st !== 'RUNNING' && st !== 'CREATED' && st !== 'PAUSED' && st !== 'PAUSING') return { exit: this.finalizeStopped(id) };
    return { exit: pending };
  }

  // ---- images ----

  async ensureImage(image: string): Promise<void> {
    const ref = normalizeImageRef(image);
    if (this.presentImages.has(ref)) return;
    let load = this.imageLoads.get(ref);
    if (load === undefined) {
      load = this.loadImage(image, ref).finally(() => this.imageLoads.delete(ref));
      this.imageLoads.set(ref, load);
    }
    await load;
  }

  private async imagePresent(ref: string): Promise<boolean> {
    const out = await this.runOk(['image', 'ls', '-q']);
    return out.split('\n').some((l) => l.trim() === ref);
  }

  private async loadImage(image: string, ref: string): Promise<void> {
    try {
      if (await this.imagePresent(ref)) {
        this.presentImages.add(ref);
        return;
      }
    } catch (err) {
      throw new ImagePullError(image, `cannot list containerd's images: ${(err as Error).message}`, { cause: err });
    }
    const archive = this.opts.imageDir !== undefined ? join(this.opts.imageDir, imageArchiveFileName(ref)) : undefined;
    if (archive === undefined || !existsSync(archive)) {
      throw new ImagePullError(image, `not present in containerd namespace ${this.opts.namespace} and no archive ${archive ?? '(no image dir)'}; Flotilla pulls from no registry`);
    }
    const r = await this.run(['image', 'import', ...this.snapshotterArgs(), archive], IMPORT_TIMEOUT_MS);
    if (r.code !== 0) throw new ImagePullError(image, `import of ${archive} failed: ${r.stderr.trim()}`);
    if (!(await this.imagePresent(ref))) throw new ImagePullError(image, `${archive} does not hold ${ref} (its index.json needs an io.containerd.image.name annotation)`);
    this.presentImages.add(ref);
  }

  // ---- containers ----

  async start(spec: ContainerSpec): Promise<void> {
    const args = ['run', '-d', ...this.snapshotterArgs(), '--net-host', '--log-uri', `file://${this.logPath(spec.id)}`];
    for (const [k, v] of Object.entries(spec.labels)) args.push('--label', `${k}=${v}`);
    for (const e of spec.env) args.push('--env', `${e.name}=${e.value}`);
    if (spec.memoryLimitBytes !== undefined) args.push('--memory-limit', String(spec.memoryLimitBytes));
    if (spec.cpuLimitMillis !== undefined) {
      const quota = Math.max(MIN_CPU_QUOTA_US, Math.round((spec.cpuLimitMillis * CPU_PERIOD_US) / 1000));
      args.push('--cpu-quota', String(quota), '--cpu-period', String(CPU_PERIOD_US));
    }
    if (spec.workingDir !== undefined) args.push('--cwd', spec.workingDir);
    args.push(normalizeImageRef(spec.image), spec.id, ...spec.argv);
    const r = await this.run(args);
    if (r.code !== 0) {
      await this.remove(spec.id).catch(() => undefined);
      throw new ContainerStartError(spec.id, r.stderr.trim() || `ctr exited ${r.code ?? 'by a signal'}`);
    }
    this.startedHere.add(spec.id);
  }

  async stop(id: string, graceMs: number): Promise<ContainerExit | undefined> {
    let exited: Promise<ContainerExit>;
    try {
      exited = (await this.subscribe(id)).exit;
    } catch (err) {
      if (err instanceof ContainerNotFoundError) return undefined;
      throw err;
    }
    const done = this.exits.get(id);
    if (done !== undefined) return done;
    await this.run(['task', 'kill', '-s', 'SIGTERM', id]);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), Math.max(0, graceMs));
    });
    const first = await Promise.race([exited, timedOut]);
    clearTimeout(timer);
    if (first !== undefined) return first;
    await this.run(['task', 'kill', '-s', 'SIGKILL', id]);
    return exited;
  }

  async remove(id: string): Promise<void> {
    // A task that still runs is killed; deleting it also removes its cgroup.
    await this.run(['task', 'delete', '--force', id]);
    const r = await this.run(['container', 'delete', id]);
    if (r.code !== 0 && !/not found/i.test(r.stderr)) throw new RuntimeCommandError(['ctr', 'container', 'delete', id], r.code, r.stderr);
    const exit = this.exits.get(id);
    this.exits.delete(id);
    this.startedHere.delete(id);
    // Waiters of a container removed before it was seen to exit learn it was killed.
    for (const w of this.waiters.get(id) ?? []) w(exit ?? { id, exitCode: 137, oomKilled: false, finishedAt: Date.now() });
    this.waiters.delete(id);
    await rm(this.logPath(id), { force: true });
  }

  async list(): Promise<ContainerRecord[]> {
    const [ids, states] = await Promise.all([this.runOk(['container', 'ls', '-q']), this.taskStates()]);
    const queue = ids.split('\n').map((l) => l.trim()).filter((l) => l !== '');
    const records: ContainerRecord[] = [];
    const worker = async (): Promise<void> => {
      for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
        const r = await this.run(['container', 'info', id]);
        if (r.code !== 0) continue; // removed meanwhile
        const info = JSON.parse(r.stdout) as { Labels?: Record<string, string> | null; Image?: string };
        const st = states.get(id);
        const state: ContainerRunState = st === 'RUNNING' || st === 'PAUSED' ? 'running' : st === 'STOPPED' ? 'exited' : st === 'CREATED' ? 'created' : 'unknown';
        records.push({ id, image: info.Image ?? '', labels: info.Labels ?? {}, state });
      }
    };
    await Promise.all(Array.from({ length: LIST_PARALLELISM }, () => worker()));
    return records;
  }

  async exec(id: string, argv: readonly string[], timeoutMs: number): Promise<ExecResult> {
    const execId = `probe-${randomBytes(6).toString('hex')}`;
    const r = await this.run(['task', 'exec', '--exec-id', execId, id, ...argv], timeoutMs);
    const output = (r.stdout + r.stderr).slice(0, MAX_EXEC_OUTPUT_BYTES);
    // Killed by the timeout: report as a failure like a timed-out probe.
    return { exitCode: r.code ?? -1, output };
  }

  private snapshotterArgs(): string[] {
    return this.opts.snapshotter !== undefined ? ['--snapshotter', this.opts.snapshotter] : [];
  }

  logPath(id: string): string {
    return join(this.opts.logDir, `${id}.log`);
  }

  async *logs(id: string, opts: LogOptions = {}): AsyncGenerator<Uint8Array, void, undefined> {
    const path = this.logPath(id);
    if (!existsSync(path)) throw new ContainerNotFoundError(id);
    const file = await open(path, 'r');
    try {
      let offset = 0;
      const buf = Buffer.alloc(LOG_CHUNK_BYTES);
      for (;;) {
        if (opts.signal?.aborted === true) return;
        const { bytesRead } = await file.read(buf, 0, buf.length, offset);
        if (bytesRead > 0) {
          offset += bytesRead;
          yield Buffer.from(buf.subarray(0, bytesRead));
          continue;
        }
        // At the end: done unless following a container that has not exited.
        if (opts.follow !== true || this.exits.has(id) || !existsSync(path)) return;
        await new Promise((r) => setTimeout(r, LOG_FOLLOW_POLL_MS));
      }
    } finally {
      await file.close();
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.pollTimer !== undefined) clearInterval(this.pollTimer);
    this.events?.kill('SIGTERM');
  }
}
