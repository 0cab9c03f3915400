import { describe, expect, it } from 'vitest';
import { GcPauses } from './gc-pauses.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('GcPauses', () => {
  it('reads nothing before a collection', () => {
    const pauses = new GcPauses();
    const read = pauses.read();
    pauses.stop();
    expect(read.major).toEqual({ count: 0, totalMs: 0, p50: 0, p99: 0, max: 0 });
  });

  it('counts the scavenges that short-lived garbage causes, and their pauses', async () => {
    const pauses = new GcPauses();
    // About 200 MB of objects that die at once: the young generation fills many times over.
    // Each is stored where the optimizer cannot prove it dead, so it is really allocated.
    const last: unknown[] = [];
    for (let i = 0; i < 2_000_000; i++) last[i % 16] = [i, i + 1, { i }];
    expect(last).toHaveLength(16);
    await sleep(50); // entries reach the observer asynchronously
    const { minor } = pauses.read();
    pauses.stop();
    expect(minor.count).toBeGreaterThan(0);
    expect(minor.totalMs).toBeGreaterThan(0);
    expect(minor.max).toBeGreaterThan(0);
    expect(minor.p50).toBeLessThanOrEqual(minor.p99);
    expect(minor.p99).toBeLessThanOrEqual(minor.max);
    expect(minor.totalMs).toBeGreaterThanOrEqual(minor.max * 0.99);
  });
});
