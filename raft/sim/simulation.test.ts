import { describe, expect, it } from 'vitest';
import { formatSummary, parseSeedRange, runSeeds } from './run.js';
import { runSeed } from './simulation.js';

/** Seeds CI runs on every change; `npx flotilla sim --seeds 1..2000` runs more. */
const CI_SEEDS = { first: 1, last: 300 };

describe('deterministic simulator', () => {
  it(`finds no violation in seeds ${CI_SEEDS.first}..${CI_SEEDS.last}`, () => {
    const summary = runSeeds(CI_SEEDS);
    const detail = summary.violations.map((v) => `seed ${v.seed}: ${v.violation!.message}`).join('\n');
    expect(detail).toBe('');
    // The runs exercised what they claim to.
    expect(summary.writesAcked).toBeGreaterThan(10_000);
    expect(summary.readsServed).toBeGreaterThan(5_000);
    expect(summary.crashes).toBeGreaterThan(1_000);
    expect(summary.confChanges).toBeGreaterThan(100);
    expect(summary.snapshotsSent).toBeGreaterThan(100);
    expect(summary.peerDownHintsTaken).toBeGreaterThan(1_000);
    expect(formatSummary(summary)).toMatch(/^sim: 300 seeds, \d+ ticks, 0 violations/);
  }, 120_000);

  it('replays a seed exactly: the same seed gives the same trace', () => {
    const a: string[] = [];
    const b: string[] = [];
    runSeed({ seed: 17, trace: (l) => a.push(l) });
    runSeed({ seed: 17, trace: (l) => b.push(l) });
    expect(a.length).toBeGreaterThan(1000);
    expect(b).toEqual(a);
  });

  it('parses seed ranges and rejects bad ones', () => {
    expect(parseSeedRange('1..500')).toEqual({ first: 1, last: 500 });
    expect(parseSeedRange('17')).toEqual({ first: 17, last: 17 });
    expect(() => parseSeedRange('5..1')).toThrow(/ascending/);
    expect(() => parseSeedRange('x')).toThrow(/not a seed/);
  });
});

// The checks can fail: each deliberate bug is caught. Seed numbers depend on the simulator's
// sequence of random draws; if a change to the simulator moves them, find new ones with
// runSeeds({first: 1, last: 1000}, {bugs: ...}) and update the ranges.
describe('the simulator catches injected bugs', () => {
  it('counting a duplicated vote twice: two leaders in one term', () => {
    const summary = runSeeds({ first: 281, last: 291 }, { bugs: { countDuplicateVotes: true } });
    const kinds = summary.violations.map((v) => v.violation!.kind);
    expect(kinds).toContain('election-safety');
  });

  it('committing an entry of an older term by counting replicas (Figure 8)', () => {
    const summary = runSeeds({ first: 805, last: 815 }, { bugs: { commitOlderTermsByCounting: true } });
    const kinds = summary.violations.map((v) => v.violation!.kind);
    expect(kinds.some((k) => k === 'leader-completeness' || k === 'state-machine-safety')).toBe(true);
  });

  it('a driver that sends votes and acknowledgements before persisting them', () => {
    const summary = runSeeds({ first: 525, last: 535 }, { sendBeforePersist: true });
    expect(summary.violations.length).toBeGreaterThan(0);
  });
});
