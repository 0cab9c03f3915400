import { describe, expect, it } from 'vitest';
import { LoopDelay } from './loop-delay.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('LoopDelay', () => {
  it('reads an idle loop as a few milliseconds late, not as its sampling interval', async () => {
    const d = new LoopDelay(20);
    await sleep(400);
    const idle = d.read();
    d.stop();
    // perf_hooks alone reports ~20 ms here; what is left after the interval is timer jitter.
    expect(idle.p50).toBeLessThan(15);
    expect(idle.p50).toBeGreaterThanOrEqual(0);
  });

  it('sees a loop blocked for 150 ms', async () => {
    const d = new LoopDelay(10);
    await sleep(50);
    const until = performance.now() + 150;
    while (performance.now() < until) {
      // blocks the event loop on purpose
    }
    await sleep(50);
    const blocked = d.read();
    d.stop();
    expect(blocked.max).toBeGreaterThan(100);
  });

  it('reads zero before its first sample', () => {
    const d = new LoopDelay(1000);
    expect(d.read()).toEqual({ p50: 0, p99: 0, max: 0 });
    d.stop();
  });
});
