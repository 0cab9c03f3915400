// Test support for the etcd face: the real etcdctl and etcd binaries run as child processes, our
// server on a LocalBackend over a throwaway store, a clock tests move by hand. Free of test-framework
// imports so it compiles with the rest of the package.
//
// A missing binary is an error with the package to install, never a skip: CI installs Debian's
// etcd-client and etcd-server, and a suite that silently skips proves nothing.

import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { type Clock, systemClock } from '../../raft/driver/raft-node.js';
import { LocalBackend, type LocalBackendOptions } from '../local-backend.js';
import { type TempStore, openTempStore } from '../mvcc/testing.js';
import { type EtcdServer, startEtcdServer } from './server.js';

/** How long one etcdctl command may run before the test kills it. */
export const ETCDCTL_TIMEOUT_MS = 20_000;
/** How long a real etcd may take to start serving. */
export const ETCD_START_TIMEOUT_MS = 20_000;
/** After SIGTERM, a process gets this long to exit before SIGKILL. */
export const PROCESS_STOP_GRACE_MS = 5_000;
/** Output a background process may accumulate (a watch printing events). */
export const MAX_CAPTURED_OUTPUT_CHARS = 1_000_000;
/** How often a waiting helper polls. */
export const POLL_MS = 20;

/** The Debian package that provides each binary. */
export const BINARY_PACKAGES = { etcdctl: 'etcd-client', etcd: 'etcd-server' } as const;

/** The absolute path of an executable on PATH. Throws naming the Debian package when it is missing. */
export function requireBinary(name: keyof typeof BINARY_PACKAGES): string {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  const pkg = BINARY_PACKAGES[name];
  throw new Error(
    `${name} is not on PATH: these tests run the real binary. Install it with \`apt-get install ${pkg}\` (Debian package ${pkg}).`,
  );
}

/**
 * Whether every binary is installed. A suite's beforeAll checks this and does nothing when one is
 * missing, and its beforeEach calls requireBinary: a failing beforeAll would only mark the tests
 * skipped, while a failing beforeEach fails each of them, with the message that says what to install.
 */
export function binariesInstalled(...names: (keyof typeof BINARY_PACKAGES)[]): boolean {
  try {
    for (const name of names) requireBinary(name);
    return true;
  } catch {
    return false;
  }
}

export interface ProcessResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

function etcdctlEnv(): NodeJS.ProcessEnv {
  // ETCDCTL_* variables of the caller's shell would change what etcdctl does.
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!name.startsWith('ETCDCTL_')) env[name] = value;
  env['ETCDCTL_API'] = '3';
  return env;
}

/** Stops a child by its pid: SIGTERM, then SIGKILL after PROCESS_STOP_GRACE_MS. */
export function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return Promise.resolve();
  const pid = child.pid;
  return new Promise((resolve) => {
    const kill = setTimeout(() => {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }, PROCESS_STOP_GRACE_MS);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      clearTimeout(kill);
      resolve();
    }
  });
}

/** A child process whose output is captured (bounded) while it runs. */
export class BackgroundProcess {
  private out = '';
  private err = '';
  private readonly exited: Promise<void>;

