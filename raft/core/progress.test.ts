import { describe, expect, it } from 'vitest';
import { Inflights, Progress } from './progress.js';

describe('Inflights', () => {
  it('fills, frees up to an index, and wraps around', () => {
    const w = new Inflights(3);
    w.add(1); w.add(2); w.add(3);
    expect(w.full()).toBe(true);
    expect(() => w.add(4)).toThrow();
    w.freeLE(2);
    expect(w.count).toBe(1);
    w.add(4); w.add(5);
    expect(w.full()).toBe(true);
    w.freeFirstOne();
    expect(w.count).toBe(2);
    w.freeLE(10);
    expect(w.count).toBe(0);
  });
});

describe('Progress', () => {
  it('probe: one append at a time until answered', () => {
    const p = new Progress(5, 4, false);
    expect(p.isPaused()).toBe(false);
    p.probeSent = true;
    expect(p.isPaused()).toBe(true);
    expect(p.maybeUpdate(4)).toBe(true);
    expect(p.isPaused()).toBe(false);
    expect(p.match).toBe(4);
  });

  it('replicate: pauses when the window is full', () => {
    const p = new Progress(1, 2, false);
    p.becomeReplicate();
    p.inflights.add(3); p.inflights.add(6);
    expect(p.isPaused()).toBe(true);
  });

  it('a stale rejection is ignored; a fresh one moves next back using the hint', () => {
    const p = new Progress(11, 4, false);
    // Probe state: only a rejection of next-1 counts.
    expect(p.maybeDecrTo(5, 3)).toBe(false);
    expect(p.maybeDecrTo(10, 3)).toBe(true);
    expect(p.next).toBe(4);
    const r = new Progress(1, 4, false);
    r.match = 7;
    r.becomeReplicate();
    r.optimisticUpdate(20);
    expect(r.maybeDecrTo(6, 0)).toBe(false); // below match: stale
    expect(r.maybeDecrTo(15, 0)).toBe(true);
    expect(r.next).toBe(8);
  });

  it('snapshot: paused until the follower reports; probing resumes after the snapshot', () => {
    const p = new Progress(1, 4, false);
    p.becomeSnapshot(100);
    expect(p.isPaused()).toBe(true);
    p.becomeProbe();
    expect(p.next).toBe(101);
  });
});
