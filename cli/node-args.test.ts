import { spawnSync } from 'node:child_process';
import { describe, expect, test } from 'vitest';
import { colocatedPoolSize, INITIAL_OLD_SPACE_MB, masterNodeArgs, schedulerNodeArgs, SCHEDULER_SEMI_SPACE_MB } from './node-args.js';

describe("masters' node flags", () => {
  test('share the cores between colocated masters, one V8 worker at least', () => {
    expect(colocatedPoolSize(3, 2)).toBe(1);
    expect(colocatedPoolSize(3, 16)).toBe(5);
    expect(colocatedPoolSize(1, 2)).toBe(2);
    expect(colocatedPoolSize(0, 1)).toBe(1);
  });

  test('are node flags that node accepts', () => {
    const args = masterNodeArgs(3);
    expect(args).toEqual([expect.stringMatching(/^--max-semi-space-size=\d+$/), expect.stringMatching(/^--initial-old-space-size=\d+$/), expect.stringMatching(/^--v8-pool-size=[1-9]\d*$/)]);
    // node refuses a flag it does not know ("bad option"), so starting it with them is the proof.
    for (const flags of [args, schedulerNodeArgs(args)]) {
      const run = spawnSync(process.execPath, [...flags, '-e', 'process.exit(0)'], { encoding: 'utf8' });
      expect(run.status, run.stderr).toBe(0);
    }
  });

  test("a scheduler process takes its master's worker pool, and its own young generation", () => {
    expect(schedulerNodeArgs(['--max-semi-space-size=64', '--v8-pool-size=3'])).toEqual([`--max-semi-space-size=${SCHEDULER_SEMI_SPACE_MB}`, `--initial-old-space-size=${INITIAL_OLD_SPACE_MB}`, '--v8-pool-size=3']);
    expect(schedulerNodeArgs(['--v8-pool-size=3', '--v8-pool-size=1'])).toEqual([`--max-semi-space-size=${SCHEDULER_SEMI_SPACE_MB}`, `--initial-old-space-size=${INITIAL_OLD_SPACE_MB}`, '--v8-pool-size=1']);
    expect(schedulerNodeArgs([])).toEqual([`--max-semi-space-size=${SCHEDULER_SEMI_SPACE_MB}`, `--initial-old-space-size=${INITIAL_OLD_SPACE_MB}`]);
  });
});
