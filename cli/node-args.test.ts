import { describe, expect, test } from 'vitest';
import { colocatedPoolSize, masterNodeArgs, schedulerNodeArgs, SCHEDULER_SEMI_SPACE_MB } from './node-args.js';

describe("masters' node flags", () => {
  test('share the cores between colocated masters, one V8 worker at least', () => {
    expect(colocatedPoolSize(3, 2)).toBe(1);
    expect(colocatedPoolSize(3, 16)).toBe(5);
    expect(colocatedPoolSize(1, 2)).toBe(2);
    expect(colocatedPoolSize(0, 1)).toBe(1);
  });

  test('are node flags that node accepts', () => {
    const args = masterNodeArgs(3);
    expect(args).toEqual([expect.stringMatching(/^--max-semi-space-size=\d+$/), expect.stringMatching(/^--v8-pool-size=[1-9]\d*$/)]);
    expect(process.allowedNodeEnvironmentFlags.has('--max-semi-space-size')).toBe(true);
    expect(process.allowedNodeEnvironmentFlags.has('--v8-pool-size')).toBe(true);
  });

  test("a scheduler process takes its master's worker pool, and its own young generation", () => {
    expect(schedulerNodeArgs(['--max-semi-space-size=64', '--v8-pool-size=3'])).toEqual([`--max-semi-space-size=${SCHEDULER_SEMI_SPACE_MB}`, '--v8-pool-size=3']);
    expect(schedulerNodeArgs(['--v8-pool-size=3', '--v8-pool-size=1'])).toEqual([`--max-semi-space-size=${SCHEDULER_SEMI_SPACE_MB}`, '--v8-pool-size=1']);
    expect(schedulerNodeArgs([])).toEqual([`--max-semi-space-size=${SCHEDULER_SEMI_SPACE_MB}`]);
  });
});
