// A private containerd: its own root, state and socket under one folder, so tests and `flotilla up`
// never touch the machine's containerd. The CRI plugin is disabled (Flotilla speaks to containerd
// through ctr, and CRI would start CNI and a streaming server for nothing).

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** How long containerd may take to answer on its socket. */
export const CONTAINERD_START_TIMEOUT_MS = 20_000;
/** How long containerd gets after SIGTERM before SIGKILL. */
export const CONTAINERD_STOP_GRACE_MS = 5_000;

export class ContainerdUnavailableError extends Error {
  override readonly name = 'ContainerdUnavailableError';
}

export interface ContainerdDaemon {
  readonly address: string;
  readonly dir: string;
  readonly pid: number;
  /** Pass to CtrRuntime: what this machine's kernel and filesystem allow. */
  readonly snapshotter: 'overlayfs' | 'native';
  stop(): Promise<void>;
}

export function commandExists(name: string): boolean {
  return spawnSync('sh', ['-c', 'command -v "$1"', 'sh', name], { stdio: 'ignore' }).status === 0;
}

/** overlayfs when the kernel has it (and the folder is not itself on overlayfs), else native. */
export function chooseSnapshotter(dir: string): 'overlayfs' | 'native' {
  const hasOverlay = existsSync('/proc/filesystems') && /\toverlay$/m.test(readFileSync('/proc/filesystems', 'utf8'));
  const df = spawnSync('stat', ['-f', '-c', '%T', dir], { encoding: 'utf8' });
  const onOverlay = df.status === 0 && df.stdout.trim() === 'overlayfs';
  return hasOverlay && !onOverlay ? 'overlayfs' : 'native';
}

/** containerd 1.6's snapshotter is the client's choice (ctr --snapshotter), not the daemon's. */
export function containerdConfig(dir: string): string {
  return [
    'version = 2',
    `root = "${join(dir, 'root')}"`,
    `state = "${join(dir, 'state')}"`,
    'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
    '[grpc]',
    `  address = "${join(dir, 'containerd.sock')}"`,
    '[ttrpc]',
    `  address = "${join(dir, 'containerd.sock.ttrpc')}"`,
    '',
  ].join('\n');
}

function answers(address: string): boolean {
  return spawnSync('ctr', ['--address', address, 'version'], { stdio: 'ignore', timeout: 2_000 }).status === 0;
}

/** Starts containerd in `dir` (created if need be) and waits until its socket answers. */
export async function startContainerd(dir: string): Promise<ContainerdDaemon> {
  if (!commandExists('containerd') || !commandExists('ctr')) throw new ContainerdUnavailableError('containerd and ctr are not installed (on Debian: apt-get install containerd runc)');
  mkdirSync(dir, { recursive: true });
  const config = join(dir, 'config.toml');
  writeFileSync(config, containerdConfig(dir));
  const snapshotter = chooseSnapshotter(dir);
  const address = join(dir, 'containerd.sock');
  const log = createWriteStream(join(dir, 'containerd.log'), { flags: 'a' });
  const child: ChildProcess = spawn('containerd', ['--config', config], { stdio: ['ignore', 'pipe', 'pipe'], detached: false });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  const deadline = Date.now() + CONTAINERD_START_TIMEOUT_MS;
  while (!answers(address)) {
    if (child.exitCode !== null) throw new ContainerdUnavailableError(`containerd exited (${child.exitCode}); see ${join(dir, 'containerd.log')}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new ContainerdUnavailableError(`containerd did not answer on ${address} within ${CONTAINERD_START_TIMEOUT_MS} ms`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    address,
    dir,
    snapshotter,
    pid: child.pid ?? -1,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const kill = setTimeout(() => child.kill('SIGKILL'), CONTAINERD_STOP_GRACE_MS);
        child.once('exit', () => {
          clearTimeout(kill);
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}
