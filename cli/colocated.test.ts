import { describe, expect, test } from 'vitest';
import { colocatedNodeArgs, colocatedPoolSize } from './colocated.js';

describe('colocated processes', () => {
  test('share the cores between them, one V8 worker at least', () => {
    expect(colocatedPoolSize(3, 2)).toBe(1);
    expect(colocatedPoolSize(3, 16)).toBe(5);
    expect(colocatedPoolSize(1, 2)).toBe(2);
    expect(colocatedPoolSize(0, 1)).toBe(1);
  });

  test('become a node flag', () => {
    expect(colocatedNodeArgs(1)).toEqual([expect.stringMatching(/^--v8-pool-size=[1-9]\d*$/)]);
  });
});
