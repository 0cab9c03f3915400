// Tests' containerd: the one CONTAINERD_ADDRESS names (CI starts one), or a private one started
// here, so `npx vitest run nodeagent` works on any machine with containerd installed. Each test
// file uses its own containerd namespace, so files can share one daemon.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chooseSnapshotter, startContainerd, type ContainerdDaemon } from './containerd-daemon.js';
import { CtrRuntime } from './ctr.js';
import { imageArchiveFileName } from './image-ref.js';
import { buildBusyboxImageArchive, BUSYBOX_IMAGE_NAME } from './oci-image.js';

export interface ContainerdFixture {
  readonly address: string;
  readonly snapshotter: string;
  /** A folder for this file's logs and archives; removed by close(). */
  readonly dir: string;
  /** Holds BUSYBOX_IMAGE_NAME's archive under its CtrRuntime file name. */
  readonly imageDir: string;
  openRuntime(namespace: string, opts?: { pollIntervalMs?: number; logDir?: string }): Promise<CtrRuntime>;
  /** Removes every container of the namespace (tests' leftovers). */
  cleanNamespace(namespace: string): Promise<void>;
  close(): Promise<void>;
}

export async function containerdFixture(): Promise<ContainerdFixture> {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-agent-test-'));
  let daemon: ContainerdDaemon | undefined;
  let address = process.env['CONTAINERD_ADDRESS'];
  let snapshotter = process.env['CONTAINERD_SNAPSHOTTER'];
  if (address === undefined || address === '') {
    daemon = await startContainerd(join(dir, 'containerd'));
    address = daemon.address;
    snapshotter ??= daemon.snapshotter;
  }
  snapshotter ??= chooseSnapshotter(dir);
  const imageDir = join(dir, 'images');
  mkdirSync(imageDir, { recursive: true });
  writeFileSync(join(imageDir, imageArchiveFileName(BUSYBOX_IMAGE_NAME)), buildBusyboxImageArchive());
  const runtimes: CtrRuntime[] = [];
  const fixtureAddress = address;
  const fixtureSnapshotter = snapshotter;
  const openRuntime = async (namespace: string, opts: { pollIntervalMs?: number; logDir?: string } = {}): Promise<CtrRuntime> => {
    const rt = await CtrRuntime.open({
      address: fixtureAddress,
      namespace,
      logDir: opts.logDir ?? join(dir, 'logs', namespace),
      imageDir,
      snapshotter: fixtureSnapshotter,
      ...(opts.pollIntervalMs !== undefined ? { pollIntervalMs: opts.pollIntervalMs } : {}),
    });
    runtimes.push(rt);
    return rt;
  };
  const cleanNamespace = async (namespace: string): Promise<void> => {
    const rt = await openRuntime(namespace);
    for (const c of await rt.list()) await rt.remove(c.id);
  };
  return {
    address,
    snapshotter,
    dir,
    imageDir,
    openRuntime,
    cleanNamespace,
    close: async () => {
      for (const rt of runtimes) await rt.close();
      await daemon?.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
