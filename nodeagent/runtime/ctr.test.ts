import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { containerdFixture, type ContainerdFixture } from './containerd-fixture.js';
import type { CtrRuntime } from './ctr.js';
import { BUSYBOX_IMAGE_NAME } from './oci-image.js';
import { ContainerLabel, ImagePullError, type ContainerSpec } from './runtime.js';

const NS = 'flotilla-test-ctr';
let fx: ContainerdFixture;
let rt: CtrRuntime;
let seq = 0;

function spec(argv: readonly string[], extra: Partial<ContainerSpec> = {}): ContainerSpec {
  return { id: `ctr-test-${process.pid}-${++seq}`, image: BUSYBOX_IMAGE_NAME, argv, env: [], labels: {}, ...extra };
}

async function readOutput(id: string): Promise<string> {
  let s = '';
  for await (const chunk of rt.logs(id)) s += Buffer.from(chunk).toString('utf8');
  return s;
}

/** How long the shim may take to copy a dead container's last output into its log. */
const LOG_FLUSH_MS = 3_000;

/**
 * The output once it holds `expected` (or what there is after LOG_FLUSH_MS): the shim copies
 * stdout and stderr through separate pipes, so their last lines can land after the exit event.
 */
async function output(id: string, expected: readonly string[] = []): Promise<string> {
  const deadline = Date.now() + LOG_FLUSH_MS;
  for (;;) {
    const s = await readOutput(id);
    if (expected.every((e) => s.includes(e)) || Date.now() > deadline) return s;
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  fx = await containerdFixture();
  await fx.cleanNamespace(NS);
  rt = await fx.openRuntime(NS, { pollIntervalMs: 500 });
  await rt.ensureImage(BUSYBOX_IMAGE_NAME);
});

afterAll(async () => {
  if (rt !== undefined) for (const c of await rt.list()) await rt.remove(c.id);
  await fx?.close();
});

describe('CtrRuntime against a real containerd', () => {
  it('imports the image from the OCI archive, and reports a missing one as ImagePullError', async () => {
    expect(await rt.version()).toMatch(/^containerd /);
    await expect(rt.ensureImage('flotilla.local/nothing-here:1')).rejects.toBeInstanceOf(ImagePullError);
  });

  it('runs a command with env and labels, captures its output and exit code', async () => {
    // The pause before exiting: on a loaded machine containerd 1.6's shim can drop the last stderr
    // line of a process that exits at once (seen under CI load; 0 of 12 on a quiet machine).
    const s = spec(['sh', '-c', 'echo "hello $GREETING"; echo oops >&2; sleep 0.2; exit 3'], {
      env: [{ name: 'GREETING', value: 'world' }],
      labels: { [ContainerLabel.podUid]: 'uid-1' },
    });
    await rt.start(s);
    const exit = await rt.wait(s.id);
    expect(exit.exitCode).toBe(3);
    expect(exit.oomKilled).toBe(false);
    const out = await output(s.id, ['hello world', 'oops']);
    expect(out).toContain('hello world');
    expect(out).toContain('oops');
    const listed = (await rt.list()).find((c) => c.id === s.id);
    expect(listed?.labels[ContainerLabel.podUid]).toBe('uid-1');
    await rt.remove(s.id);
    expect((await rt.list()).some((c) => c.id === s.id)).toBe(false);
  });

  it('sets the cgroup memory and cpu limits', async () => {
    const s = spec(['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 0.1; done'], { memoryLimitBytes: 64 * 1024 * 1024, cpuLimitMillis: 250 });
    await rt.start(s);
    const mem = readFileSync(`/sys/fs/cgroup/memory/${NS}/${s.id}/memory.limit_in_bytes`, 'utf8').trim();
    const quota = readFileSync(`/sys/fs/cgroup/cpu/${NS}/${s.id}/cpu.cfs_quota_us`, 'utf8').trim();
    const period = readFileSync(`/sys/fs/cgroup/cpu/${NS}/${s.id}/cpu.cfs_period_us`, 'utf8').trim();
    expect(mem).toBe(String(64 * 1024 * 1024));
    expect([quota, period]).toEqual(['25000', '100000']);
    await rt.stop(s.id, 5_000);
    await rt.remove(s.id);
  });

  it('stops gracefully with SIGTERM when the process honours it', async () => {
    const s = spec(['sh', '-c', 'trap "echo bye; exit 0" TERM; echo up; while true; do sleep 0.1; done']);
    await rt.start(s);
    const t0 = Date.now();
    const exit = await rt.stop(s.id, 10_000);
    expect(Date.now() - t0).toBeLessThan(3_000);
    expect(exit?.exitCode).toBe(0);
    expect(await output(s.id, ['bye'])).toContain('bye');
    await rt.remove(s.id);
  });

  it('kills with SIGKILL after the grace period when SIGTERM is ignored (a shell as PID 1)', async () => {
    const s = spec(['sh', '-c', 'sleep 1000']);
    await rt.start(s);
    const t0 = Date.now();
    const exit = await rt.stop(s.id, 600);
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(550);
    expect(took).toBeLessThan(4_000);
    expect(exit?.exitCode).toBe(137);
    await rt.remove(s.id);
  });

  it('reports an OOM kill', async () => {
    const s = spec(['sh', '-c', 'dd if=/dev/zero of=/dev/null bs=64M count=1; exit 1'], { memoryLimitBytes: 16 * 1024 * 1024 });
    await rt.start(s);
    const exit = await rt.wait(s.id);
    expect(exit.exitCode).not.toBe(0);
    expect(exit.oomKilled).toBe(true);
    await rt.remove(s.id);
  });

  it('execs inside a running container and follows its log', async () => {
    const s = spec(['sh', '-c', 'trap "exit 0" TERM; i=0; while [ $i -lt 5 ]; do echo line$i; i=$((i+1)); sleep 0.1; done; exit 0']);
    await rt.start(s);
    const ok = await rt.exec(s.id, ['sh', '-c', 'echo probed; exit 0'], 5_000);
    expect(ok).toEqual({ exitCode: 0, output: expect.stringContaining('probed') as unknown as string });
    expect((await rt.exec(s.id, ['false'], 5_000)).exitCode).not.toBe(0);
    let followed = '';
    for await (const chunk of rt.logs(s.id, { follow: true })) followed += Buffer.from(chunk).toString('utf8');
    expect(followed).toContain('line4');
    expect((await rt.wait(s.id)).exitCode).toBe(0);
    await rt.remove(s.id);
  });

  it('finds the exit of a container that exited while nobody watched (a fresh runtime)', async () => {
    const s = spec(['sh', '-c', 'exit 7']);
    await rt.start(s);
    await rt.wait(s.id);
    const fresh = await fx.openRuntime(NS);
    expect((await fresh.wait(s.id)).exitCode).toBe(7);
    // Reading it back deleted the task; the exit code is kept in a label for the next one.
    const third = await fx.openRuntime(NS);
    expect((await third.wait(s.id)).exitCode).toBe(7);
    await third.remove(s.id);
  });
});
