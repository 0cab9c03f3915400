import { fork, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { parseParentMessage } from './scheduler.js';
import { FLOTILLA_BIN } from './node-args.js';

describe("the scheduler process's messages from its master", () => {
  test('a raft-role message is taken', () => {
    expect(parseParentMessage({ type: 'raft-role', leader: true })).toEqual({ type: 'raft-role', leader: true });
    expect(parseParentMessage({ type: 'raft-role', leader: false, extra: 1 })).toEqual({ type: 'raft-role', leader: false });
  });

  test('anything else is refused', () => {
    for (const m of [undefined, null, 'raft-role', 1, [], {}, { type: 'raft-role' }, { type: 'raft-role', leader: 'yes' }, { type: 'other', leader: true }]) {
      expect(parseParentMessage(m), JSON.stringify(m)).toBeUndefined();
    }
  });
});

describe('a bad scheduler profile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-profile-'));
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, 'plugins:\n  - name: NoSuchPlugin\n');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('stops a master before it starts, naming the file and the field', () => {
    const run = spawnSync(process.execPath, [FLOTILLA_BIN, 'master', '--name', 'm1', '--data', join(dir, 'm1'), '--listen', '127.0.0.1:1', '--peers', 'm1=127.0.0.1:1', '--scheduler-profile', bad], { encoding: 'utf8', timeout: 20_000 });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain(`--scheduler-profile: ${bad}: plugins[0].name: unknown plugin "NoSuchPlugin"`);
    expect(existsSync(join(dir, 'm1'))).toBe(false); // nothing was started or created
  });

  test('makes a scheduler process started with an IPC channel (as a master starts it) exit, not linger', async () => {
    const child = fork(FLOTILLA_BIN, ['scheduler', '--server', '127.0.0.1:1', '--profile', bad], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    const [code] = (await once(child, 'exit')) as [number | null];
    clearTimeout(timer);
    expect(code).toBe(2);
    expect(stderr).toContain('unknown plugin "NoSuchPlugin"');
  });
});
