// A runtime with no processes: a container "runs" as a timer, so one machine can host the
// benchmark's thousands of nodes. It understands just enough of a shell command to make pods
// behave: `sleep N` runs N seconds, `exit N` exits with N (immediately, or after the sleep), and
// anything else runs until stopped. `echo WORDS` lines become the log. Stopping honours SIGTERM
// unless the command has `trap "" TERM`, in which case only the grace period's SIGKILL ends it.

import {
  ContainerNotFoundError,
  ContainerStartError,
  ImagePullError,
  type ContainerExit,
  type ContainerRecord,
  type ContainerRuntime,
  type ContainerSpec,
  type ExecResult,
  type LogOptions,
} from './runtime.js';
import { normalizeImageRef } from './image-ref.js';

export interface SimulatedRuntimeOptions {
  /** Delay of start(), as a real runtime's create+start takes. */
  readonly startLatencyMs?: number;
  /** Images that are present; undefined = every image except those named by missingImages. */
  readonly images?: readonly string[];
  readonly missingImages?: readonly string[];
  /** Memory a container "uses"; above its limit it is OOM-killed at start. */
  readonly memoryUsageBytes?: (spec: ContainerSpec) => number;
  readonly now?: () => number;
}

interface SimContainer {
  readonly spec: ContainerSpec;
  state: 'running' | 'exited';
  exit: ContainerExit | undefined;
  timer: NodeJS.Timeout | undefined;
  readonly waiters: ((exit: ContainerExit) => void)[];
  readonly log: string[];
  readonly ignoresTerm: boolean;
}

export interface ParsedSimCommand {
  readonly runMs: number | undefined;
  readonly exitCode: number;
  readonly echoes: readonly string[];
  readonly ignoresTerm: boolean;
}

export function parseSimCommand(argv: readonly string[]): ParsedSimCommand {
  const text = argv.join(' ');
  const sleep = /\bsleep\s+(\d+(?:\.\d+)?)/.exec(text);
  const exit = /\bexit\s+(\d+)/.exec(text);
  const echoes = [...text.matchAll(/\becho\s+([^;&|]*)/g)].map((m) => (m[1] ?? '').trim().replace(/^["']|["']$/g, ''));
  const loops = /\bwhile\b|\btail -f\b|\bhttpd\b/.test(text);
  let runMs: number | undefined;
  if (sleep !== null && !loops) runMs = Number(sleep[1]) * 1000;
  else if (exit !== null && !loops) runMs = 0;
  else if (sleep === null && exit === null && !loops && argv.length > 0 && /^(true|false|echo)\b/.test(text.replace(/^sh -c /, ''))) runMs = 0;
  const exitCode = exit !== null ? Number(exit[1]) : /^(sh -c )?false\b/.test(text) ? 1 : 0;
  return { runMs, exitCode, echoes, ignoresTerm: /trap\s+(""|'')\s+(TERM|15)/.test(text) };
}

export class SimulatedRuntime implements ContainerRuntime {
  private readonly containers = new Map<string, SimContainer>();
  private readonly now: () => number;
  /** Containers started since creation; for benchmarks and tests. */
  started = 0;

  constructor(private readonly opts: SimulatedRuntimeOptions = {}) {
    this.now = opts.now ?? Date.now;
  }

  async version(): Promise<string> {
    return 'simulated 1.0';
  }

  async ensureImage(image: string): Promise<void> {
    const ref = normalizeImageRef(image);
    const missing = (this.opts.missingImages ?? []).some((m) => normalizeImageRef(m) === ref);
    const absent = this.opts.images !== undefined && !this.opts.images.some((m) => normalizeImageRef(m) === ref);
    if (missing || absent) throw new ImagePullError(image, 'not present (simulated runtime)');
  }

  async start(spec: ContainerSpec): Promise<void> {
    if (this.containers.has(spec.id)) throw new ContainerStartError(spec.id, 'a container with this id exists');
    await this.ensureImage(spec.image);
    const latency = this.opts.startLatencyMs ?? 0;
    if (latency > 0) await new Promise((r) => setTimeout(r, latency));
    const cmd = parseSimCommand(spec.argv);
    const c: SimContainer = { spec, state: 'running', exit: undefined, timer: undefined, waiters: [], log: cmd.echoes.map((e) => `${e}\n`), ignoresTerm: cmd.ignoresTerm };
    this.containers.set(spec.id, c);
    this.started++;
    const usage = this.opts.memoryUsageBytes?.(spec) ?? 0;
    if (spec.memoryLimitBytes !== undefined && usage > spec.memoryLimitBytes) {
      c.timer = setTimeout(() => this.finish(c, 137, true), 0);
    } else if (cmd.runMs !== undefined) {
      c.timer = setTimeout(() => this.finish(c, cmd.exitCode, false), cmd.runMs);
    }
  }

  private finish(c: SimContainer, exitCode: number, oomKilled: boolean): void {
    if (c.state === 'exited') return;
    if (c.timer !== undefined) clearTimeout(c.timer);
    c.state = 'exited';
    c.exit = { id: c.spec.id, exitCode, oomKilled, finishedAt: this.now() };
    for (const w of c.waiters.splice(0)) w(c.exit);
  }

  private get(id: string): SimContainer {
    const c = this.containers.get(id);
    if (c === undefined) throw new ContainerNotFoundError(id);
    return c;
  }

  async wait(id: string): Promise<ContainerExit> {
    const c = this.get(id);
    if (c.exit !== undefined) return c.exit;
    return new Promise((resolve) => c.waiters.push(resolve));
  }

  async stop(id: string, graceMs: number): Promise<ContainerExit | undefined> {
    const c = this.containers.get(id);
    if (c === undefined) return undefined;
    if (c.exit !== undefined) return c.exit;
    if (c.ignoresTerm) {
      if (c.timer !== undefined) clearTimeout(c.timer);
      c.timer = setTimeout(() => this.finish(c, 137, false), Math.max(0, graceMs));
    } else {
      this.finish(c, 143, false);
    }
    return this.wait(id);
  }

  async remove(id: string): Promise<void> {
    const c = this.containers.get(id);
    if (c === undefined) return;
    this.finish(c, 137, false);
    this.containers.delete(id);
  }

  async list(): Promise<ContainerRecord[]> {
    return [...this.containers.values()].map((c) => ({ id: c.spec.id, image: c.spec.image, labels: c.spec.labels, state: c.state }));
  }

  async exec(id: string, argv: readonly string[]): Promise<ExecResult> {
    const c = this.get(id);
    if (c.state !== 'running') return { exitCode: 126, output: 'container is not running' };
    const cmd = parseSimCommand(argv);
    return { exitCode: cmd.exitCode, output: cmd.echoes.join('\n') };
  }

  async *logs(id: string, opts: LogOptions = {}): AsyncGenerator<Uint8Array, void, undefined> {
    const c = this.get(id);
    let sent = 0;
    for (;;) {
      while (sent < c.log.length) yield Buffer.from(c.log[sent++] ?? '');
      if (opts.follow !== true || c.state === 'exited' || opts.signal?.aborted === true) return;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async close(): Promise<void> {
    for (const c of this.containers.values()) if (c.timer !== undefined) clearTimeout(c.timer);
  }
}
