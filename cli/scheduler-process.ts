// A master's scheduler, in a process of its own (`flotilla scheduler`, cli/scheduler.ts): the
// master starts it, tells it the master's Raft role as it changes, starts it again if it dies, and
// stops it (releasing the Lease) before the master stops.
//
// Why a process and not a module of the master: the active scheduler decodes every pod event and
// keeps every pod in its cache, which in the master's heap lengthened the master's garbage
// collections (every write and watch event waits them out) and kept the master's one thread busy
// with scheduling while writes queued. Apart, the two run on both cores and collect separately, and
// each gets the young generation that suits it (cli/node-args.ts).

import { fork, type ChildProcess } from 'node:child_process';
import type { Logger } from '../store/logger.js';
import { FLOTILLA_BIN, schedulerNodeArgs } from './node-args.js';
import type { SchedulerParentMessage } from './scheduler.js';

/** How often the master's Raft role is looked at, to tell the scheduler when it changes. */
export const ROLE_POLL_MS = 200;
/** The first restart of a scheduler that died waits this long; each quick death doubles it... */
export const RESTART_BACKOFF_MIN_MS = 500;
/** ...up to this. */
export const RESTART_BACKOFF_MAX_MS = 30_000;
/** A scheduler that ran this long before dying is restarted after the shortest wait again. */
export const RESTART_BACKOFF_RESET_MS = 60_000;
/** How long stop() waits after SIGTERM (the scheduler releases its Lease) before SIGKILL. */
export const SCHEDULER_STOP_TIMEOUT_MS = 2_000;

export interface SchedulerProcessOptions {
  /** The master's API, HOST:PORT. */
  readonly endpoint: string;
  /** The API token the scheduler presents (passed in its environment, not on its command line). */
  readonly token?: string;
  readonly identity: string;
  readonly profilePath?: string;
  /** Whether the master leads the Raft group now. */
  readonly isRaftLeader: () => boolean;
  /** Flags for the scheduler's node; default schedulerNodeArgs(). */
  readonly nodeArgs?: readonly string[];
  readonly logger: Logger;
}

export class SchedulerProcess {
  private child: ChildProcess | undefined;
  private startedAt = 0;
  private backoffMs = RESTART_BACKOFF_MIN_MS;
  private restartTimer: NodeJS.Timeout | undefined;
  private readonly roleTimer: NodeJS.Timeout;
  private lastRole: boolean | undefined;
  private stopping: Promise<void> | undefined;

  constructor(private readonly opts: SchedulerProcessOptions) {
    this.spawn();
    this.roleTimer = setInterval(() => this.tellRole(false), ROLE_POLL_MS);
    this.roleTimer.unref();
  }

  /** The running scheduler process's PID (for status and benchmarks), if one runs. */
  get pid(): number | undefined {
    return this.child?.exitCode === null && this.child.signalCode === null ? this.child.pid : undefined;
  }

  /** SIGTERM (the scheduler releases its Lease and exits), SIGKILL after SCHEDULER_STOP_TIMEOUT_MS. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= this.terminate();
    return this.stopping;
  }

  private async terminate(): Promise<void> {
    clearInterval(this.roleTimer);
    if (this.restartTimer !== undefined) clearTimeout(this.restartTimer);
    const child = this.child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), SCHEDULER_STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  }

  private spawn(): void {
    const args = ['scheduler', '--server', this.opts.endpoint, '--identity', this.opts.identity];
    if (this.opts.profilePath !== undefined) args.push('--profile', this.opts.profilePath);
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env['FLOTILLA_TOKEN'];
    if (this.opts.token !== undefined) env['FLOTILLA_TOKEN'] = this.opts.token;
    const child = fork(FLOTILLA_BIN, args, { execArgv: [...(this.opts.nodeArgs ?? schedulerNodeArgs())], env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child = child;
    this.startedAt = performance.now();
    this.lastRole = undefined;
    child.on('error', (error) => this.opts.logger.warn('scheduler process error', { error: error.message }));
    child.once('spawn', () => this.tellRole(true));
    child.once('exit', (code, signal) => this.exited(child, code, signal));
    this.opts.logger.info('scheduler process started', { pid: child.pid ?? null, identity: this.opts.identity });
  }

  private tellRole(force: boolean): void {
    const child = this.child;
    if (child === undefined || !child.connected) return;
    const leader = this.opts.isRaftLeader();
    if (!force && leader === this.lastRole) return;
    const message: SchedulerParentMessage = { type: 'raft-role', leader };
    this.lastRole = leader;
    // A child that cannot take the message (gone, channel full) is told again at the next poll.
    child.send(message, (error) => {
      if (error !== null && error !== undefined) this.lastRole = undefined;
    });
  }

  private exited(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.child !== child) return;
    this.child = undefined;
    if (this.stopping !== undefined) return;
    const ranMs = performance.now() - this.startedAt;
    if (ranMs >= RESTART_BACKOFF_RESET_MS) this.backoffMs = RESTART_BACKOFF_MIN_MS;
    this.opts.logger.error('scheduler process exited; starting it again', { code, signal, ranMs: Math.round(ranMs), restartInMs: this.backoffMs });
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.stopping === undefined) this.spawn();
    }, this.backoffMs);
    this.restartTimer.unref();
    this.backoffMs = Math.min(RESTART_BACKOFF_MAX_MS, this.backoffMs * 2);
  }
}