  constructor(readonly child: ChildProcess) {
    const append = (current: string, chunk: Buffer): string =>
      (current + chunk.toString('utf8')).slice(-MAX_CAPTURED_OUTPUT_CHARS);
    child.stdout?.on('data', (chunk: Buffer) => (this.out = append(this.out, chunk)));
    child.stderr?.on('data', (chunk: Buffer) => (this.err = append(this.err, chunk)));
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  get stdout(): string {
    return this.out;
  }

  get stderr(): string {
    return this.err;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves once the output satisfies `done`; rejects after timeoutMs, or when the process exits first. */
  async waitFor(done: (stdout: string, stderr: string) => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!done(this.out, this.err)) {
      if (!this.running) {
        await this.exited;
        if (done(this.out, this.err)) return;
        throw new Error(`process exited before ${what}; stdout:\n${this.out}\nstderr:\n${this.err}`);
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; stdout:\n${this.out}\nstderr:\n${this.err}`);
      await sleep(POLL_MS);
    }
  }

  /** Resolves when the process exits by itself. */
  async exit(timeoutMs: number): Promise<ProcessResult> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`process ${this.child.pid} did not exit within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
    return this.result();
  }

  private result(): ProcessResult {
    return { code: this.child.exitCode, signal: this.child.signalCode, stdout: this.out, stderr: this.err };
  }

  async stop(): Promise<ProcessResult> {
    await stopProcess(this.child);
    await this.exited;
    return this.result();
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Starts etcdctl (ETCDCTL_API=3) against one endpoint, in the background. */
export function startEtcdctl(endpoint: string, args: readonly string[], stdin?: string): BackgroundProcess {
  const child = spawn(requireBinary('etcdctl'), ['--endpoints', endpoint, ...args], {
    env: etcdctlEnv(),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  if (stdin !== undefined) child.stdin?.end(stdin);
  else child.stdin?.end();
  return new BackgroundProcess(child);
}

/** Runs one etcdctl command to completion (killed after ETCDCTL_TIMEOUT_MS). */
export async function etcdctl(endpoint: string, args: readonly string[], stdin?: string): Promise<ProcessResult> {
  const run = startEtcdctl(endpoint, args, stdin);
  try {
    return await run.exit(ETCDCTL_TIMEOUT_MS);
  } finally {
    await run.stop();
  }
}

/** A clock whose time moves only when told; its timers are real, so background ticks still run. */
export class ManualClock implements Clock {
  private offsetMs = 0;
  /** Whole milliseconds, so that deadlines computed from it add up exactly. */
  private readonly base = Math.floor(systemClock.now());

  now(): number {
    return this.base + this.offsetMs;
  }

  advance(ms: number): void {
    this.offsetMs += ms;
  }

  setInterval(fn: () => void, ms: number): unknown {
    return systemClock.setInterval(fn, ms);
  }

  clearInterval(handle: unknown): void {
    systemClock.clearInterval(handle);
  }

  setTimeout(fn: () => void, ms: number): unknown {
    return systemClock.setTimeout(fn, ms);
  }

  clearTimeout(handle: unknown): void {
    systemClock.clearTimeout(handle);
  }
}

export interface LocalEtcd {
  readonly temp: TempStore;
  readonly backend: LocalBackend;
  readonly server: EtcdServer;
  /** host:port, as etcdctl's --endpoints takes it. */
  readonly endpoint: string;
  close(): Promise<void>;
}

/** Our etcd endpoint on a LocalBackend over a fresh store. */
export async function startLocalEtcd(options: Omit<LocalBackendOptions, 'store'> = {}): Promise<LocalEtcd> {
  const temp = openTempStore('flotilla-etcd-');
  const backend = new LocalBackend({
    store: temp.store,
    name: 'flotilla',
    dbSizeBytes: () => {
      const stats = temp.root.getStats() as { pageSize: number; lastPageNumber: number };
      return (stats.lastPageNumber + 1) * stats.pageSize;
    },
    ...options,
  });
  const server = await startEtcdServer({ backend });
  backend.advertiseClientUrls([`http://127.0.0.1:${server.port}`]);
  return {
    temp,
    backend,
    server,
    endpoint: `127.0.0.1:${server.port}`,
    async close() {
      backend.close();
      await server.close();
      await temp.dispose();
    },
  };
}

/** A free loopback port (it may be taken again before use; etcd then fails to start, loudly). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      probe.close(() => (port === 0 ? reject(new Error('no port bound')) : resolve(port)));
    });
  });
}

export interface RealEtcd {
  readonly endpoint: string;
  readonly process: BackgroundProcess;
  stop(): Promise<void>;
}

/** Starts the real etcd (Debian's etcd-server) on loopback, with its own data directory; resolves once it serves. */
export async function startRealEtcd(name = 'parity'): Promise<RealEtcd> {
  const binary = requireBinary('etcd');
  requireBinary('etcdctl');
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-real-etcd-'));
  const clientPort = await freePort();
  const peerPort = await freePort();
  const clientUrl = `http://127.0.0.1:${clientPort}`;
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  const child = spawn(
    binary,
    [
      '--name', name,
      '--data-dir', join(dir, 'data'),
      '--listen-client-urls', clientUrl,
      '--advertise-client-urls', clientUrl,
      '--listen-peer-urls', peerUrl,
      '--initial-advertise-peer-urls', peerUrl,
      '--initial-cluster', `${name}=${peerUrl}`,
      '--log-level', 'error',
    ],
    { env: etcdctlEnv(), stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const etcd = new BackgroundProcess(child);
  const endpoint = `127.0.0.1:${clientPort}`;
  const stop = async (): Promise<void> => {
    await etcd.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const deadline = Date.now() + ETCD_START_TIMEOUT_MS;
    for (;;) {
      if (!etcd.running) throw new Error(`etcd exited during start-up:\n${etcd.stderr}`);
      const probe = await etcdctl(endpoint, ['--dial-timeout', '1s', '--command-timeout', '2s', 'get', 'flotilla-probe']);
      if (probe.code === 0) break;
      if (Date.now() > deadline) throw new Error(`etcd did not serve within ${ETCD_START_TIMEOUT_MS} ms:\n${etcd.stderr}`);
      await sleep(100);
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { endpoint, process: etcd, stop };
}
