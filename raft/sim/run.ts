// Runs ranges of seeds and summarizes them; the engine behind `flotilla sim`.

import type { TestingBugs } from '../core/raft.js';
import { runSeed, type SimResult } from './simulation.js';

export interface SeedRange {
  readonly first: number;
  readonly last: number;
}

/** Parses "1..500" or "17". */
export function parseSeedRange(text: string): SeedRange {
  const m = /^(\d+)(?:\.\.(\d+))?$/.exec(text.trim());
  if (m === null) throw new Error(`--seeds '${text}' is not a seed or a range like 1..500`);
  const first = Number(m[1]);
  const last = m[2] === undefined ? first : Number(m[2]);
  if (!Number.isSafeInteger(first) || !Number.isSafeInteger(last) || last < first) {
    throw new Error(`--seeds '${text}': the range must be ascending whole numbers`);
  }
  return { first, last };
}

export interface SimSummary {
  readonly seeds: number;
  readonly ticks: number;
  readonly violations: readonly SimResult[];
  readonly writesAcked: number;
  readonly readsServed: number;
  readonly elections: number;
  readonly crashes: number;
  readonly confChanges: number;
  readonly snapshotsSent: number;
  readonly peerDownHints: number;
  readonly peerDownHintsTaken: number;
  readonly resumes: number;
  readonly leadersLostOnResume: number;
  readonly messages: number;
  readonly seconds: number;
}

export interface RunOptions {
  readonly bugs?: TestingBugs;
  readonly sendBeforePersist?: boolean;
  /** Stop at the first violation. */
  readonly stopOnViolation?: boolean;
  readonly onProgress?: (done: number, total: number) => void;
}

export function runSeeds(range: SeedRange, opts: RunOptions = {}): SimSummary {
  const started = Date.now();
  const violations: SimResult[] = [];
  let ticks = 0;
  let writesAcked = 0;
  let readsServed = 0;
  let elections = 0;
  let crashes = 0;
  let confChanges = 0;
  let snapshotsSent = 0;
  let peerDownHints = 0;
  let peerDownHintsTaken = 0;
  let resumes = 0;
  let leadersLostOnResume = 0;
  let messages = 0;
  let seeds = 0;
  const total = range.last - range.first + 1;
  for (let seed = range.first; seed <= range.last; seed++) {
    const r = runSeed({ seed, ...(opts.bugs ? { bugs: opts.bugs } : {}), ...(opts.sendBeforePersist ? { sendBeforePersist: true } : {}) });
    seeds++;
    ticks += r.ticks;
    writesAcked += r.stats.writesAcked;
    readsServed += r.stats.readsServed;
    elections += r.stats.elections;
    crashes += r.stats.crashes;
    confChanges += r.stats.confChanges;
    snapshotsSent += r.stats.snapshotsSent;
    peerDownHints += r.stats.peerDownHints;
    peerDownHintsTaken += r.stats.peerDownHintsTaken;
    resumes += r.stats.resumes;
    leadersLostOnResume += r.stats.leadersLostOnResume;
    messages += r.stats.messages;
    if (r.violation !== undefined) {
      violations.push(r);
      if (opts.stopOnViolation === true) break;
    }
    opts.onProgress?.(seeds, total);
  }
  return {
    seeds, ticks, violations, writesAcked, readsServed, elections, crashes, confChanges, snapshotsSent, peerDownHints, peerDownHintsTaken,
    resumes, leadersLostOnResume, messages, seconds: (Date.now() - started) / 1000,
  };
}

export function formatSummary(s: SimSummary): string {
  return (
    `sim: ${s.seeds} seeds, ${s.ticks} ticks, ${s.violations.length} violations; ` +
    `${s.writesAcked} writes acked, ${s.readsServed} reads checked, ${s.elections} elections, ${s.crashes} crashes, ` +
    `${s.confChanges} membership changes, ${s.snapshotsSent} snapshots sent, ` +
    `${s.peerDownHints} peer-down hints (${s.peerDownHintsTaken} taken), ` +
    `${s.resumes} paused nodes resumed (${s.leadersLostOnResume} leaders lost leadership catching up), ${s.messages} messages; ${s.seconds.toFixed(1)}s`
  );
}
