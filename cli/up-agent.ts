// The lab's node agents for `flotilla up`: one real agent over a private containerd (its root,
// state and socket under the lab folder) where containerd is installed, else simulated agents.
// Either way `up` says which.

import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { commandExists, startContainerd, type ContainerdDaemon } from '../nodeagent/runtime/containerd-daemon.js';
import { imageArchiveFileName } from '../nodeagent/runtime/image-ref.js';
import { BUSYBOX_IMAGE_NAME, BUSYBOX_STATIC_PATH, buildBusyboxImageArchive } from '../nodeagent/runtime/oci-image.js';
import type { LabLayout } from './lab.js';

/** Simulated nodes `up` starts where there is no containerd. */
export const LAB_SIMULATED_NODES = 2;
/** The real agent's log endpoint. */
export const LAB_AGENT_PORT = 10250;
const AGENT_STOP_GRACE_MS = 5_000;

export interface LabAgents {
  readonly mode: 'containerd' | 'simulated';
  readonly nodes: readonly string[];
  stop(): Promise<void>;
}

function stopChild(c: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (c.exitCode !== null || c.signalCode !== null) return resolve();
    const kill = setTimeout(() => c.kill('SIGKILL'), AGENT_STOP_GRACE_MS);
    c.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    c.kill('SIGTERM');
  });
}

/** `token` is the lab's API token: the agents present it to the masters. */
export async function startLabAgents(lab: LabLayout, bin: string, token: string, out: NodeJS.WritableStream): Promise<LabAgents> {
  const masters = lab.members.map((m) => m.listen).join(',');
  const children: ChildProcess[] = [];
  const spawnAgent = (name: string, args: readonly string[]): void => {
    const log = createWriteStream(join(lab.dir, `agent-${name}.log`), { flags: 'a' });
    const child = spawn(process.execPath, [bin, 'agent', '--name', name, '--masters', masters, ...args], { env: { ...process.env, FLOTILLA_TOKEN: token }, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
    children.push(child);
  };

  let daemon: ContainerdDaemon | undefined;
  const haveContainerd = commandExists('containerd') && commandExists('ctr') && commandExists('runc');
  if (haveContainerd) {
    const external = process.env['CONTAINERD_ADDRESS'];
    let address = external;
    let snapshotter = process.env['CONTAINERD_SNAPSHOTTER'];
    if (address === undefined || address === '') {
      daemon = await startContainerd(join(lab.dir, 'containerd'));
      address = daemon.address;
      snapshotter = daemon.snapshotter;
    }
    const stateDir = join(lab.dir, 'agent');
    const imageDir = join(stateDir, 'images');
    mkdirSync(imageDir, { recursive: true });
    const archive = join(imageDir, imageArchiveFileName(BUSYBOX_IMAGE_NAME));
    if (!existsSync(archive) && existsSync(BUSYBOX_STATIC_PATH)) writeFileSync(archive, buildBusyboxImageArchive());
    spawnAgent('lab-node-1', [
      '--containerd-address', address,
      ...(snapshotter !== undefined ? ['--snapshotter', snapshotter] : []),
      '--state-dir', stateDir,
      '--image-dir', imageDir,
      '--listen', `127.0.0.1:${LAB_AGENT_PORT}`,
      '--node-ip', '127.0.0.1',
    ]);
    out.write(`node agent lab-node-1: real containers through containerd at ${address} (image ${BUSYBOX_IMAGE_NAME} from ${imageDir}); log in ${join(lab.dir, 'agent-lab-node-1.log')}\n`);
  } else {
    const nodes = Array.from({ length: LAB_SIMULATED_NODES }, (_, i) => `sim-node-${i + 1}`);
    nodes.forEach((n, i) => spawnAgent(n, ['--simulated', '--listen', `127.0.0.1:${LAB_AGENT_PORT + 1 + i}`, '--node-ip', '127.0.0.1', '--state-dir', join(lab.dir, n)]));
    out.write(`node agents ${nodes.join(', ')}: SIMULATED (containerd is not installed; apt-get install containerd runc busybox-static for real containers)\n`);
  }
  return {
    mode: haveContainerd ? 'containerd' : 'simulated',
    nodes: haveContainerd ? ['lab-node-1'] : Array.from({ length: LAB_SIMULATED_NODES }, (_, i) => `sim-node-${i + 1}`),
    stop: async () => {
      await Promise.all(children.map(stopChild));
      await daemon?.stop();
    },
  };
}
